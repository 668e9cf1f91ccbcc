// What one rollup flush costs against a real influxd (1.x API): a Rollup writing to an InfluxStore
// in this process, fed batches built here (no gateway, no bus), so the figures are the write path
// alone. For each shape (keys x values per key per flush) it runs a number of flushes into the
// open hour and reports, per flush: points written by measurement, bytes of line protocol, the
// rollup's CPU (applying, computing statistics, encoding and sending) and influxd's CPU.
//
// Environment: BENCH_WRITE_KEYS (comma-separated, default 10,10000,100000), BENCH_WRITE_VALUES
// (values per key per flush, default 3,30), BENCH_WRITE_FLUSHES (default 20: one flush a second,
// so the statistics, written at most every 10 s per series, are in two of them).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren, stopChild } from './lib/children.mjs';
import { startInfluxd } from './lib/distributed-stack.mjs';
import { cpuSeconds } from './lib/procfs.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.dirname(BENCH_DIR);
const list = (name, fallback) => (process.env[name] ?? fallback).split(',').map(Number);
const KEYS = list('BENCH_WRITE_KEYS', '10,10000,100000');
const VALUES = list('BENCH_WRITE_VALUES', '3,30');
const FLUSHES = Number(process.env.BENCH_WRITE_FLUSHES ?? 20);
const root = mkdtempSync(path.join(tmpdir(), 'hourglass-bench-write-'));
const load = (p) => import(path.join(REPO_DIR, 'dist', p));

/** Bytes and points POSTed to /write, by measurement, counted on the way out. */
const sent = { bytes: 0, points: {} };
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => {
  if (String(url).includes('/write') && typeof init?.body === 'string') {
    sent.bytes += Buffer.byteLength(init.body);
    if (process.env.BENCH_WRITE_SAMPLE && sent.bytes < 100_000) console.log(init.body.split('\n').slice(0, 40).filter((l) => !l.startsWith("rollup_raw")).slice(0, 3).join('\n'));
    for (const line of init.body.split('\n')) {
      const m = line.slice(0, line.indexOf(','));
      sent.points[m] = (sent.points[m] ?? 0) + 1;
    }
  }
  return realFetch(url, init);
};

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const round = (v) => Math.round(v * 10) / 10;

async function shape(influx, keys, valuesPerKey, run) {
  const { ManualClock } = await load('core/index.js');
  const { openStore } = await load('store/index.js');
  const { Rollup, SeriesBudget } = await load('rollup/index.js');
  const hourSec = Math.floor(Date.now() / 3_600_000) * 3600;
  const clock = new ManualClock(hourSec * 1000 + 60_000);
  const store = openStore({ dataDir: root, influx: { url: influx.url, api: 'v1', database: `w${run}`, token: undefined, org: undefined, bucket: undefined } }, clock);
  const rollup = new Rollup({ store, writer: 'p0', clock, budget: new SeriesBudget(1_000_000) });
  const names = Array.from({ length: keys }, (_, i) => `bench.write.k${String(i).padStart(6, '0')}`);
  let value = 0;
  const batch = () => ({
    createdMs: clock.nowMs(),
    series: names.map((name) => ({ type: 'ms', name, tags: '', hourSec, values: Float64Array.from({ length: valuesPerKey }, () => (value = (value * 7 + 13) % 1000)), weights: null, deltas: null, members: null })),
  });
  const totals = { applyMs: 0, flushCpuMs: 0, influxCpuMs: 0, wallMs: 0, bytes: 0, points: {} };
  for (let f = 0; f <= FLUSHES; f++) {
    const b = batch();
    let t = cpuMs();
    await rollup.apply(b, f + 1);
    const applyMs = cpuMs() - t;
    sent.bytes = 0;
    sent.points = {};
    const influxBefore = cpuSeconds(influx.child.pid);
    t = cpuMs();
    const wall = performance.now();
    // the first write of new series can outlast the store's request deadline: retry as the driver does
    for (let attempt = 1; ; attempt++) {
      try {
        await rollup.flush();
        break;
      } catch (err) {
        if (attempt === 5 || err?.code !== 'HG_ERR_STORE_UNAVAILABLE') throw err;
        console.log(`  flush ${f}: ${err.message}; retrying`);
      }
    }
    const flushCpuMs = cpuMs() - t;
    const wallMs = performance.now() - wall;
    // influxd finishes some work (WAL, cache) after answering: count what it does until it is idle
    await new Promise((r) => setTimeout(r, 200));
    const influxCpuMs = (cpuSeconds(influx.child.pid) - influxBefore) * 1000;
    clock.advance(1000);
    if (f === 0) continue; // the first flush creates the series: not the steady state
    totals.applyMs += applyMs;
    totals.flushCpuMs += flushCpuMs;
    totals.influxCpuMs += influxCpuMs;
    totals.wallMs += wallMs;
    totals.bytes += sent.bytes;
    for (const [m, n] of Object.entries(sent.points)) totals.points[m] = (totals.points[m] ?? 0) + n;
  }
  await store.close();
  const per = (v) => round(v / FLUSHES);
  return {
    keys,
    valuesPerKey,
    perFlush: {
      points: Object.fromEntries(Object.entries(totals.points).map(([m, n]) => [m, n / FLUSHES])),
      bytes: Math.round(totals.bytes / FLUSHES),
      rollupApplyCpuMs: per(totals.applyMs),
      rollupFlushCpuMs: per(totals.flushCpuMs),
      influxdCpuMs: per(totals.influxCpuMs),
      wallMs: per(totals.wallMs),
    },
    influxdCpuUsPerValue: round((totals.influxCpuMs * 1000) / (FLUSHES * keys * valuesPerKey)),
    rollupCpuUsPerValue: round(((totals.applyMs + totals.flushCpuMs) * 1000) / (FLUSHES * keys * valuesPerKey)),
  };
}

async function main() {
  const influx = await startInfluxd(root);
  const results = [];
  let run = 0;
  for (const keys of KEYS) {
    for (const values of VALUES) {
      const r = await shape(influx, keys, values, run++);
      results.push(r);
      console.log(`${keys} keys x ${values} values per flush: ${JSON.stringify(r.perFlush)}; per value: influxd ${r.influxdCpuUsPerValue} us, rollup ${r.rollupCpuUsPerValue} us`);
    }
  }
  mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(path.join(BENCH_DIR, 'results', 'write-path.json'), `${JSON.stringify({ startedAt: new Date().toISOString(), node: process.version, flushes: FLUSHES, results }, null, 2)}\n`);
  await stopChild(influx.child);
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
