// bench/http-ingest.mjs (`npm run bench:http`): how many lines/s an embedded Hourglass takes by
// POST /ingest (StatsD text and JSON objects) and samples/s by Prometheus remote write (POST
// /api/v1/write), beside the StatsD lines/s it takes by UDP on the same machine, so the ingest
// paths can be compared. Prints figures, asserts nothing.
//
// /ingest: BENCH_INGEST_REQUESTS requests of BENCH_INGEST_LINES lines (1,000 keys, timers), posted
// by BENCH_RW_CONCURRENCY keep-alive connections; a 204 means the lines are written to the store
// (SPEC §3.1), so the rate is end to end.
//
// Remote write: request bodies built up front as Prometheus 2.x sends them (remote write 1.0,
// snappy, one sample per series, BENCH_RW_SAMPLES_PER_REQUEST series a request; its default
// max_samples_per_send is 500), posted by BENCH_RW_CONCURRENCY keep-alive connections: its
// shards, each with series of its own sent in timestamp order, as Prometheus shards by series
// (out of order, a sample would be a retry's duplicate and skipped). The rate counts a sample once Hourglass has answered 204 for it, and again once the
// rollup has applied it (hourglass_rollup_values_applied_total): the end-to-end figure.
// UDP: the highest loss-free rate of bench/lib/search.mjs, 20 lines a datagram, 1,000 keys.
//
// Environment: BENCH_RW_REQUESTS (default 400), BENCH_RW_SAMPLES_PER_REQUEST (500),
// BENCH_RW_CONCURRENCY (4), BENCH_STEP_SECONDS (UDP steps, 2), BENCH_SKIP_UDP=1.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import snappy from 'snappy';
import { killAllChildren } from './lib/children.mjs';
import { buildLoadgen } from './lib/loadgen.mjs';
import { httpGet } from './lib/net.mjs';
import { RECEIVERS } from './lib/receivers.mjs';
import { integer } from './lib/report.mjs';
import { findMaxLossFreeRate } from './lib/search.mjs';
import { waitFor } from './lib/wait.mjs';

const REPO_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// The compiled schema of the plugin itself (dist/, built by scripts/ensure-ready.mjs): the same
// protobuf field numbers the gateway decodes.
const { encodeWriteRequestV1 } = await import(path.join(REPO_DIR, 'dist/gateway/remote-write/schema.js'));

const number = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const REQUESTS = number('BENCH_RW_REQUESTS', 400);
const SAMPLES_PER_REQUEST = number('BENCH_RW_SAMPLES_PER_REQUEST', 500);
const CONCURRENCY = number('BENCH_RW_CONCURRENCY', 4);
const STEP_SECONDS = number('BENCH_STEP_SECONDS', 2);
const log = (message) => process.stderr.write(`${message}\n`);

/** Per shard, its request bodies: SAMPLES_PER_REQUEST gauge series of its own, one sample each, timestamps moving on. */
function buildBodies() {
  const startMs = Date.now();
  const shards = Array.from({ length: CONCURRENCY }, () => []);
  for (let r = 0; r < REQUESTS; r++) {
    const shard = r % CONCURRENCY;
    const timeseries = [];
    for (let s = 0; s < SAMPLES_PER_REQUEST; s++) {
      timeseries.push({
        labels: [
          { name: '__name__', value: `bench_rw_gauge_${s % 50}` },
          { name: 'instance', value: `host-${shard}-${Math.floor(s / 50)}:9100` },
          { name: 'job', value: 'node' },
        ],
        samples: [{ value: (r * 7919 + s) % 1000, timestamp: startMs + r }],
      });
    }
    shards[shard].push(snappy.compressSync(Buffer.from(encodeWriteRequestV1({ timeseries }))));
  }
  return shards;
}

const INGEST_REQUESTS = number('BENCH_INGEST_REQUESTS', 200);
const INGEST_LINES = number('BENCH_INGEST_LINES', 2000);

/** Per connection, its /ingest bodies: INGEST_LINES timer values over 1,000 keys, as text or JSON. */
function ingestBodies(json) {
  const shards = Array.from({ length: CONCURRENCY }, () => []);
  for (let r = 0; r < INGEST_REQUESTS; r++) {
    const items = Array.from({ length: INGEST_LINES }, (_, i) => ({ key: `bench.http.k${(r * INGEST_LINES + i) % 1000}`, value: (r * 7919 + i) % 1000 }));
    const body = json ? JSON.stringify(items) : items.map((it) => `${it.key}:${it.value}|ms`).join('\n');
    shards[r % CONCURRENCY].push(Buffer.from(body));
  }
  return shards;
}

async function ingest(hourglass, json) {
  const shards = ingestBodies(json);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses = new Map();
  const started = performance.now();
  await Promise.all(
    shards.map(async (bodies) => {
      for (const body of bodies) {
        const status = await post(agent, hourglass.httpPort, body, '/ingest', { 'content-type': json ? 'application/json' : 'text/plain' });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const lines = (statuses.get(204) ?? 0) * INGEST_LINES;
  return { statuses: Object.fromEntries(statuses), lines, linesPerSecond: lines / seconds };
}

function post(agent, port, body, urlPath = '/api/v1/write', headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' }) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: 'POST', agent, headers: { ...headers, 'content-length': body.length } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function metric(hourglass, name) {
  const { body } = await httpGet(hourglass.httpPort, '/metrics');
  let total = 0;
  for (const line of body.split('\n')) {
    const m = line.match(/^([a-z_]+)(?:\{[^}]*\})?\s+(\S+)$/);
    if (m && m[1] === name) total += Number(m[2]);
  }
  return total;
}

async function remoteWrite(hourglass) {
  const shards = buildBodies();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const appliedBefore = await metric(hourglass, 'hourglass_rollup_values_applied_total');
  const statuses = new Map();
  const started = performance.now();
  await Promise.all(
    shards.map(async (bodies) => {
      for (const body of bodies) {
        const status = await post(agent, hourglass.httpPort, body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const acceptedSeconds = (performance.now() - started) / 1000;
  const accepted = (statuses.get(204) ?? 0) * SAMPLES_PER_REQUEST;
  await waitFor(async () => (await metric(hourglass, 'hourglass_rollup_values_applied_total')) - appliedBefore >= accepted, { what: 'the rollup applying every remote-written sample', timeoutMs: 120_000, intervalMs: 20 });
  const appliedSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { statuses: Object.fromEntries(statuses), samples: accepted, acceptedPerSecond: accepted / acceptedSeconds, appliedPerSecond: accepted / appliedSeconds };
}

async function main() {
  buildLoadgen();
  const hourglass = await RECEIVERS.hourglass.start({ recvBufferBytes: 32 * 1024 * 1024 });
  try {
    log(`/ingest: ${INGEST_REQUESTS} requests of ${INGEST_LINES} lines, text then JSON, ${CONCURRENCY} connections`);
    const text = await ingest(hourglass, false);
    const json = await ingest(hourglass, true);
    log(`remote write: ${REQUESTS} requests of ${SAMPLES_PER_REQUEST} samples, ${CONCURRENCY} connections`);
    const rw = await remoteWrite(hourglass);
    let udp;
    if (process.env.BENCH_SKIP_UDP !== '1') {
      log('UDP: highest loss-free rate, 20 lines/datagram, 1,000 keys');
      const found = await findMaxLossFreeRate(hourglass, { linesPerDatagram: 20, keys: 1000 }, { seconds: STEP_SECONDS, resolution: 0.25, onStep: (s) => log(`  ${integer(s.rate)} lines/s: ${s.lossFree ? 'loss-free' : `lost ${integer(s.lostLines)}`}`) });
      udp = found.best && { linesPerSecond: found.best.sentLinesPerSecond, generatorBound: found.best.generatorBound };
    }
    console.log('ingest path                         rate');
    console.log('----------------------------------  ------------------');
    console.log(`POST /ingest text/plain, durable    ${integer(text.linesPerSecond).padStart(9)} lines/s`);
    console.log(`POST /ingest JSON, durable          ${integer(json.linesPerSecond).padStart(9)} lines/s`);
    console.log(`remote write, answered 204          ${integer(rw.acceptedPerSecond).padStart(9)} samples/s`);
    console.log(`remote write, applied by the rollup ${integer(rw.appliedPerSecond).padStart(9)} samples/s`);
    if (udp) console.log(`UDP StatsD, loss-free               ${udp.generatorBound ? '>=' : '  '}${integer(udp.linesPerSecond).padStart(7)} lines/s`);
    console.log(`(statuses: text ${JSON.stringify(text.statuses)}, JSON ${JSON.stringify(json.statuses)}, remote write ${JSON.stringify(rw.statuses)}; ${integer(rw.samples)} samples)`);
  } finally {
    await hourglass.stop();
  }
}

main().catch((error) => {
  killAllChildren();
  console.error(error);
  process.exit(1);
});
