// bench/run.mjs (`npm run bench`): how much StatsD traffic Hourglass takes, next to references.
//
// Three UDP receivers get the same load from a C sender (bench/loadgen.c) on loopback: a Node
// socket that only counts lines (the ceiling for any Node receiver), the original StatsD daemon
// (0.9.0, the usual baseline) and Hourglass. For each mix of lines per datagram and distinct
// keys it finds the highest loss-free rate, with the CPU time and peak memory it cost. Then it
// looks at loss around flushes with 10,000 keys (with a large socket buffer and with the kernel's
// default one), and at Hourglass's query latency on a key-hour holding a million samples. It
// prints figures and never asserts timing: results depend on the machine (and on whatever else
// runs on it). Results also go to bench/results/latest.json.
//
// Environment: BENCH_QUICK=1 (a shorter, coarser run), BENCH_RECEIVERS=null,statsd,hourglass,
// BENCH_STEP_SECONDS, BENCH_RECV_BUFFER_BYTES (asked by every receiver; default 32 MiB),
// BENCH_FLUSH_RATE (lines/s of the flush test), BENCH_QUERY_SAMPLES, BENCH_QUERY_REQUESTS.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren } from './lib/children.mjs';
import { buildLoadgen, sendLoad } from './lib/loadgen.mjs';
import { memoryBytes, readSysctl, requireUdpSocketStats, udpReceiveBufferBytes } from './lib/procfs.mjs';
import { RECEIVERS } from './lib/receivers.mjs';
import { caseName, flushTable, integer, mib, queryTable, throughputTable } from './lib/report.mjs';
import { findMaxLossFreeRate, runStep } from './lib/search.mjs';
import { delay, waitFor } from './lib/wait.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const RESULTS_FILE = path.join(BENCH_DIR, 'results', 'latest.json');
const HOUR_MS = 3_600_000;
const FLUSH_SAMPLE_MS = 50;
const FLUSH_LINES_PER_DATAGRAM = 1;
/** Share of the receivers' loss-free rate used in the flush test: headroom between flushes. */
const FLUSH_TEST_LOAD = 0.7;
/** Drops seen this close to the end of a StatsD flush are counted as lost to that flush. */
const NEAR_FLUSH_MS = 150;
const QUERY_KEY = 'bench.k00000';
const QUERY_STATS = ['average', 'median', 'p99'];

const SHAPES = [
  { linesPerDatagram: 1, keys: 10 },
  { linesPerDatagram: 1, keys: 10_000 },
  { linesPerDatagram: 20, keys: 10 },
  { linesPerDatagram: 20, keys: 10_000 },
];

const LABELS = Object.fromEntries(Object.entries(RECEIVERS).map(([name, r]) => [name, r.label]));

function readSettings(env) {
  const quick = env.BENCH_QUICK === '1';
  const number = (name, fallback) => (env[name] ? Number(env[name]) : fallback);
  return {
    quick,
    receivers: (env.BENCH_RECEIVERS ?? 'null,statsd,hourglass').split(',').filter((name) => RECEIVERS[name]),
    stepSeconds: number('BENCH_STEP_SECONDS', quick ? 1 : 3),
    resolution: quick ? 0.25 : 0.1,
    recvBufferBytes: number('BENCH_RECV_BUFFER_BYTES', 32 * 1024 * 1024),
    flushSeconds: quick ? 3 : 5,
    flushRate: number('BENCH_FLUSH_RATE', undefined),
    querySamples: number('BENCH_QUERY_SAMPLES', quick ? 200_000 : 1_000_000),
    queryRequests: number('BENCH_QUERY_REQUESTS', quick ? 300 : 2_000),
  };
}

const log = (message) => process.stderr.write(`${message}\n`);

function describeEnvironment() {
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    kernel: os.release(),
    rmemMaxBytes: readSysctl('net.core.rmem_max'),
    rmemDefaultBytes: readSysctl('net.core.rmem_default'),
  };
}

/** Receivers that failed to start once are not tried again in this run. */
const unavailable = new Map();

async function withReceiver(name, settings, use) {
  if (unavailable.has(name)) throw unavailable.get(name);
  let receiver;
  try {
    receiver = await RECEIVERS[name].start({ recvBufferBytes: settings.recvBufferBytes });
  } catch (error) {
    unavailable.set(name, error);
    throw error;
  }
  try {
    return await use(receiver);
  } finally {
    await receiver.stop();
  }
}

function describeStep(name, shape, step) {
  const outcome = step.lossFree
    ? 'loss-free'
    : `lost ${integer(step.lostLines)} (kernel drops ${integer(step.kernelDroppedDatagrams)} datagrams, rejected ${integer(step.rejectedLines)})`;
  const sender = step.senderShortfall ? ` [sender short of its ${integer(step.rate)} target]` : '';
  return `  ${LABELS[name]}, ${caseName(shape)}: ${integer(step.sentLinesPerSecond)} lines/s ${outcome}${sender} (${step.stepSeconds.toFixed(1)} s)`;
}

async function measureCase(name, shape, settings) {
  try {
    return await withReceiver(name, settings, async (receiver) => {
      const receiveBufferBytes = udpReceiveBufferBytes(receiver.udpPort);
      const onStep = (step) => log(describeStep(name, shape, step));
      const search = await findMaxLossFreeRate(receiver, shape, { ...settings, seconds: settings.stepSeconds, onStep });
      const { best } = search;
      return {
        receiver: name,
        best,
        lossFreeLinesPerSecond: best?.sentLinesPerSecond,
        limitedByGenerator: best?.generatorBound ?? false,
        firstLossyRate: search.firstLossyRate,
        cpuSecondsPerMillionLines: best ? (best.cpuSeconds / best.receivedLines) * 1e6 : undefined,
        peakRssBytes: memoryBytes(receiver.pid).peakRss,
        receiveBufferBytes,
        steps: search.steps,
      };
    });
  } catch (error) {
    log(`  ${LABELS[name]}, ${caseName(shape)}: ${error.message}`);
    return { receiver: name, error: error.message };
  }
}

async function measureThroughput(settings) {
  const cases = [];
  for (const shape of SHAPES) {
    log(`\n== ${caseName(shape)}`);
    const results = [];
    for (const name of settings.receivers) results.push(await measureCase(name, shape, settings));
    cases.push({ shape, results });
  }
  return cases;
}

/** Kernel drop counts of a socket every FLUSH_SAMPLE_MS, until stop() is called. */
function sampleDrops(port) {
  const startMs = Date.now();
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push({ atMs: Date.now() - startMs, drops: requireUdpSocketStats(port).drops });
      await delay(FLUSH_SAMPLE_MS);
    }
  })();
  loop.catch(() => {}); // a failure surfaces from stop()
  return {
    startMs,
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** When lines were lost: every sampling interval with kernel drops, as { atMs, lostLines }. */
function lossTimeline(samples) {
  return samples
    .slice(1)
    .map((s, i) => ({ atMs: s.atMs, lostLines: (s.drops - samples[i].drops) * FLUSH_LINES_PER_DATAGRAM }))
    .filter((s) => s.lostLines > 0);
}

/** Share of the lost lines that were dropped within NEAR_FLUSH_MS of the end of a flush. */
function shareLostNearFlushes(timeline, flushesAtMs) {
  const total = timeline.reduce((sum, s) => sum + s.lostLines, 0);
  if (total === 0) return undefined;
  const near = timeline.filter((s) => flushesAtMs.some((f) => Math.abs(s.atMs - f) <= NEAR_FLUSH_MS));
  return near.reduce((sum, s) => sum + s.lostLines, 0) / total;
}

/**
 * Lines lost to kernel drops in each 1 s window of the load and, for a receiver that reports
 * its flushes (StatsD), the work of each flush that ended in that window.
 */
function lossWindows(samples, seconds, startMs, flushes) {
  const dropsAt = (ms) => samples.findLast((s) => s.atMs <= ms)?.drops ?? samples[0].drops;
  const windows = [];
  for (let w = 0; w < seconds; w++) {
    const from = w * 1000;
    const to = from + 1000;
    const window = { lostLines: (dropsAt(to) - dropsAt(from)) * FLUSH_LINES_PER_DATAGRAM };
    if (flushes) {
      window.flushWorkMs = flushes.filter((f) => f.atMs - startMs >= from && f.atMs - startMs < to).map((f) => f.processingMs);
    }
    windows.push(window);
  }
  return windows;
}

/**
 * The rate for the flush test: BENCH_FLUSH_RATE, else 70 % of the lowest loss-free rate that
 * StatsD and Hourglass reached in the search for this shape, so that both keep up between
 * flushes and what they lose is lost while they flush; else a modest default.
 */
function flushTestRate(settings, cases, shape) {
  if (settings.flushRate) return { rate: settings.flushRate, rateSource: 'BENCH_FLUSH_RATE' };
  const shapeCase = cases.find((c) => c.shape.linesPerDatagram === shape.linesPerDatagram && c.shape.keys === shape.keys);
  const rates = (shapeCase?.results ?? []).filter((r) => r.receiver !== 'null' && r.best).map((r) => r.best.rate);
  if (rates.length === 0) return { rate: 50_000, rateSource: 'default' };
  return {
    rate: Math.round(FLUSH_TEST_LOAD * Math.min(...rates)),
    rateSource: `${FLUSH_TEST_LOAD * 100} % of the lower loss-free rate of StatsD and Hourglass`,
  };
}

async function flushLossOf(name, settings, shape, rate) {
  try {
    return await withReceiver(name, settings, async (receiver) => {
      const receiveBufferBytes = udpReceiveBufferBytes(receiver.udpPort);
      const sampler = sampleDrops(receiver.udpPort);
      const step = await runStep(receiver, shape, rate, settings.flushSeconds);
      const samples = await sampler.stop();
      log(describeStep(name, shape, step));
      const timeline = lossTimeline(samples);
      const flushesAtMs = receiver.flushes?.map((f) => f.atMs - sampler.startMs).filter((ms) => ms >= 0);
      return {
        receiver: name,
        receiveBufferBytes,
        sentLines: step.sentLines,
        lostLines: step.lostLines,
        windows: lossWindows(samples, settings.flushSeconds, sampler.startMs, receiver.flushes),
        lossTimeline: timeline,
        flushesAtMs,
        shareLostNearFlushes: flushesAtMs && shareLostNearFlushes(timeline, flushesAtMs),
      };
    });
  } catch (error) {
    log(`  ${LABELS[name]}: ${error.message}`);
    return { receiver: name, error: error.message };
  }
}

/**
 * Loss around flushes, once with the large buffer of the other tests and once with the buffer
 * a socket gets by default (net.core.rmem_default, what the stock StatsD server runs with):
 * a large buffer hides a receiver that stops reading its socket while it flushes, a small one
 * shows it.
 */
async function measureFlushLoss(settings, cases, environment) {
  const shape = { linesPerDatagram: FLUSH_LINES_PER_DATAGRAM, keys: 10_000 };
  const { rate, rateSource } = flushTestRate(settings, cases, shape);
  // Asking for half of rmem_default yields rmem_default: the kernel doubles what it is asked.
  const buffers = [settings.recvBufferBytes, environment.rmemDefaultBytes / 2];
  const runs = [];
  for (const recvBufferBytes of buffers) {
    log(`\n== loss around flushes: ${caseName(shape)}, ${integer(rate)} lines/s for ${settings.flushSeconds} s, buffer asked ${mib(recvBufferBytes)}`);
    const results = [];
    for (const name of settings.receivers.filter((n) => n !== 'null')) {
      results.push(await flushLossOf(name, { ...settings, recvBufferBytes }, shape, rate));
    }
    runs.push({ recvBufferBytes, results });
  }
  return { rate, rateSource, ...shape, seconds: settings.flushSeconds, runs };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function timeQueries(receiver, hourOf, stat, requests) {
  const latencies = [];
  let response;
  for (let i = 0; i < requests; i++) {
    const start = process.hrtime.bigint();
    response = await receiver.query(QUERY_KEY, stat, hourOf.date, hourOf.hour);
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (response.status !== 200) throw new Error(`GET ${stat} answered ${response.status}: ${response.body}`);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1), answer: JSON.parse(response.body) };
}

/** Polls the count of the key-hour until it reaches `samples` or stops moving. */
async function waitForCount(receiver, hourOf, samples) {
  let last = { count: -1, changedAt: Date.now() };
  return waitFor(
    async () => {
      const response = await receiver.query(QUERY_KEY, 'count', hourOf.date, hourOf.hour);
      const count = response.status === 200 ? JSON.parse(response.body).count : 0;
      if (count !== last.count) last = { count, changedAt: Date.now() };
      if (count >= samples || Date.now() - last.changedAt > 2 * receiver.quietMs) return { count };
      return undefined;
    },
    { what: `count ${samples} of ${QUERY_KEY}`, timeoutMs: 120_000, intervalMs: 100 },
  );
}

/** Query load rate: half what Hourglass took loss-free with 20 lines per datagram, at most 200k/s. */
function queryLoadRate(cases) {
  const measured = cases
    .filter((c) => c.shape.linesPerDatagram === 20)
    .map((c) => c.results.find((r) => r.receiver === 'hourglass')?.best?.rate)
    .filter(Boolean);
  return Math.round(Math.min(200_000, 0.5 * Math.min(...measured)));
}

/**
 * Sends `total` samples of QUERY_KEY into the hour, then sends again whatever the count shows
 * missing (lost load is the throughput tests' business; this test wants its million samples).
 */
async function loadQuerySamples(receiver, hourOf, total, rate) {
  const timestamp = Math.floor(hourOf.startMs / 1000) + 1800;
  const load = { sentLines: 0, resentLines: 0, sendSeconds: 0, count: 0 };
  for (let attempt = 0; attempt < 3 && load.count < total; attempt++) {
    const lines = total - load.count;
    const linesPerDatagram = lines % 20 === 0 ? 20 : 1;
    const sent = await sendLoad({ port: receiver.udpPort, rate, lines, linesPerDatagram, keys: 1, timestamp });
    const sentAtMs = Date.now();
    load.count = (await waitForCount(receiver, hourOf, total)).count;
    load.visibleAfterMs = Date.now() - sentAtMs;
    if (attempt > 0) load.resentLines += sent.lines;
    load.sentLines += sent.lines;
    load.sendSeconds += sent.seconds;
  }
  return load;
}

async function measureQueryLatency(settings, cases) {
  if (!settings.receivers.includes('hourglass')) return undefined;
  const startMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
  const hourOf = { startMs, date: new Date(startMs).toISOString().slice(0, 10), hour: new Date(startMs).getUTCHours() };
  const rate = queryLoadRate(cases);
  log(`\n== Hourglass query latency: ${integer(settings.querySamples)} samples of ${QUERY_KEY} in ${hourOf.date} hour ${hourOf.hour}`);
  try {
    return await withReceiver('hourglass', settings, async (receiver) => {
      const rssBeforeBytes = memoryBytes(receiver.pid).rss;
      const load = await loadQuerySamples(receiver, hourOf, settings.querySamples, rate);
      const rssAfterLoadBytes = memoryBytes(receiver.pid).rss;
      const latencyMs = {};
      for (const stat of QUERY_STATS) latencyMs[stat] = await timeQueries(receiver, hourOf, stat, settings.queryRequests);
      return {
        key: QUERY_KEY,
        date: hourOf.date,
        hour: hourOf.hour,
        loadRate: rate,
        ...load,
        requestsPerStat: settings.queryRequests,
        latencyMs,
        rssBeforeBytes,
        rssAfterLoadBytes,
        rssAfterQueriesBytes: memoryBytes(receiver.pid).rss,
        peakRssBytes: memoryBytes(receiver.pid).peakRss,
      };
    });
  } catch (error) {
    log(`  Hourglass: ${error.message}`);
    return { error: error.message };
  }
}

function printReport({ environment, settings, cases, flush, query }) {
  const out = [];
  out.push('', `Hourglass benchmark: Node ${environment.node}, ${environment.cpus} CPUs (${environment.cpuModel}), Linux ${environment.kernel}`);
  out.push(
    `receive buffer asked by every receiver: ${mib(settings.recvBufferBytes)}; net.core.rmem_max = ${mib(environment.rmemMaxBytes)} ` +
      `(the kernel caps the request there, then doubles it: see rcvbuf)`,
  );
  out.push(`steps of ${settings.stepSeconds} s; rates within ${settings.resolution * 100} %; ">=" means the sender, not the receiver, was the limit`);
  out.push('', 'Highest loss-free ingest rate', throughputTable(cases, LABELS));
  out.push('', `Loss around 1 s flushes: ${caseName(flush)}, ${integer(flush.rate)} lines/s (${flush.rateSource}) for ${flush.seconds} s`);
  out.push('lines lost to kernel drops per 1 s window; StatsD: its own processing_time of each flush ending in the window');
  for (const run of flush.runs) {
    const granted = run.results.map((r) => r.receiveBufferBytes).find(Boolean);
    out.push('', `receive buffer asked ${mib(run.recvBufferBytes)}, granted ${granted ? mib(granted) : '?'}`);
    out.push(flushTable(run.results, LABELS));
    for (const r of run.results.filter((result) => result.shareLostNearFlushes !== undefined)) {
      out.push(`${LABELS[r.receiver]}: ${Math.round(r.shareLostNearFlushes * 100)} % of its lost lines were dropped within ${NEAR_FLUSH_MS} ms of a flush's end`);
    }
  }
  if (query?.error) out.push('', `Hourglass query latency: ${query.error}`);
  else if (query) {
    out.push('', `Hourglass query latency: ${integer(query.count)} samples of ${query.key}, ${query.date} hour ${query.hour}, ${query.requestsPerStat} sequential GETs per stat`);
    out.push(queryTable(query));
    out.push(
      `loaded at ${integer(query.loadRate)} lines/s (${integer(query.resentLines)} lines resent after loss); count complete ` +
        `${integer(query.visibleAfterMs)} ms after the last datagram; RSS ${mib(query.rssBeforeBytes)} before the load, ` +
        `${mib(query.rssAfterLoadBytes)} after it, ${mib(query.rssAfterQueriesBytes)} after the queries`,
    );
  }
  out.push('', `results: ${path.relative(process.cwd(), RESULTS_FILE)}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function writeResults(results) {
  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
}

async function main() {
  const settings = readSettings(process.env);
  buildLoadgen();
  const startedAt = new Date().toISOString();
  const environment = describeEnvironment();
  const cases = await measureThroughput(settings);
  const flush = await measureFlushLoss(settings, cases, environment);
  const query = await measureQueryLatency(settings, cases);
  const results = { startedAt, finishedAt: new Date().toISOString(), environment, settings, cases, flush, query };
  writeResults(results);
  printReport(results);
}

main().catch((error) => {
  killAllChildren();
  log(error.stack);
  process.exitCode = 1;
});
