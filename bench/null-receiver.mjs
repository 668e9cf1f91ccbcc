// null-receiver: the ceiling for any Node StatsD receiver on this machine.
//
// A dgram socket with the same large receive buffer as the other receivers that does nothing but
// count datagrams and lines. Whatever rate it cannot take loss-free, no Node process parsing
// StatsD can. Counts are served as JSON at GET /counts on a tiny HTTP endpoint.
//
// usage: node bench/null-receiver.mjs <recvBufferBytes>
// prints one JSON line once ready: {"udpPort":..,"httpPort":..}
import dgram from 'node:dgram';
import http from 'node:http';
import { once } from 'node:events';

const NEWLINE = 0x0a;

/** Lines in a datagram: lines are separated by `\n`, a trailing `\n` ends the last one. */
function countLines(buffer) {
  if (buffer.length === 0) return 0;
  let lines = buffer[buffer.length - 1] === NEWLINE ? 0 : 1;
  for (let at = buffer.indexOf(NEWLINE); at !== -1; at = buffer.indexOf(NEWLINE, at + 1)) lines++;
  return lines;
}

async function main() {
  const recvBufferSize = Number(process.argv[2] ?? 32 * 1024 * 1024);
  const counts = { datagrams: 0, lines: 0 };

  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize });
  socket.on('message', (message) => {
    counts.datagrams++;
    counts.lines += countLines(message);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');

  const server = http.createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(counts));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  process.stdout.write(`${JSON.stringify({ udpPort: socket.address().port, httpPort: server.address().port })}\n`);
}

main();
