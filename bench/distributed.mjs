// The distributed path end to end on this machine: C load generator -> gateway -> nats-server
// (JetStream, file storage) -> rollup worker -> influxd (1.x API) -> query, every process on the
// same two cores. It finds the highest rate the pipeline sustains (every line received, nothing
// spooled or dropped, every published value in the store soon after the load stops), holds it
// for a minute, and reports: lines/s, where the CPU goes (per process, per 100,000 lines/s), how
// long a sample takes to become queryable under that load, and query latency from InfluxDB.
//
// Environment: BENCH_DISTRIBUTED_SECONDS (sustained run, default 60), BENCH_DISTRIBUTED_RATES
// (comma-separated lines/s to try, default 100000,200000,400000,800000,1200000,1600000,2000000),
// BENCH_DISTRIBUTED_KEYS (distinct keys, default 10).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstStdoutMatch, killAllChildren, startChild, stopChild } from './lib/children.mjs';
import { buildLoadgen, sendLoad } from './lib/loadgen.mjs';
import { freePort } from './lib/net.mjs';
import { cpuSeconds, memoryBytes } from './lib/procfs.mjs';
import { delay, waitFor } from './lib/wait.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.dirname(BENCH_DIR);
const SECONDS = Number(process.env.BENCH_DISTRIBUTED_SECONDS ?? 60);
const RATES = (process.env.BENCH_DISTRIBUTED_RATES ?? '100000,200000,400000,800000,1200000,1600000,2000000').split(',').map(Number);
const STEP_SECONDS = 10;
const KEYS = Number(process.env.BENCH_DISTRIBUTED_KEYS ?? 10);
const LINES_PER_DATAGRAM = 20;
/** Every bench line is stamped into this closed hour, so counts can be checked exactly. */
const HOUR_SEC = Math.floor(Date.now() / 3_600_000) * 3600 - 2 * 3600;
/** Markers sent so far: each has a key of its own. */
let markers = 0;
const root = mkdtempSync(path.join(tmpdir(), 'hourglass-bench-distributed-'));

async function startNats() {
  const port = await freePort();
  const child = startChild('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(root, 'nats')]);
  const accepts = () =>
    new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  await waitFor(accepts, { what: 'nats-server', abort: child.exited });
  return { child, url: `nats://127.0.0.1:${port}`, port };
}

async function startInfluxd() {
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const dir = path.join(root, 'influxd');
  mkdirSync(dir, { recursive: true });
  const config = `reporting-disabled = true\nbind-address = "127.0.0.1:${rpcPort}"\n[meta]\n  dir = "${dir}/meta"\n[data]\n  dir = "${dir}/data"\n  wal-dir = "${dir}/wal"\n  query-log-enabled = false\n  max-values-per-tag = 0\n[monitor]\n  store-enabled = false\n[http]\n  bind-address = "127.0.0.1:${httpPort}"\n  log-enabled = false\n[logging]\n  level = "warn"\n`;
  writeFileSync(path.join(dir, 'influxdb.conf'), config);
  const child = startChild('influxd', ['-config', path.join(dir, 'influxdb.conf')]);
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await fetch(`${url}/ping`).catch(() => undefined))?.status === 204, { what: 'influxd', abort: child.exited });
  return { child, url };
}

async function startRole(role, env) {
  const child = startChild(process.execPath, [path.join(REPO_DIR, 'bin/hourglass.js'), role], {
    cwd: REPO_DIR,
    env: { ...process.env, STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'warn', ...env },
  });
  // the listening line is logged at info: read it from a dedicated info-level start
  const listening = await firstStdoutMatch(
    child,
    (line) => {
      const entry = JSON.parse(line);
      return entry.msg === 'hourglass listening' ? entry : undefined;
    },
    `hourglass ${role}`,
  );
  const port = (hostPort) => Number(String(hostPort).split(':').pop());
  return { child, role, statsdPort: port(listening.statsd), httpPort: port(listening.http) };
}

async function metric(httpPort, name) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.split(' ').pop());
  return total;
}

/** Values of the bench keys in the store: one InfluxQL sum over the hour's rollup rows. */
async function storedCount(influx) {
  const q = `SELECT sum("count") FROM "rollup" WHERE "name" =~ /^bench\\.k/ AND time >= ${HOUR_SEC}s AND time < ${HOUR_SEC + 3600}s`;
  const res = await fetch(`${influx.url}/query?db=bench&q=${encodeURIComponent(q)}`);
  const body = await res.json();
  return body.results?.[0]?.series?.[0]?.values?.[0]?.[1] ?? 0;
}

/** Seconds from sending one marker line to seeing it through the query API. */
async function visibilityMs(gateway, query, marker) {
  const socket = dgram.createSocket('udp4');
  const now = Date.now();
  const hour = new Date(now).getUTCHours();
  const date = new Date(now).toISOString().slice(0, 10);
  await new Promise((resolve) => socket.send(`${marker}:1|ms`, gateway.statsdPort, '127.0.0.1', resolve));
  socket.close();
  await waitFor(async () => (await fetch(`http://127.0.0.1:${query.httpPort}/${marker}/count/${date}/${hour}`)).status === 200, { what: marker, timeoutMs: 30_000, intervalMs: 20 });
  return Date.now() - now;
}

/** Runs load at `rate` for `seconds`; says whether the pipeline kept up, with its costs. */
async function runAt(stack, rate, seconds) {
  const { gateway, rollup, query, nats, influx } = stack;
  const processes = { gateway: gateway.child, rollup: rollup.child, query: query.child, 'nats-server': nats.child, influxd: influx.child };
  const cpuBefore = Object.fromEntries(Object.entries(processes).map(([k, c]) => [k, cpuSeconds(c.pid)]));
  const receivedBefore = await metric(gateway.httpPort, 'hourglass_lines_received_total');
  const storedBefore = await storedCount(influx);
  const spooledBefore = await metric(gateway.httpPort, 'hourglass_batches_spooled_total');
  const dropsBefore = await metric(gateway.httpPort, 'hourglass_udp_receive_drops_total');
  const started = Date.now();
  const load = sendLoad({ port: gateway.statsdPort, rate, seconds, linesPerDatagram: LINES_PER_DATAGRAM, keys: KEYS, timestamp: HOUR_SEC + 1800 });
  // a marker every few seconds measures how long a sample takes to be queryable under load
  const visibility = [];
  while (Date.now() - started < seconds * 1000 - 3000) {
    const ms = await visibilityMs(gateway, query, `bench.marker.${markers++}`).catch(() => Infinity);
    visibility.push(ms);
    if (ms === Infinity) break; // not visible within 30 s: the pipeline is far behind
    await delay(2000);
  }
  const sent = await load;
  const loadSeconds = (Date.now() - started) / 1000;
  const cpu = Object.fromEntries(Object.entries(processes).map(([k, c]) => [k, cpuSeconds(c.pid) - cpuBefore[k]]));
  // the socket buffer may still hold datagrams: wait until the gateway's count stops moving
  const readReceived = async () => (await metric(gateway.httpPort, 'hourglass_lines_received_total')) - receivedBefore - visibility.length; // markers are lines too
  let received = await readReceived();
  for (let previous = -1; received !== previous; ) {
    previous = received;
    await delay(300);
    received = await readReceived();
  }
  const kernelDrops = (await metric(gateway.httpPort, 'hourglass_udp_receive_drops_total')) - dropsBefore;
  const spooled = (await metric(gateway.httpPort, 'hourglass_batches_spooled_total')) - spooledBefore;
  const dropped = await metric(gateway.httpPort, 'hourglass_batch_values_dropped_total');
  // every line the gateway received must reach the store: wait for it, up to 20 s after the load
  let stored = 0;
  const drained = await waitFor(
    async () => {
      stored = (await storedCount(influx)) - storedBefore;
      return stored >= received ? Date.now() : undefined;
    },
    { what: 'the store to catch up', timeoutMs: 20_000, intervalMs: 200 },
  ).catch(() => undefined);
  const kept = received === sent.lines && spooled === 0 && dropped === 0 && drained !== undefined && stored === received;
  return {
    rate,
    sentLines: sent.lines,
    sentLinesPerSecond: Math.round(sent.linesPerSecond),
    receivedLines: received,
    kernelDroppedDatagrams: kernelDrops,
    storedLines: stored,
    spooledBatches: spooled,
    catchUpMs: drained === undefined ? undefined : drained - (started + loadSeconds * 1000),
    keptUp: kept,
    visibilityMs: { p50: percentile(visibility, 0.5), max: Math.max(...visibility) },
    cpuSecondsPerSecond: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(v / loadSeconds)])),
    rssBytes: Object.fromEntries(Object.entries(processes).map(([k, c]) => [k, memoryBytes(c.pid).rss])),
  };
}

async function queryLatency(query) {
  const date = new Date(HOUR_SEC * 1000).toISOString().slice(0, 10);
  const hour = new Date(HOUR_SEC * 1000).getUTCHours();
  const out = {};
  for (const stat of ['average', 'median', 'p99']) {
    const times = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${query.httpPort}/bench.k00000/${stat}/${date}/${hour}`);
      await res.arrayBuffer();
      times.push(performance.now() - t0);
    }
    out[stat] = { p50: round(percentile(times, 0.5)), p99: round(percentile(times, 0.99)) };
  }
  return out;
}

const round = (v) => Math.round(v * 100) / 100;
function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main() {
  buildLoadgen();
  const [nats, influx] = await Promise.all([startNats(), startInfluxd()]);
  const common = { NATS_URL: nats.url, NATS_PARTITIONS: '4', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'bench', LOG_LEVEL: 'info' };
  const gateway = await startRole('gateway', { ...common, DATA_DIR: path.join(root, 'gateway') });
  const rollup = await startRole('rollup', { ...common, DATA_DIR: path.join(root, 'rollup') });
  const query = await startRole('query', { ...common, DATA_DIR: path.join(root, 'query') });
  const stack = { nats, influx, gateway, rollup, query };

  const steps = [];
  for (const rate of RATES) {
    const step = await runAt(stack, rate, STEP_SECONDS);
    steps.push(step);
    console.log(`step ${rate} lines/s: ${step.keptUp ? 'kept up' : 'fell behind'}; received ${step.receivedLines}/${step.sentLines} (kernel drops ${step.kernelDroppedDatagrams} datagrams), stored ${step.storedLines}, spooled ${step.spooledBatches}, caught up ${step.catchUpMs} ms after the load; cpu/s ${JSON.stringify(step.cpuSecondsPerSecond)}`);
    if (!step.keptUp) break;
  }
  const best = steps.filter((s) => s.keptUp).at(-1);
  const sustained = best ? await runAt(stack, best.rate, SECONDS) : undefined;
  if (sustained) console.log(`sustained ${sustained.rate} lines/s for ${SECONDS} s: ${sustained.keptUp ? 'kept up' : 'fell behind'}; received ${sustained.receivedLines}/${sustained.sentLines} (kernel drops ${sustained.kernelDroppedDatagrams}), stored ${sustained.storedLines}, spooled ${sustained.spooledBatches}; visible after p50 ${sustained.visibilityMs.p50} ms, max ${sustained.visibilityMs.max} ms; cpu/s ${JSON.stringify(sustained.cpuSecondsPerSecond)}`);
  const latency = await queryLatency(query);
  console.log(`query latency from InfluxDB (closed hour, ${sustained?.storedLines ?? 0}+ samples of 10 keys): ${JSON.stringify(latency)}`);

  const result = { startedAt: new Date().toISOString(), node: process.version, keys: KEYS, linesPerDatagram: LINES_PER_DATAGRAM, steps, sustained, queryLatencyMs: latency };
  mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(path.join(BENCH_DIR, 'results', 'distributed.json'), `${JSON.stringify(result, null, 2)}\n`);
  for (const p of [query, rollup, gateway]) await stopChild(p.child);
  await Promise.all([stopChild(nats.child), stopChild(influx.child)]);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    killAllChildren();
    rmSync(root, { recursive: true, force: true });
  });
