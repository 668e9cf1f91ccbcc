// statsd-udp-server: StatsD 0.9.0's own servers/udp.js, plus a receive buffer size.
//
// The stock UDP server has no buffer setting, so it would get the kernel default
// (net.core.rmem_default, about 208 KiB) while the null receiver and Hourglass ask for 32 MiB.
// The benchmark plugs this module in through the daemon's `servers` setting so that the
// comparison is about the daemon's code, not about socket defaults. Everything else is stock.
'use strict';

const dgram = require('dgram');

exports.start = function start(config, callback) {
  const server = dgram.createSocket({ type: 'udp4', recvBufferSize: config.recvBufferSize }, callback);
  server.bind(config.port, config.address);
  return true;
};
