// The distributed path end to end on this machine: C load generator -> gateway(s) -> nats-server
// (JetStream, file storage) -> rollup workers (sharing the partitions through their NATS leases)
// -> influxd (1.x API) -> query, every process on the same two cores. It climbs a ladder of rates
// until the pipeline stops keeping up, holds the best rate, and reports per step: lines/s, CPU
// per process (per second, and per 100,000 lines/s), peak RSS per process, how long the store
// took to catch up after the load, and how long a sample takes to become queryable under load.
//
// A step "kept up" when nothing was lost (every line sent was received: no kernel drop; nothing
// spooled, dropped or refused) and the store holds every received line within 5 s of the load's
// end, with exact counts, through the query API, for a random sample of keys. The store is still
// watched for up to 30 s to report the catch-up time of a step that missed the 5 s.
//
// CPU is counted from the load's start until the store caught up (or the 30 s ran out) and
// divided by the load's seconds; the query role's share includes the benchmark's own polling
// (visibility markers every 20 ms, sampled keys). Peak RSS is the kernel's high-water mark of each
// process since the step began. The generator may send less than asked on a busy machine: the
// rate actually sent is reported beside the rate asked.
//
// Environment:
//   BENCH_DISTRIBUTED_KEYS      distinct keys (default 10; at most 100000)
//   BENCH_DISTRIBUTED_WORKERS   rollup worker processes, identical settings (default 2)
//   BENCH_DISTRIBUTED_GATEWAYS  gateway processes; the load is split evenly over them (default 1)
//   BENCH_DISTRIBUTED_HOUR      current: lines carry no timestamp (the hour they arrive in);
//                               closed: every line is stamped |T into an hour closed over an hour
//                               ago (late data: a backfill, a spool drained after an outage)
//                               (default current)
//   BENCH_DISTRIBUTED_RATES     lines/s to try in order (default doubling from 100000)
//   BENCH_DISTRIBUTED_BISECT    1: after the first failure, one step halfway between the last good
//                               and the first bad rate; 0: none (default 1)
//   BENCH_DISTRIBUTED_SECONDS   the sustained run at the best rate (default 60)
//   BENCH_DISTRIBUTED_SEED      seed of the sampled keys (default 1)
//   BENCH_DISTRIBUTED_WARMUP    1: every key written once (and stored) before the steps, so they
//                               measure the steady state, not InfluxDB creating series (default 1)
//   NATS_PARTITIONS             bus partitions (default 8)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren } from './lib/children.mjs';
import { partitionsOwned, readMetrics, stackProcesses, startDistributedStack, stopDistributedStack, sumMetric, waitForPartitionsShared } from './lib/distributed-stack.mjs';
import { buildLoadgen, linesOfKey, sendLoad } from './lib/loadgen.mjs';
import { udpSocketStats, usageSpan } from './lib/procfs.mjs';
import { climbRates } from './lib/rate-ladder.mjs';
import { hourOf, queriedCounts, sampleKeys, seededRandom, storedCount } from './lib/store-checks.mjs';
import { delay, waitFor } from './lib/wait.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const SECONDS = Number(env.BENCH_DISTRIBUTED_SECONDS ?? 60);
const RATES = (env.BENCH_DISTRIBUTED_RATES ?? '100000,200000,400000,800000,1200000,1600000,2000000').split(',').map(Number);
const BISECT = (env.BENCH_DISTRIBUTED_BISECT ?? '1') !== '0';
const KEYS = Number(env.BENCH_DISTRIBUTED_KEYS ?? 10);
const WORKERS = Number(env.BENCH_DISTRIBUTED_WORKERS ?? 2);
const GATEWAYS = Number(env.BENCH_DISTRIBUTED_GATEWAYS ?? 1);
const HOUR_MODE = env.BENCH_DISTRIBUTED_HOUR ?? 'current';
const PARTITIONS = Number(env.NATS_PARTITIONS ?? 8);
const SEED = Number(env.BENCH_DISTRIBUTED_SEED ?? 1);
const WARMUP = (env.BENCH_DISTRIBUTED_WARMUP ?? '1') !== '0';
const STEP_SECONDS = 10;
const LINES_PER_DATAGRAM = 20;
const SAMPLED_KEYS = 50;
/** The store must hold every received line this soon after the load for a step to keep up. */
const CATCH_UP_LIMIT_MS = 5_000;
/** How long the store is watched after the load, to report the catch-up time of a slow step. */
const CATCH_UP_WATCH_MS = 30_000;
const DATABASE = 'bench';
const PER_LINES_PER_SECOND = 100_000;

if (!['current', 'closed'].includes(HOUR_MODE)) throw new Error(`BENCH_DISTRIBUTED_HOUR must be current or closed, not ${HOUR_MODE}`);
for (const [name, value] of Object.entries({ KEYS, WORKERS, GATEWAYS, PARTITIONS, SECONDS })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1, not ${value}`);
}
if (KEYS > 100_000) throw new Error('the load generator names at most 100000 keys');

/** closed: the hour every line is stamped into, closed over an hour ago (the rollup no longer holds it). */
const CLOSED_HOUR_SEC = hourOf(Date.now()) - 2 * 3600;
const random = seededRandom(SEED);
const root = mkdtempSync(path.join(os.tmpdir(), 'hourglass-bench-distributed-'));
/** Markers sent so far: each has a key of its own, outside the bench.k* keys counted. */
let markers = 0;

/** The hours a step's lines may land in: the closed hour, or those from the step's start to now. */
function hoursOfStep(startMs) {
  return HOUR_MODE === 'closed' ? [CLOSED_HOUR_SEC, CLOSED_HOUR_SEC] : [hourOf(startMs), hourOf(Date.now())];
}

/**
 * Sends one marker line over TCP: none is lost when the UDP socket overflows, so the gateways'
 * line count less the markers sent is exactly the load's lines they received.
 */
function sendMarker(gateway, marker) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(gateway.statsdPort, '127.0.0.1', () => socket.end(`${marker}:1|ms\n`));
    socket.on('close', resolve);
    socket.on('error', reject);
  });
}

/** Milliseconds from `sentMs` until the marker is seen through the query API. */
async function visibleAfter(query, marker, sentMs) {
  const iso = new Date(sentMs).toISOString();
  const url = `http://127.0.0.1:${query.httpPort}/${marker}/count/${iso.slice(0, 10)}/${iso.slice(11, 13)}`;
  await waitFor(async () => (await fetch(url)).status === 200, { what: marker, timeoutMs: 30_000, intervalMs: 20 });
  return Date.now() - sentMs;
}

/** What the verdict compares before and after a step, from every role's /metrics and /proc. */
const COUNTERS = {
  received: ['gateways', 'hourglass_lines_received_total'],
  rejected: ['gateways', 'hourglass_lines_rejected_total'],
  spooled: ['gateways', 'hourglass_batches_spooled_total'],
  dropped: ['gateways', 'hourglass_batch_values_dropped_total'],
  applyDropped: ['workers', 'hourglass_batch_values_dropped_total'],
  refused: ['workers', 'hourglass_rollup_values_refused_total'],
  deadLettered: ['workers', 'hourglass_batches_dead_lettered_total'],
  handovers: ['workers', 'hourglass_rollup_handovers_total'],
};

/** Each role's metrics (undefined: it did not answer) and the gateways' kernel drops. */
async function snapshot(stack) {
  const roles = [...stack.gateways, ...stack.workers];
  const metrics = await Promise.all(roles.map(readMetrics));
  return {
    byRole: new Map(roles.map((role, i) => [role.name, metrics[i]])),
    // from /proc, not the gateway's metric: exact at any moment
    kernelDrops: stack.gateways.reduce((total, g) => total + (udpSocketStats(g.statsdPort)?.drops ?? 0), 0),
  };
}

/**
 * Each counter's growth between two snapshots, summed over the roles that answered both times
 * (a role that died took its counters with it: it is named in `silent`, not subtracted).
 */
function growth(stack, before, after) {
  const out = { kernelDrops: after.kernelDrops - before.kernelDrops };
  for (const [name, [group, metric]] of Object.entries(COUNTERS)) {
    out[name] = 0;
    for (const role of stack[group]) {
      const [b, a] = [before.byRole.get(role.name), after.byRole.get(role.name)];
      if (a !== undefined && b !== undefined) out[name] += (a.get(metric) ?? 0) - (b.get(metric) ?? 0);
    }
  }
  out.silent = [...after.byRole].filter(([name, metrics]) => metrics === undefined || before.byRole.get(name) === undefined).map(([name]) => name);
  return out;
}

/**
 * Lines in the store: an InfluxQL sum over the rows of the bench keys, the store's own answer. With
 * more than 10,000 keys that query is itself a large part of influxd's work when polled (one
 * point read per series, every 200 ms): there, the workers' count of applied values once nothing is
 * pending (every batch acknowledged, and a batch is acknowledged only after its store write), and
 * the sampled keys checked through the query API stand for the store. NaN while batches are pending.
 */
async function storedTotal(stack, sinceMs) {
  if (KEYS <= 10_000) return storedCount(stack.influx, DATABASE, ...hoursOfStep(sinceMs));
  const pending = await sumMetric(stack.workers, 'hourglass_consumer_pending_messages');
  return pending === 0 ? sumMetric(stack.workers, 'hourglass_rollup_values_applied_total') : NaN;
}

/**
 * Before a step: the previous step's data has all been consumed and the store count stands
 * still, so that a step is never charged with the tail of the one before.
 */
async function waitUntilQuiet(stack, timeoutMs = 120_000) {
  const started = Date.now();
  let last = -1;
  await waitFor(
    async () => {
      const pending = await sumMetric(stack.workers, 'hourglass_consumer_pending_messages');
      const stored = await storedTotal(stack, started - 3_600_000);
      const quiet = pending === 0 && stored === last;
      last = stored;
      return quiet;
    },
    { what: 'the pipeline to be idle before the step', timeoutMs, intervalMs: 1000 },
  );
  return Date.now() - started;
}

/** Runs the load at `rate` for `seconds`, split over the gateways; says whether the pipeline kept up. */
async function runAt(stack, rate, seconds) {
  const { gateways, query, influx } = stack;
  const quietWaitMs = await waitUntilQuiet(stack);
  const started = Date.now();
  // markers are lines the workers apply too (they are not bench keys in the InfluxQL sum)
  const stored = async () => (await storedTotal(stack, started)) - (KEYS > 10_000 ? markers : 0);
  const sample = sampleKeys(random, KEYS, SAMPLED_KEYS);
  const { counts: sampleBefore, errors: errorsBefore } = await queriedCounts(query, sample, ...hoursOfStep(started));
  const before = await snapshot(stack);
  const storedBefore = await stored();
  const markersBefore = markers;
  const usage = usageSpan(Object.fromEntries(Object.entries(stackProcesses(stack)).map(([name, child]) => [name, child.pid])));

  const loadStarted = Date.now();
  const timestamp = HOUR_MODE === 'closed' ? CLOSED_HOUR_SEC + 1800 : undefined;
  let loadEnded;
  const loads = Promise.all(gateways.map((g) => sendLoad({ port: g.statsdPort, rate: rate / gateways.length, seconds, linesPerDatagram: LINES_PER_DATAGRAM, keys: KEYS, timestamp }))).then((sent) => {
    loadEnded = Date.now();
    return sent;
  });
  // meanwhile, a marker every few seconds measures how long a sample takes to be queryable under load
  const visibility = [];
  let markerInFlight = false; // sent but not yet counted in `markers`: the received count is off by one
  const measuringVisibility = (async () => {
    while (loadEnded === undefined && Date.now() - loadStarted < seconds * 1000 - 3000) {
      const marker = `bench.marker.${markers}`;
      const sentMs = Date.now();
      markerInFlight = true;
      await sendMarker(gateways[0], marker);
      markers++;
      markerInFlight = false;
      const ms = await visibleAfter(query, marker, sentMs).catch(() => Infinity);
      visibility.push(ms);
      if (ms === Infinity) break; // not visible within 30 s: the pipeline is far behind
      await delay(2000);
    }
  })();
  const sent = await loads;
  const loadSeconds = (loadEnded - loadStarted) / 1000;
  const sentLines = sent.reduce((total, s) => total + s.lines, 0);

  // caught up: the sockets are empty and the store holds every line the gateways received
  const receivedBefore = gateways.reduce((total, g) => total + (before.byRole.get(g.name)?.get('hourglass_lines_received_total') ?? 0), 0);
  const receivedSoFar = async () => (await sumMetric(gateways, 'hourglass_lines_received_total')) - receivedBefore - (markers - markersBefore);
  let received = 0;
  let storedLines = 0;
  const caughtUpAt = await waitFor(
    async () => {
      const queued = gateways.some((g) => (udpSocketStats(g.statsdPort)?.queuedBytes ?? 0) > 0);
      received = await receivedSoFar();
      storedLines = (await stored()) - storedBefore;
      return !queued && !markerInFlight && storedLines === received ? Date.now() : undefined;
    },
    { what: 'the store to catch up', timeoutMs: CATCH_UP_WATCH_MS, intervalMs: 200 },
  ).catch(() => undefined);
  const { cpuSeconds, peakRssBytes } = usage.end();
  await measuringVisibility;
  const catchUpMs = caughtUpAt === undefined ? undefined : caughtUpAt - loadEnded;

  const delta = growth(stack, before, await snapshot(stack));
  const { counts: sampleAfter, errors: errorsAfter } = await queriedCounts(query, sample, ...hoursOfStep(started));
  const queryErrors = [...errorsBefore, ...errorsAfter];
  const expected = sample.map((key, i) => (sampleBefore[i] ?? NaN) + sent.reduce((total, s) => total + linesOfKey(s.lines, KEYS, key), 0));
  const inexact = sample.map((key, i) => ({ key, expected: expected[i], queried: sampleAfter[i] })).filter((k) => k.queried !== k.expected);
  const sendErrors = sent.reduce((total, s) => total + s.sendErrors, 0);

  const failures = [];
  if (received !== sentLines) failures.push(`received ${received} of ${sentLines} lines`);
  if (delta.kernelDrops > 0) failures.push(`kernel dropped ${delta.kernelDrops} datagrams`);
  if (delta.rejected > 0) failures.push(`${delta.rejected} lines rejected`);
  if (delta.spooled > 0) failures.push(`${delta.spooled} batches spooled`);
  if (delta.dropped + delta.applyDropped > 0) failures.push(`${delta.dropped + delta.applyDropped} values dropped`);
  if (delta.silent.some((name) => name.startsWith('gateway'))) failures.push(`${delta.silent.join(', ')} stopped answering`);
  if (delta.refused > 0) failures.push(`${delta.refused} values refused`);
  if (delta.deadLettered > 0) failures.push(`${delta.deadLettered} batches dead-lettered`);
  if (sendErrors > 0) failures.push(`${sendErrors} send errors`);
  if (catchUpMs === undefined) failures.push(`store not caught up ${CATCH_UP_WATCH_MS / 1000} s after the load (${storedLines} of ${received} lines)`);
  else if (catchUpMs > CATCH_UP_LIMIT_MS) failures.push(`store caught up only ${(catchUpMs / 1000).toFixed(1)} s after the load`);
  if (inexact.length > 0) failures.push(`${inexact.length} of ${sample.length} sampled keys inexact`);
  if (queryErrors.length > 0) failures.push(`${queryErrors.length} sampled-key queries failed (${queryErrors[0]})`);

  const linesPerSecond = sentLines / loadSeconds;
  const perSecond = Object.fromEntries(Object.entries(cpuSeconds).map(([name, cpu]) => [name, cpu === null ? null : cpu / loadSeconds]));
  return {
    rate,
    seconds,
    keptUp: failures.length === 0,
    failures,
    sentLines,
    sentLinesPerSecond: Math.round(linesPerSecond),
    // more than 10 % short of the rate asked: the generator did not get the CPU it needed
    senderShortfall: linesPerSecond < rate * 0.9,
    receivedLines: received,
    storedLines,
    kernelDroppedDatagrams: delta.kernelDrops,
    spooledBatches: delta.spooled,
    droppedValues: delta.dropped + delta.applyDropped,
    refusedValues: delta.refused,
    handovers: delta.handovers,
    // processes that stopped answering /metrics during the step (a worker killed on purpose)
    silent: delta.silent,
    catchUpMs,
    sampledKeys: { count: sample.length, exact: sample.length - inexact.length, inexact: inexact.slice(0, 10), queryErrors: queryErrors.slice(0, 10) },
    visibilityMs: { p50: percentile(visibility, 0.5), max: Math.max(...visibility) },
    // CPU from the load's start until the store caught up (or gave up), per second of load
    cpuSecondsPerSecond: roundAll(perSecond),
    cpuSecondsPerSecondPer100kLinesPerSecond: roundAll(Object.fromEntries(Object.entries(perSecond).map(([name, v]) => [name, v === null ? null : v / (linesPerSecond / PER_LINES_PER_SECOND)]))),
    peakRssBytes,
    partitionsOwned: await partitionsOwned(stack.workers),
    quietWaitMs,
    // why the query API failed: its last error log lines (pino level 50)
    queryErrorLog: queryErrors.length ? query.child.outputTail.split('\n').filter((line) => line.includes('"level":50')).slice(-3) : undefined,
  };
}

async function queryLatency(query, hourSec) {
  const iso = new Date(hourSec * 1000).toISOString();
  const out = {};
  for (const stat of ['average', 'median', 'p99']) {
    const times = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${query.httpPort}/bench.k00000/${stat}/${iso.slice(0, 10)}/${iso.slice(11, 13)}`);
      await res.arrayBuffer();
      times.push(performance.now() - t0);
    }
    out[stat] = { p50: round(percentile(times, 0.5)), p99: round(percentile(times, 0.99)) };
  }
  return out;
}

const round = (v) => Math.round(v * 1000) / 1000;
const roundAll = (record) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, v === null ? null : round(v)]));
const mib = (bytes) => (bytes === null || bytes === undefined ? '-' : `${Math.round(bytes / 2 ** 20)}`);
function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const visible = (ms) => (ms === Infinity ? 'never (30 s)' : `${ms} ms`);

function describe(label, step) {
  const cpu = Object.entries(step.cpuSecondsPerSecond).map(([name, v]) => `${name} ${v ?? '-'}`).join(', ');
  const rss = Object.entries(step.peakRssBytes).map(([name, v]) => `${name} ${mib(v)}`).join(', ');
  return [
    `${label} ${step.rate} lines/s for ${step.seconds} s: ${step.keptUp ? 'kept up' : `fell behind (${step.failures.join('; ')})`}`,
    `  sent ${step.sentLines} (${step.sentLinesPerSecond}/s${step.senderShortfall ? ', short of the rate asked' : ''}), received ${step.receivedLines}, stored ${step.storedLines}; caught up ${step.catchUpMs === undefined ? 'never' : `${step.catchUpMs} ms`} after the load; sampled keys exact ${step.sampledKeys.exact}/${step.sampledKeys.count}; visible after p50 ${visible(step.visibilityMs.p50)}, max ${visible(step.visibilityMs.max)}; handovers ${step.handovers}; ${step.silent.length ? `not answering: ${step.silent.join(', ')}; ` : ''}partitions ${JSON.stringify(step.partitionsOwned)}`,
    `  CPU s/s: ${cpu}`,
    `  peak RSS MiB: ${rss}`,
    ...(step.queryErrorLog ?? []).map((line) => `  query log: ${line.slice(0, 600)}`),
  ].join('\n');
}

/** One line for the README table: keys | workers | gateways | hour | rate kept up | ... */
function summaryRow(result, best) {
  const run = result.sustained ?? best;
  if (!run) return `| ${KEYS} | ${WORKERS} | ${GATEWAYS} | ${HOUR_MODE} | none of ${RATES[0]} lines/s: ${result.steps[0]?.failures.join('; ')} | - | - | - | - |`;
  const per100k = run.cpuSecondsPerSecondPer100kLinesPerSecond;
  const group = (prefix) => Object.entries(per100k).filter(([name]) => name.startsWith(prefix)).reduce((total, [, v]) => total + (v ?? 0), 0);
  const cpu = ['gateway', 'worker', 'nats-server', 'influxd', 'query'].map((p) => group(p).toFixed(2)).join(' / ');
  const workerRss = Object.entries(run.peakRssBytes).filter(([name]) => name.startsWith('worker')).map(([, v]) => mib(v)).join(', ');
  const verdict = result.sustained ? `${result.sustained.keptUp ? 'kept up' : 'fell behind'} for ${result.sustained.seconds} s` : 'step only';
  return `| ${KEYS} | ${WORKERS} | ${GATEWAYS} | ${HOUR_MODE} | ${run.rate} (sent ${run.sentLinesPerSecond}/s; ${verdict}; first bad ${result.firstBad ?? '-'}) | ${run.catchUpMs === undefined ? 'never' : (run.catchUpMs / 1000).toFixed(1)} s | ${run.visibilityMs.p50} ms | ${cpu} | ${workerRss} |`;
}

async function main() {
  buildLoadgen();
  const stack = await startDistributedStack({ root, gateways: GATEWAYS, workers: WORKERS, partitions: PARTITIONS, database: DATABASE });
  const pids = Object.entries(stackProcesses(stack)).map(([name, child]) => `${name} ${child.pid}`).join(', ');
  console.log(`${KEYS} keys, ${GATEWAYS} gateway(s), ${WORKERS} worker(s), ${PARTITIONS} partitions, ${HOUR_MODE} hour; pids: ${pids}`);
  const shared = await waitForPartitionsShared(stack.workers, PARTITIONS);
  console.log(`partitions owned per worker: ${shared.join(', ')}`);

  if (WARMUP) {
    // Every key once, slowly, and stored before the ladder: InfluxDB creates a key's series (four
    // per key) at its first write, once per shard (7 days by default), which is not the steady
    // state the steps measure. The first step paid it before: 100,000 new keys took influxd
    // minutes.
    const t0 = Date.now();
    const timestamp = HOUR_MODE === 'closed' ? CLOSED_HOUR_SEC + 1800 : undefined;
    await sendLoad({ port: stack.gateways[0].statsdPort, rate: 5000, lines: KEYS, linesPerDatagram: LINES_PER_DATAGRAM, keys: KEYS, timestamp });
    await waitUntilQuiet(stack, 1_800_000);
    console.log(`warm-up: every key written once, in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  const ladder = await climbRates({
    rates: RATES,
    bisect: BISECT,
    tryRate: async (rate) => {
      const step = await runAt(stack, rate, STEP_SECONDS);
      console.log(describe('step', step));
      return step;
    },
  });
  const sustained = ladder.best ? await runAt(stack, ladder.best.rate, SECONDS) : undefined;
  if (sustained) console.log(describe('sustained', sustained));
  const latencyHour = HOUR_MODE === 'closed' ? CLOSED_HOUR_SEC : hourOf(Date.now());
  const latency = await queryLatency(stack.query, latencyHour);
  console.log(`query latency of bench.k00000 (${HOUR_MODE} hour): ${JSON.stringify(latency)}`);

  const result = {
    startedAt: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    keys: KEYS,
    workers: WORKERS,
    gateways: GATEWAYS,
    hour: HOUR_MODE,
    partitions: PARTITIONS,
    linesPerDatagram: LINES_PER_DATAGRAM,
    stepSeconds: STEP_SECONDS,
    seed: SEED,
    criterion: { catchUpLimitMs: CATCH_UP_LIMIT_MS, sampledKeys: SAMPLED_KEYS },
    steps: ladder.steps,
    best: ladder.best?.rate,
    firstBad: ladder.firstBad,
    sustained,
    queryLatencyMs: latency,
  };
  result.summary = summaryRow(result, ladder.best);
  mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
  const file = path.join(BENCH_DIR, 'results', `distributed-${KEYS}keys-${WORKERS}w-${GATEWAYS}g-${HOUR_MODE}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  console.log('| keys | workers | gateways | hour | lines/s kept up | catch-up | visible after (p50) | CPU cores per 100k lines/s (gateways / workers / nats-server / influxd / query) | peak RSS per worker MiB |');
  console.log(result.summary);
  await stopDistributedStack(stack);
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

