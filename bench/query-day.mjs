// bench/query-day.mjs (`npm run bench:query-day`): latency of the day form
// GET /<key>/<stat>/<date> and of GET /-/keys (SPEC §4.1) over a SQLite store holding a day of
// 10,000 keys, plus one heavy key with many samples per hour, to show that the answer time
// follows the rows read (hours, tag sets) and not the samples behind them. It prints figures
// and asserts nothing: results depend on the machine and what else runs on it.
//
// Environment: BENCH_KEYS (default 10000), BENCH_VALUES_PER_HOUR (per key-hour, default 10),
// BENCH_HEAVY_VALUES_PER_HOUR (default 50000), BENCH_REQUESTS (per case, default 200).
// Needs the compiled dist/ (the npm script builds it first).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (p) => import(path.join(root, 'dist', p));
const { Registry } = await import('prom-client');
const { decodeBatch, encodeBatch } = await load('bus/index.js');
const { BatchBuilder, LineParser } = await load('gateway/index.js');
const { Rollup } = await load('rollup/index.js');
const { SqliteReader, SqliteStore, openDatabase } = await load('store/index.js');
const { buildQueryApp, createQueryMetrics } = await load('query/index.js');

const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const VALUES_PER_HOUR = Number(process.env.BENCH_VALUES_PER_HOUR ?? 10);
const HEAVY_VALUES_PER_HOUR = Number(process.env.BENCH_HEAVY_VALUES_PER_HOUR ?? 50_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const DATE = '2026-11-22';
const DAY_SEC = Date.UTC(2026, 10, 22) / 1000;
const clock = { nowMs: () => (DAY_SEC + 2 * 86_400) * 1000 };
const keyName = (i) => `bench.k${String(i).padStart(5, '0')}`;

/** A small seeded generator (mulberry32), so every run stores the same values. */
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-bench-day-'));
try {
  const random = seeded(1);
  const store = new SqliteStore(openDatabase(dir));
  const rollup = new Rollup({ store, writer: 'embedded', clock });
  let started = performance.now();
  for (let h = 0; h < 24; h++) {
    const hourSec = DAY_SEC + h * 3600;
    // a batch per slice of keys keeps memory flat
    for (let first = 0; first < KEYS; first += 1000) {
      const batch = new BatchBuilder();
      const parser = new LineParser(batch, { reject: (reason, line) => { throw new Error(`${reason}: ${line}`); } }, 8192);
      const lines = [];
      for (let k = first; k < Math.min(KEYS, first + 1000); k++) {
        for (let v = 0; v < VALUES_PER_HOUR; v++) lines.push(`${keyName(k)}:${(50 + 100 * random()).toFixed(2)}|ms`);
      }
      parser.parseLines(lines.join('\n'), hourSec);
      await rollup.apply(decodeBatch(encodeBatch(batch.take(), 0)));
    }
    for (let done = 0; done < HEAVY_VALUES_PER_HOUR; done += 10_000) {
      const batch = new BatchBuilder();
      const parser = new LineParser(batch, { reject: () => undefined }, 8192);
      const n = Math.min(10_000, HEAVY_VALUES_PER_HOUR - done);
      parser.parseLines(Array.from({ length: n }, () => `bench.heavy:${(50 + 100 * random()).toFixed(2)}|ms`).join('\n'), hourSec);
      await rollup.apply(decodeBatch(encodeBatch(batch.take(), 0)));
    }
    await rollup.flush();
  }
  await store.close();
  const fillSec = (performance.now() - started) / 1000;
  const dbBytes = fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
  console.log(`filled ${KEYS} keys x 24 hours x ${VALUES_PER_HOUR} values, and bench.heavy with ${HEAVY_VALUES_PER_HOUR} values per hour, in ${fillSec.toFixed(1)} s; store ${(dbBytes / 1048576).toFixed(1)} MiB`);

  const reader = new SqliteReader(openDatabase(dir));
  const app = buildQueryApp({ reader, clock, metrics: createQueryMetrics(new Registry()), flushIntervalMs: 1000, maxKeyBytes: 8192 });
  await app.ready();

  const cases = [
    ['day form, average, random key', () => `/${keyName(Math.floor(random() * KEYS))}/average/${DATE}`],
    ['day form, median (exact, raw values), random key', () => `/${keyName(Math.floor(random() * KEYS))}/median/${DATE}`],
    ['day form, p99, bench.heavy (sketch)', () => `/bench.heavy/p99/${DATE}`],
    ['day form, average, bench.heavy', () => `/bench.heavy/average/${DATE}`],
    ['/-/keys (limit 1000)', () => '/-/keys'],
    ['/-/keys?limit=10000', () => '/-/keys?limit=10000'],
    ['/-/keys?prefix=<random 3 digits>&limit=100', () => `/-/keys?prefix=${keyName(Math.floor(random() * KEYS)).slice(0, 10)}&limit=100`],
  ];
  const rows = [];
  for (const [name, url] of cases) {
    const times = [];
    let status = 0;
    for (let i = 0; i < REQUESTS; i++) {
      started = performance.now();
      const res = await app.inject({ method: 'GET', url: url() });
      times.push(performance.now() - started);
      status = res.statusCode;
      if (status !== 200) throw new Error(`${name}: HTTP ${status} ${res.body.slice(0, 200)}`);
    }
    times.sort((a, b) => a - b);
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    rows.push({ case: name, 'p50 ms': at(0.5).toFixed(2), 'p99 ms': at(0.99).toFixed(2), 'max ms': times[times.length - 1].toFixed(2) });
  }
  console.table(rows);
  await app.close();
  await reader.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
