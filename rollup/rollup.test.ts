import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISTINCT_RELATIVE_ERROR, ManualClock, RELATIVE_ACCURACY, bucketQuantile, exactQuantile, isBucketHistogram, type HistogramIncrements } from '../core/index.js';
import { decodeBatch, encodeBatch } from '../bus/index.js';
import { BatchBuilder } from '../gateway/index.js';
import { computeStatistic, rowsAreExact, type Stat } from '../query/index.js';
import { EXACT_SAMPLE_LIMIT, SqliteStore, StoreRejectedError, openDatabase, type RawChunk, type RollupRow } from '../store/index.js';
import { batchOf as linesToBatch } from '../test-support/batches.js';
import { Rollup } from './rollup.js';
import { SeriesBudget } from './series-budget.js';

const H21 = Date.UTC(2026, 10, 22, 21) / 1000;
let dir: string;
let store: SqliteStore;
let clock: ManualClock;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-rollup-'));
  store = new SqliteStore(openDatabase(dir));
  clock = new ManualClock(H21 * 1000 + 30 * 60_000);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** StatsD text through the real parser and the bus codec, as the gateway would send it. */
const batchOf = (text: string, receiveHourSec = H21) => linesToBatch(text, receiveHourSec);

async function stat(name: string, s: Stat, hourSec = H21, pick: (r: RollupRow) => boolean = () => true) {
  const rows = (await store.rows(name, hourSec)).filter(pick);
  if (rows.length === 0) return undefined;
  const chunks: RawChunk[] | null = rowsAreExact(rows) ? await store.chunks(rows) : null;
  return computeStatistic(s, rows, chunks);
}

const newRollup = (writer = 'embedded') => new Rollup({ store, writer, clock, budget: new SeriesBudget(100_000) });

describe('hourly windows', () => {
  it('a |T sample goes to the hour of its timestamp, others to the hour of receipt', async () => {
    const rollup = newRollup();
    const ts = H21 - 2 * 3600 + 59 * 60 + 59; // 19:59:59
    await rollup.apply(batchOf(`lat:5|ms\nlat:7|ms|T${ts}\nlat:9|ms|T${H21 + 3600}`));
    await rollup.flush();
    expect((await stat('lat', 'sum', H21))?.value).toBe(5);
    expect((await stat('lat', 'sum', H21 - 2 * 3600))?.value).toBe(7);
    expect((await stat('lat', 'sum', H21 - 3600))).toBeUndefined();
    expect((await stat('lat', 'sum', H21 + 3600))?.value).toBe(9);
  });

  it('a late batch for an hour already written and evicted adds to it', async () => {
    const rollup = newRollup();
    await rollup.apply(batchOf('lat:1|ms\nlat:2|ms'));
    await rollup.flush();
    clock.set((H21 + 3 * 3600) * 1000); // hours later: the 21:00 window leaves memory
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(0);
    await rollup.apply(batchOf(`lat:3|ms|T${H21 + 10}`, H21 + 3 * 3600));
    await rollup.flush();
    expect(await stat('lat', 'median', H21)).toEqual({ value: 2, count: 3, exact: true });
  });

  it('late data that keeps coming stays in memory: no store read per batch, until it has been idle a minute', async () => {
    const reads = { rows: 0, chunks: 0 };
    const counted = Object.assign(Object.create(store) as SqliteStore, {
      loadRows: (...args: Parameters<SqliteStore['loadRows']>) => (reads.rows++, store.loadRows(...args)),
      loadChunks: (...args: Parameters<SqliteStore['loadChunks']>) => (reads.chunks++, store.loadChunks(...args)),
    });
    const rollup = new Rollup({ store: counted, writer: 'embedded', clock, budget: new SeriesBudget(100_000) });
    await rollup.apply(batchOf('lat:1|ms\nlat:2|ms'));
    await rollup.flush();
    clock.set((H21 + 3 * 3600) * 1000); // the 21:00 hour closed long ago
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(0);
    await rollup.apply(batchOf(`lat:3|ms|T${H21 + 10}`, H21 + 3 * 3600));
    await rollup.flush();
    expect(reads.rows).toBe(2);
    for (let i = 4; i < 10; i++) {
      clock.advance(5_000);
      await rollup.apply(batchOf(`lat:${i}|ms|T${H21 + 10}`, H21 + 3 * 3600));
      const report = await rollup.flush();
      expect(report.statsStoreReads).toBe(0);
    }
    expect(reads).toEqual({ rows: 2, chunks: 1 });
    expect(rollup.seriesInMemory).toBe(1);
    expect(await stat('lat', 'median', H21)).toEqual({ value: 5, count: 9, exact: true });
    clock.advance(59_000);
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(1);
    clock.advance(1_000);
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(0);
  });

  it('closed series-hours held for late data are bounded by MAX_SERIES_PER_HOUR, least recently used out first', async () => {
    const rollup = new Rollup({ store, writer: 'embedded', clock, budget: new SeriesBudget(2) });
    clock.set((H21 + 5 * 3600) * 1000);
    for (const [name, hourSec] of [['a', H21], ['b', H21 + 3600], ['c', H21 - 3600]] as const) {
      await rollup.apply(batchOf(`${name}:1|ms|T${hourSec + 10}`, H21 + 5 * 3600));
      clock.advance(1_000);
    }
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(2);
    const loaded: string[] = [];
    const loadRows = store.loadRows.bind(store);
    store.loadRows = async (keys, writer) => (loaded.push(...keys.map((k) => k.name)), loadRows(keys, writer));
    await rollup.apply(batchOf(`b:2|ms|T${H21 + 3610}\nc:2|ms|T${H21 - 3590}\na:2|ms|T${H21 + 10}`, H21 + 5 * 3600));
    expect(loaded).toEqual(['a']);
    await rollup.flush();
    expect(await stat('a', 'sum', H21)).toMatchObject({ value: 3 });
  });

  it('counters scale by the sample rate; timers weigh by it', async () => {
    const rollup = newRollup();
    await rollup.apply(batchOf('hits:1|c|@0.1\nhits:2|c\nt:10|ms|@0.5\nt:20|ms'));
    await rollup.flush();
    expect((await stat('hits', 'sum'))?.value).toBe(12);
    expect((await stat('t', 'count'))?.value).toBe(3);
    expect((await stat('t', 'average'))?.value).toBe(40 / 3);
    expect((await stat('t', 'median'))?.value).toBe(10);
  });

  it('gauges apply deltas in order and carry their value into the next hour and across restarts', async () => {
    let rollup = newRollup();
    await rollup.apply(batchOf('g:10|g\ng:+5|g\ng:-3|g'));
    await rollup.flush();
    expect(await stat('g', 'max')).toMatchObject({ value: 15, count: 3 });
    expect((await stat('g', 'min'))?.value).toBe(10);
    await rollup.apply(batchOf('g:+1|g', H21 + 3600));
    await rollup.flush();
    expect((await stat('g', 'max', H21 + 3600))?.value).toBe(13);
    rollup = newRollup(); // a restart: the value comes back from the store
    await rollup.apply(batchOf('g:+1|g', H21 + 7200));
    await rollup.flush();
    expect((await stat('g', 'max', H21 + 7200))?.value).toBe(14);
  });

  it('a gauge delta with no earlier value starts from 0, as StatsD does', async () => {
    const rollup = newRollup();
    await rollup.apply(batchOf('fresh:-4|g'));
    await rollup.flush();
    expect((await stat('fresh', 'min'))?.value).toBe(-4);
  });

  it('sets count distinct members, also across restarts', async () => {
    const first = newRollup();
    await first.apply(batchOf('u:a|s\nu:b|s\nu:a|s'));
    await first.flush();
    const second = newRollup();
    await second.apply(batchOf('u:b|s\nu:c|s'));
    await second.flush();
    expect(await stat('u', 'count')).toEqual({ value: 3, count: 3, exact: true });
  });
});

describe('exactness and the sketch', () => {
  it('stays exact across restarts while under the limit', async () => {
    const values = Array.from({ length: 3000 }, (_, i) => (i * 7919) % 1000);
    const thirds = [values.slice(0, 1000), values.slice(1000, 2000), values.slice(2000)];
    for (const part of thirds) {
      const rollup = newRollup();
      await rollup.apply(batchOf(part.map((v) => `x:${v}|ms`).join('\n')));
      await rollup.flush();
    }
    for (const [s, q] of [['median', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
      expect(await stat('x', s)).toEqual({ value: exactQuantile(values, null, q), count: 3000, exact: true });
    }
  });

  it(`is exact at ${EXACT_SAMPLE_LIMIT} samples and within the relative error at one more`, async () => {
    const values = Array.from({ length: EXACT_SAMPLE_LIMIT + 1 }, (_, i) => 1 + ((i * 7919) % 5000) / 10);
    const rollup = newRollup();
    await rollup.apply(batchOf(values.slice(0, EXACT_SAMPLE_LIMIT).map((v) => `x:${v}|ms`).join('\n')));
    await rollup.flush();
    expect(await stat('x', 'median')).toMatchObject({ value: exactQuantile(values.slice(0, EXACT_SAMPLE_LIMIT), null, 0.5), exact: true });
    await rollup.apply(batchOf(`x:${values[EXACT_SAMPLE_LIMIT]}|ms`));
    await rollup.flush();
    for (const [s, q] of [['median', 0.5], ['p95', 0.95]] as const) {
      const answer = await stat('x', s);
      const exact = exactQuantile(values, null, q);
      expect(answer?.exact).toBe(false);
      expect(answer?.relativeError).toBe(RELATIVE_ACCURACY);
      expect(Math.abs((answer?.value as number) - exact) / exact).toBeLessThanOrEqual(RELATIVE_ACCURACY);
    }
    // count, sum, min, max, average stay exact
    expect(await stat('x', 'sum')).toMatchObject({ value: values.reduce((a, b) => a + b, 0), exact: true });
    expect((await stat('x', 'min'))?.value).toBe(Math.min(...values));
  });

  it('memory grows with series, not samples: 200,000 samples of one key keep one small row', async () => {
    const rollup = newRollup();
    for (let k = 0; k < 20; k++) {
      await rollup.apply(batchOf(Array.from({ length: 10_000 }, (_, i) => `big:${1 + ((i * 31 + k) % 997)}|ms`).join('\n')));
      await rollup.flush();
    }
    const rows = await store.rows('big', H21);
    expect(rows).toHaveLength(1);
    expect(rows[0].n).toBe(200_000);
    expect(rows[0].sketch.byteLength).toBeLessThan(8_000);
    expect(rollup.seriesInMemory).toBe(1);
    // raw values stop at the limit
    const chunks = await store.chunks(rows);
    expect(chunks.reduce((n, c) => n + c.values.length, 0)).toBe(EXACT_SAMPLE_LIMIT);
  });
});

describe('several writers (the distributed case)', () => {
  it('rows of different writers and tag sets merge into one answer', async () => {
    const a = newRollup('p0');
    const b = newRollup('p1');
    await a.apply(batchOf('m:1|ms|#k:a\nm:2|ms|#k:a'));
    await b.apply(batchOf('m:3|ms|#k:b\nm:4|ms'));
    await a.flush();
    await b.flush();
    expect(await stat('m', 'median')).toEqual({ value: 2.5, count: 4, exact: true });
    expect(await stat('m', 'sum', H21, (r) => r.writer === 'p1')).toMatchObject({ value: 7 });
  });

  it('past the limit, writers merge through their sketches', async () => {
    const values = Array.from({ length: 12_000 }, (_, i) => 10 + (i % 1000));
    const a = newRollup('p0');
    const b = newRollup('p1');
    await a.apply(batchOf(values.slice(0, 6000).map((v) => `m:${v}|ms`).join('\n')));
    await b.apply(batchOf(values.slice(6000).map((v) => `m:${v}|ms`).join('\n')));
    await a.flush();
    await b.flush();
    const answer = await stat('m', 'p99');
    const exact = exactQuantile(values, null, 0.99);
    expect(answer?.exact).toBe(false);
    expect(Math.abs((answer?.value as number) - exact) / exact).toBeLessThanOrEqual(RELATIVE_ACCURACY);
  });
});

describe('store failures', () => {
  it('a failed write loses nothing: the next flush writes it all', async () => {
    let failures = 1;
    const flaky = Object.create(store) as SqliteStore;
    flaky.write = async (rows, chunks) => {
      if (failures-- > 0) throw new Error('disk full');
      return store.write(rows, chunks);
    };
    const rollup = new Rollup({ store: flaky, writer: 'embedded', clock, budget: new SeriesBudget(100_000) });
    await rollup.apply(batchOf('w:1|ms\nw:2|ms'));
    await expect(rollup.flush()).rejects.toThrow('disk full');
    expect(await stat('w', 'count')).toBeUndefined();
    await rollup.apply(batchOf('w:3|ms'));
    await rollup.flush();
    expect(await stat('w', 'median')).toEqual({ value: 2, count: 3, exact: true });
  });
});

describe('large sets', () => {
  it('past the limit, a set is estimated, bounded in memory, and survives a restart', async () => {
    const n = EXACT_SAMPLE_LIMIT + 15_000;
    let rollup = newRollup();
    for (let start = 0; start < n - 5000; start += 5000) {
      await rollup.apply(batchOf(Array.from({ length: 5000 }, (_, i) => `big.set:m${start + i}|s`).join('\n')));
      await rollup.flush();
    }
    rollup = newRollup(); // restart: continues from the stored registers
    await rollup.apply(batchOf(Array.from({ length: 5000 }, (_, i) => `big.set:m${n - 5000 + i}|s\nbig.set:m${i}|s`).join('\n')));
    await rollup.flush();
    const answer = await stat('big.set', 'count');
    expect(answer?.exact).toBe(false);
    expect(answer?.relativeError).toBe(DISTINCT_RELATIVE_ERROR);
    expect(Math.abs((answer?.value as number) - n) / n).toBeLessThanOrEqual(DISTINCT_RELATIVE_ERROR);
    // raw members stop at the limit
    const chunks = await store.chunks(await store.rows('big.set', H21));
    expect(chunks.reduce((k, c) => k + (c.members?.length ?? 0), 0)).toBe(EXACT_SAMPLE_LIMIT);
  });
});

describe('points the store refuses for good', () => {
  it('only the refused rows are lost and reported; their neighbours and the watermark are written', async () => {
    const picky = Object.create(store) as SqliteStore;
    picky.write = async (rows, chunks, watermark) => {
      if (rows.some((r) => r.name === 'poison')) throw new StoreRejectedError('partial write: limit exceeded');
      return store.write(rows, chunks, watermark);
    };
    const rollup = new Rollup({ store: picky, writer: 'p0', clock, budget: new SeriesBudget(100_000) });
    await rollup.apply(batchOf('good.a:1|ms\npoison:2|ms\ngood.b:3|ms'), 7);
    const report = await rollup.flush();
    expect(report.rejected.map((r) => r.row.name)).toEqual(['poison']);
    expect(report.rows).toBe(2);
    expect((await stat('good.a', 'sum'))?.value).toBe(1);
    expect((await stat('good.b', 'sum'))?.value).toBe(3);
    expect(await stat('poison', 'sum')).toBeUndefined();
    expect(await store.loadWatermark('p0')).toBe(7);
    // the next flushes go on as usual
    await rollup.apply(batchOf('good.a:10|ms'), 8);
    expect((await rollup.flush()).rejected).toEqual([]);
    expect((await stat('good.a', 'sum'))?.value).toBe(11);
  });
});

describe('remote-written classic histograms (SPEC §3.2)', () => {
  /** Increments through the real batch builder and codec, as Gateway.sink() sends them. */
  const histogramBatch = (...increments: HistogramIncrements[]) => {
    const b = new BatchBuilder();
    for (const inc of increments) b.histogram('rpc_seconds', 'svc:x', H21, inc);
    return decodeBatch(encodeBatch(b.take(), 0));
  };
  const bounds = [0.1, 0.5, 1, Infinity];

  it('keeps count and sum exact and estimates quantiles from the summed buckets, across a restart', async () => {
    let rollup = newRollup();
    await rollup.apply(histogramBatch({ upperBounds: bounds, counts: [1, 3, 4, 4], count: 4, sum: 1.9 }));
    await rollup.flush();
    const [row] = await store.rows('rpc_seconds', H21);
    expect(isBucketHistogram(row.sketch)).toBe(true);
    // a new rollup (a restart) continues from the stored row's buckets
    rollup = newRollup();
    await rollup.apply(histogramBatch({ upperBounds: bounds, counts: [0, 2, 2, 3], count: 3, sum: 2.6 }, { upperBounds: [Infinity], counts: [0], count: 0, sum: 0 }));
    await rollup.flush();
    expect(await stat('rpc_seconds', 'count')).toEqual({ value: 7, count: 7, exact: true });
    expect((await stat('rpc_seconds', 'sum'))?.value).toBeCloseTo(4.5, 12);
    const cumulative = [1, 5, 6, 7];
    for (const [s, q] of [['median', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
      expect(await stat('rpc_seconds', s)).toEqual({ value: bucketQuantile(q, bounds, cumulative), count: 7, exact: false });
    }
    expect((await stat('rpc_seconds', 'median'))?.value).toBeCloseTo(0.1 + (0.4 * (3.5 - 1)) / 4, 12);
  });

  it('a StatsD h value sent to the same series-hour lands in the buckets too', async () => {
    const rollup = newRollup();
    await rollup.apply(histogramBatch({ upperBounds: [1, Infinity], counts: [1, 1], count: 1, sum: 0.5 }));
    await rollup.apply(batchOf('rpc_seconds:3|h|#svc:x'));
    await rollup.flush();
    expect(await stat('rpc_seconds', 'count')).toMatchObject({ value: 2, exact: true });
    expect((await stat('rpc_seconds', 'sum'))?.value).toBe(3.5);
    // cumulative 1, 2: the p99 is in +Inf, answered by the highest finite bound
    expect((await stat('rpc_seconds', 'p99'))?.value).toBe(1);
  });
});
