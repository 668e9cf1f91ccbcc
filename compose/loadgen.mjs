#!/usr/bin/env node
// Demo traffic for `docker compose up`: StatsD lines over UDP to every gateway, so the dashboards
// fill with no manual step. Plain node:dgram, because the image prunes dev dependencies
// (hot-shots). grafana/dashboards.test.ts runs this file against a real gateway and checks that
// no line is rejected.
//
//   STATSD_TARGETS         host:port[,host:port...]  (default 127.0.0.1:8125), round robin
//   LOADGEN_LINES_PER_SEC  default 200
//   LOADGEN_MAX_LINES      stop after this many lines (default 0: run until SIGTERM)
import dgram from 'node:dgram';

const MAX_DATAGRAM_BYTES = 1400; // stays under a 1500-byte Ethernet MTU
const TICK_MS = 100;

function parseTargets(text) {
  return text.split(',').map((entry) => {
    const m = /^(.+):(\d{1,5})$/.exec(entry.trim());
    if (!m) throw new Error(`STATSD_TARGETS: expected host:port, got ${JSON.stringify(entry)}`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
}

function wholeNumber(name, fallback) {
  const raw = process.env[name] ?? String(fallback);
  if (!/^\d+$/.test(raw)) throw new Error(`${name}: expected a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

const targets = parseTargets(process.env.STATSD_TARGETS ?? '127.0.0.1:8125');
const linesPerSec = wholeNumber('LOADGEN_LINES_PER_SEC', 200);
const maxLines = wholeNumber('LOADGEN_MAX_LINES', 0);

/** A standard normal sample (Box-Muller). */
const gaussian = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
/** Response times are roughly log-normal: a median and a long right tail. */
const latency = (medianMs, sigma) => Math.round(medianMs * Math.exp(sigma * gaussian()) * 100) / 100;

// One line per call; the mix covers every dashboard: timers with and without tags, a sampled
// timer, a histogram, a counter and a gauge.
const KINDS = [
  () => `demo.api.checkout.latency:${latency(120, 0.5)}|ms|#env:demo,route:checkout`,
  () => `demo.api.search.latency:${latency(45, 0.7)}|ms|#env:demo,route:search`,
  () => `demo.api.search.latency:${latency(60, 0.7)}|ms|@0.5|#env:demo,route:search-sampled`,
  () => `demo.db.query.duration:${latency(8, 1)}|h`,
  () => `demo.api.requests:1|c|#env:demo`,
  () => `demo.queue.depth:${Math.floor(Math.random() * 50)}|g`,
];

const socket = dgram.createSocket('udp4');
let sent = 0;
let errors = 0;
let next = 0;
let carry = 0;

function send(payload) {
  const target = targets[next++ % targets.length];
  socket.send(payload, target.port, target.host, (err) => {
    // A gateway not resolvable or not up yet: count it and go on (UDP is fire-and-forget).
    if (err) errors++;
  });
}

function tick() {
  carry += (linesPerSec * TICK_MS) / 1000;
  let due = Math.floor(carry);
  carry -= due;
  if (maxLines > 0) due = Math.min(due, maxLines - sent);
  let datagram = '';
  for (let i = 0; i < due; i++) {
    const line = KINDS[Math.floor(Math.random() * KINDS.length)]();
    if (datagram !== '' && datagram.length + 1 + line.length > MAX_DATAGRAM_BYTES) {
      send(datagram);
      datagram = '';
    }
    datagram = datagram === '' ? line : `${datagram}\n${line}`;
  }
  if (datagram !== '') send(datagram);
  sent += due;
  if (maxLines > 0 && sent >= maxLines) stop(0);
}

const timer = setInterval(tick, TICK_MS);
const report = setInterval(() => console.log(JSON.stringify({ msg: 'loadgen', sent, errors })), 10_000);

function stop(code) {
  clearInterval(timer);
  clearInterval(report);
  // close() waits for nothing: give queued sends one turn of the event loop first.
  setImmediate(() => socket.close(() => {
    console.log(JSON.stringify({ msg: 'loadgen stopped', sent, errors }));
    process.exit(code);
  }));
}

// PID 1 in a container: Node ignores SIGTERM unless told, and `docker stop` would wait 10 s.
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
console.log(JSON.stringify({ msg: 'loadgen started', targets, linesPerSec, maxLines }));
