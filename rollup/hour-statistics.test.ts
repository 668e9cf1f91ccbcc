/**
 * The statistics a flush writes for Grafana (rollup_stats) against what the query API computes
 * from the stored rows and raw chunks of the same keys and hours, and against exact quantiles of
 * the values sent: with every tag set in memory, after a restart (other tag sets and earlier values
 * only in the store), past the exact limit, for sets, and for late data after eviction.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXACT_SAMPLE_LIMIT, FAMILY_OF, ManualClock, STATS, computeStatistic, exactQuantile, rowsAreExact } from '../core/index.js';
import { SqliteStore, openDatabase, type StatsRow } from '../store/index.js';
import { batchOf as linesToBatch } from '../test-support/batches.js';
import { Rollup, STATISTICS_INTERVAL_MS } from './rollup.js';
import { SeriesBudget } from './series-budget.js';

const H21 = Date.UTC(2026, 10, 22, 21) / 1000;
let dir: string;
let store: SqliteStore;
let clock: ManualClock;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-hour-stats-'));
  store = new SqliteStore(openDatabase(dir));
  clock = new ManualClock(H21 * 1000 + 30 * 60_000);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const batchOf = (text: string, receiveHourSec = H21) => linesToBatch(text, receiveHourSec);
const newRollup = () => new Rollup({ store, writer: 'p0', clock, budget: new SeriesBudget(100_000) });

/**
 * Every rollup_stats row of the name-hour equals the query API's merge of the stored rows it
 * stands for (every writer's rows are this one's here), stat by stat; returns them.
 */
async function checkAgainstQuery(name: string, hourSec = H21): Promise<StatsRow[]> {
  const stats = await store.stats(name, hourSec);
  const rows = await store.rows(name, hourSec);
  const families = new Set(rows.map((r) => FAMILY_OF[r.type]));
  expect(stats.length, `${name}: one point per series and per family`).toBe(rows.length + families.size);
  for (const s of stats) {
    const picked = rows.filter((r) => (s.tags === null ? FAMILY_OF[r.type] === s.family : r.tags === s.tags && r.type === s.type));
    expect(picked.length).toBeGreaterThan(0);
    const chunks = rowsAreExact(picked) ? await store.chunks(picked) : null;
    const where = `${name} ${s.tags ?? '(all tag sets)'} ${s.type ?? s.family}`;
    for (const stat of STATS) {
      if (picked[0].type === 's' && stat !== 'count') {
        expect(s[stat], `${where} ${stat}`).toBeNaN();
        continue;
      }
      const want = computeStatistic(stat, picked, chunks);
      expect(s[stat], `${where} ${stat}`).toBe(want.value);
      if (stat === 'median' || (picked[0].type === 's' && stat === 'count')) expect(s.exact, `${where} exact`).toBe(want.exact);
    }
    expect(s.n).toBe(picked.reduce((a, r) => a + r.n, 0));
  }
  return stats;
}

const merged = (stats: StatsRow[], family = 'value') => stats.find((s) => s.tags === null && s.family === family) as StatsRow;
const ofTags = (stats: StatsRow[], tags: string) => stats.find((s) => s.tags === tags) as StatsRow;

describe('rollup_stats written at each flush', () => {
  it('series-hours and name-hours (per family) equal the query API, tag sets and sample rates included', async () => {
    const rollup = newRollup();
    const lines: string[] = [];
    const all: number[] = [];
    const allWeights: number[] = [];
    const prod: number[] = [];
    for (let i = 0; i < 300; i++) {
      const v = (i * 7919) % 613;
      const tags = ['', '|#env:prod', '|#env:dev'][i % 3];
      const sampled = i % 7 === 0;
      lines.push(`api:${v}|ms${sampled ? '|@0.5' : ''}${tags}`);
      all.push(v);
      allWeights.push(sampled ? 2 : 1);
      if (i % 3 === 1) prod.push(v);
    }
    lines.push('mix:5|c', 'mix:7|c|#env:prod', 'mix:9|ms', 'u:a|s', 'u:b|s|#env:prod', 'u:a|s|#env:prod');
    await rollup.apply(batchOf(lines.slice(0, 150).join('\n')));
    const first = await rollup.flush();
    expect(first.stats).toBeGreaterThan(0);
    await rollup.apply(batchOf(lines.slice(150).join('\n')));
    clock.advance(STATISTICS_INTERVAL_MS);
    const second = await rollup.flush();
    expect(second.statsStoreReads).toBe(0);
    expect(second.statsFailed).toBe(0);

    const api = await checkAgainstQuery('api');
    // and against the values sent, computed here
    expect(merged(api).median).toBe(exactQuantile(all, allWeights, 0.5));
    expect(merged(api).p99).toBe(exactQuantile(all, allWeights, 0.99));
    expect(merged(api).exact).toBe(true);
    expect(merged(api).count).toBe(allWeights.reduce((a, b) => a + b, 0));
    expect(ofTags(api, 'env:prod').median).toBe(exactQuantile(prod, prod.map((_, k) => ((3 * k + 1) % 7 === 0 ? 2 : 1)), 0.5));
    const mix = await checkAgainstQuery('mix');
    expect(merged(mix, 'counter').sum).toBe(12);
    expect(merged(mix, 'value').median).toBe(9);
    const u = await checkAgainstQuery('u');
    expect(merged(u, 'set').count).toBe(2);
    expect(merged(u, 'set').median).toBeNaN();
  });

  it('values held sorted across many flushes, a sample rate arriving mid-hour, a failed write and a restart: still the query API', async () => {
    let rollup = newRollup();
    const r = { s: 17 };
    const next = () => (r.s = (r.s * 1103515245 + 12345) % 2147483648) % 1000;
    for (let flush = 0; flush < 40; flush++) {
      clock.advance(STATISTICS_INTERVAL_MS);
      const lines = Array.from({ length: 1 + (flush % 5) * 7 }, () => `walk:${next() / 4}|ms${flush === 25 ? '|@0.25' : ''}`);
      await rollup.apply(batchOf(lines.join('\n')));
      if (flush === 12) {
        // the store refuses to answer once: the next flush carries both batches' values
        const write = store.write.bind(store);
        store.write = async () => {
          store.write = write;
          throw new Error('store away');
        };
        await expect(rollup.flush()).rejects.toThrow('store away');
        continue;
      }
      await rollup.flush();
      if (flush % 10 === 3) await checkAgainstQuery('walk');
      if (flush === 30) rollup = newRollup(); // a restart: earlier values only in the store
    }
    const stats = await checkAgainstQuery('walk');
    expect(merged(stats).exact).toBe(true);
    expect(merged(stats).count).toBeGreaterThan(500);
  });

  it(`written at a series-hour's first write, then at most every ${STATISTICS_INTERVAL_MS} ms (owed ones even without new data), all of them when asked`, async () => {
    const rollup = newRollup();
    await rollup.apply(batchOf('lat:1|ms\nlat:2|ms|#a:b'));
    expect((await rollup.flush()).stats).toBe(3);
    await rollup.apply(batchOf('lat:3|ms'));
    clock.advance(STATISTICS_INTERVAL_MS - 1);
    expect((await rollup.flush()).stats).toBe(0);
    expect(merged(await store.stats('lat', H21)).count).toBe(2);
    clock.advance(1);
    // nothing new, but lat's untagged series-hour is owed its statistics (and so its name-hour)
    expect((await rollup.flush()).stats).toBe(2);
    expect(merged(await checkAgainstQuery('lat')).count).toBe(3);
    // the tagged series-hour's were written 10 s ago: due at once
    await rollup.apply(batchOf('lat:4|ms|#a:b'));
    expect((await rollup.flush()).stats).toBe(2);
    await rollup.apply(batchOf('lat:5|ms'));
    expect((await rollup.flush()).stats).toBe(0);
    expect((await rollup.flush([], { allStatistics: true })).stats).toBe(2);
    expect(merged(await checkAgainstQuery('lat')).median).toBe(3);
  });

  it('after a restart the name-hour still merges every tag set, and exact values written before it', async () => {
    const before = Array.from({ length: 400 }, (_, i) => (i * 31) % 97);
    // a first rollup writes, a second continues one tag set only
    const first = newRollup();
    await first.apply(batchOf(before.map((v, i) => `api:${v}|ms${i % 2 ? '|#env:prod' : '|#env:dev'}`).join('\n')));
    await first.flush();
    const second = newRollup();
    const after = [1000, 1001, 1002];
    await second.apply(batchOf(after.map((v) => `api:${v}|ms|#env:prod`).join('\n')));
    const report = await second.flush();
    expect(report.statsStoreReads).toBe(2); // the name-hour's rows, then the raw values of both tag sets
    const stats = await checkAgainstQuery('api');
    const values = [...before, ...after];
    expect(merged(stats).median).toBe(exactQuantile(values, null, 0.5));
    expect(merged(stats).p99).toBe(exactQuantile(values, null, 0.99));
    expect(merged(stats).count).toBe(values.length);
    expect(ofTags(stats, 'env:prod').p90).toBe(exactQuantile([...before.filter((_, i) => i % 2), ...after], null, 0.9));
    // a further flush reads nothing more
    await second.apply(batchOf('api:1|ms|#env:dev'));
    expect((await second.flush()).statsStoreReads).toBe(0);
    await checkAgainstQuery('api');
  });

  it(`past ${EXACT_SAMPLE_LIMIT} values in the name-hour: sketch quantiles, each series still exact`, async () => {
    const rollup = newRollup();
    const half = EXACT_SAMPLE_LIMIT / 2 + 10;
    const lines = Array.from({ length: 2 * half }, (_, i) => `big:${1 + ((i * 7919) % 5000) / 10}|ms|#shard:${i % 2}`);
    await rollup.apply(batchOf(lines.join('\n')));
    await rollup.flush();
    const stats = await checkAgainstQuery('big');
    expect(merged(stats).exact).toBe(false);
    expect(merged(stats).relativeError).toBeGreaterThan(0);
    expect(ofTags(stats, 'shard:0').exact).toBe(true);
  });

  it('late data for an evicted hour: stats of the whole hour again', async () => {
    const rollup = newRollup();
    await rollup.apply(batchOf('lat:1|ms\nlat:2|ms|#a:b\nlat:10|ms'));
    await rollup.flush();
    clock.set((H21 + 3 * 3600) * 1000);
    await rollup.flush();
    expect(rollup.seriesInMemory).toBe(0);
    await rollup.apply(batchOf(`lat:3|ms|T${H21 + 10}`, H21 + 3 * 3600));
    const report = await rollup.flush();
    expect(report.statsStoreReads).toBeGreaterThan(0);
    const stats = await checkAgainstQuery('lat');
    expect(merged(stats).median).toBe(2.5);
    expect(merged(stats).count).toBe(4);
  });
});
