/**
 * The cardinality guard through the real path: StatsD text through the real parser, batch builder
 * and codec (batchOf), into a Rollup over a real SQLite store. MAX_SERIES_PER_HOUR bounds the
 * series of an hour; known series stay exact; refusals are reported with their values; the bound
 * holds across a restart; and a flood of a million distinct names keeps memory and the store
 * bounded by the limit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { computeStatistic } from '../query/index.js';
import { SqliteStore, openDatabase } from '../store/index.js';
import { batchOf } from '../test-support/batches.js';
import { RollupTelemetry, createRollupMetrics } from './metrics.js';
import { Rollup, type SeriesRefusal } from './rollup.js';
import { SeriesBudget } from './series-budget.js';

const H21 = Date.UTC(2026, 10, 22, 21) / 1000;
let dir: string;
let store: SqliteStore;
let clock: ManualClock;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-cardinality-'));
  store = new SqliteStore(openDatabase(dir));
  clock = new ManualClock(H21 * 1000 + 30 * 60_000);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const rollupOf = (budget: SeriesBudget, writer = 'embedded') => new Rollup({ store, writer, clock, budget });

async function stat(name: string, s: 'count' | 'sum' | 'median' | 'max', hourSec = H21) {
  const rows = await store.rows(name, hourSec);
  if (rows.length === 0) return undefined;
  return computeStatistic(s, rows, await store.chunks(rows))?.value;
}

describe('MAX_SERIES_PER_HOUR', () => {
  it('refuses new series past the bound and reports them, while series it has keep working', async () => {
    const rollup = rollupOf(new SeriesBudget(3));
    expect(await rollup.apply(batchOf('a:1|ms\nb:1|c\nc:1|g', H21))).toBeUndefined();
    const refusal = await rollup.apply(batchOf('a:2|ms\nreq.123:5|ms\nreq.123:6|ms\nreq.456:7|ms\nb:2|c\nips:1.2.3.4|s', H21));
    expect(refusal).toEqual<SeriesRefusal>({ reason: 'series_per_hour', series: 3, values: 4, example: { name: 'req.123', tags: '', type: 'ms', hourSec: H21 } });
    // (name, tags, type) is the series: the same name with new tags or type is new too
    expect((await rollup.apply(batchOf('a:3|ms|#env:prod\na:3|h', H21)))?.series).toBe(2);
    await rollup.flush();
    expect(await stat('a', 'count')).toBe(2);
    expect(await stat('a', 'sum')).toBe(3);
    expect(await stat('b', 'sum')).toBe(3);
    expect(await stat('req.123', 'count')).toBeUndefined();
    expect(await store.countRows(H21, 'embedded')).toBe(3);
    // the next hour has room of its own
    expect(await rollup.apply(batchOf(`req.789:1|ms|T${H21 + 3600}`, H21))).toBeUndefined();
  });

  it('still holds after a restart: the rows of the hour in the store count', async () => {
    let rollup = rollupOf(new SeriesBudget(2));
    await rollup.apply(batchOf('a:1|ms\nb:10|ms', H21));
    await rollup.flush();
    rollup = rollupOf(new SeriesBudget(2)); // a new process: nothing in memory
    const refusal = await rollup.apply(batchOf('fresh:1|ms\nb:20|ms', H21));
    expect(refusal?.series).toBe(1);
    expect(refusal?.example.name).toBe('fresh');
    await rollup.flush();
    expect(await stat('b', 'median')).toBe(15);
    expect(await stat('fresh', 'count')).toBeUndefined();
  });

  it('is one bound over the writers (partitions) of a worker', async () => {
    const budget = new SeriesBudget(3);
    const p0 = rollupOf(budget, 'p0');
    const p1 = rollupOf(budget, 'p1');
    expect(await p0.apply(batchOf('a:1|ms\nb:1|ms', H21), 1)).toBeUndefined();
    expect((await p1.apply(batchOf('c:1|ms\nd:1|ms', H21), 1))?.series).toBe(1);
    await Promise.all([p0.flush(), p1.flush()]);
    expect((await store.countRows(H21, 'p0')) + (await store.countRows(H21, 'p1'))).toBe(3);
  });

  it('a closed hour leaves the count with its series, and comes back with its stored rows counted', async () => {
    const budget = new SeriesBudget(2);
    const rollup = rollupOf(budget);
    await rollup.apply(batchOf('a:1|ms\nb:1|ms', H21));
    await rollup.flush();
    clock.set((H21 + 2 * 3600) * 1000); // the hour closed long ago: evicted at the next flush
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(0);
    expect(budget.hoursOf('embedded')).toEqual([]);
    // late data for that hour: the stored rows count again
    const refusal = await rollup.apply(batchOf(`late:1|ms|T${H21 + 60}\na:2|ms|T${H21 + 60}`, H21 + 2 * 3600));
    expect(refusal?.example.name).toBe('late');
    await rollup.flush();
    expect(await stat('a', 'sum')).toBe(3);
  });

  it('a refusal is counted by reason, with its lost values, and logged at most once per 10 s with an example', async () => {
    const registry = new Registry();
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const telemetry = new RollupTelemetry(createRollupMetrics(registry), pino({ level: 'warn' }, sink), () => clock.nowMs());
    const metrics = async () => registry.metrics();
    expect(await metrics()).toContain('hourglass_series_refused_total{reason="series_per_hour"} 0');
    const events = telemetry.eventsOf('p3', () => undefined);
    const example = { name: `req.${'x'.repeat(500)}`, tags: 'env:prod', type: 'ms' as const, hourSec: H21 };
    events.refused({ reason: 'series_per_hour', series: 4, values: 9, example });
    events.refused({ reason: 'series_per_hour', series: 1, values: 1, example });
    clock.advance(10_000);
    events.refused({ reason: 'series_per_hour', series: 2, values: 2, example });
    expect(await metrics()).toContain('hourglass_series_refused_total{reason="series_per_hour"} 7');
    expect(await metrics()).toContain('hourglass_rollup_values_refused_total{reason="series_per_hour"} 12');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ reason: 'series_per_hour', source: 'p3', example: { tags: 'env:prod', type: 'ms', hour: '2026-11-22T21:00:00.000Z' } });
    expect(String((lines[0].example as { name: string }).name)).toMatch(/^req\.x+$/);
    expect(String((lines[0].example as { name: string }).name).length).toBeLessThan(example.name.length);
    expect(lines[1]).toMatchObject({ suppressed: 1 });
  });
});

describe('a flood of a million distinct names', () => {
  it('keeps the series held and the rows written within the bound, and the known keys exact', { timeout: 300_000 }, async () => {
    const limit = 1000;
    const rollup = rollupOf(new SeriesBudget(limit));
    const known = ['api.checkout', 'api.search', 'db.query'];
    const perBatch = 10_000;
    const batches = 100;
    let refusedSeries = 0;
    let refusedValues = 0;
    let peakSeries = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    for (let b = 0; b < batches; b++) {
      const lines: string[] = known.map((k, i) => `${k}:${b + i}|ms`);
      for (let i = 0; i < perBatch; i++) lines.push(`req.${b * perBatch + i}:1|ms`);
      const refusal = await rollup.apply(batchOf(lines.join('\n'), H21));
      refusedSeries += refusal?.series ?? 0;
      refusedValues += refusal?.values ?? 0;
      peakSeries = Math.max(peakSeries, rollup.seriesInMemory);
      if (b % 10 === 9) await rollup.flush();
    }
    await rollup.flush();
    const heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const distinct = batches * perBatch;
    expect(peakSeries).toBe(limit);
    expect(await store.countRows(H21, 'embedded')).toBe(limit);
    // every series past the bound refused, each with its one value: nothing lost in silence
    expect(refusedSeries).toBe(distinct + known.length - limit);
    expect(refusedValues).toBe(refusedSeries);
    // known keys came first, so they are exact: values b + i over the batches
    for (const [i, k] of known.entries()) {
      expect(await stat(k, 'count')).toBe(batches);
      expect(await stat(k, 'sum')).toBe((batches * (batches - 1)) / 2 + i * batches);
      expect(await stat(k, 'max')).toBe(batches - 1 + i);
    }
    // loose: a million held series would be hundreds of MiB; the bound keeps it to garbage
    expect(heapGrowthMiB).toBeLessThan(100);
  });
});
