/**
 * The query API answers a median or percentile from the rollup_stats point written with the rows
 * when one stands for exactly the rows selected (one point read instead of reading raw values and
 * merging), and merges otherwise: the answers are the same either way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, exactQuantile } from '../core/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { SqliteReader, SqliteStore, openDatabase } from '../store/index.js';
import { batchOf } from '../test-support/batches.js';
import { buildQueryApp } from './app.js';
import { createQueryMetrics } from './metrics.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
let dir: string;
let store: SqliteStore;
let reader: SqliteReader;
const clock = new ManualClock(H * 1000 + 30 * 60_000);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-stats-answer-'));
  const db = openDatabase(dir);
  store = new SqliteStore(db);
  reader = new SqliteReader(openDatabase(dir));
});
afterEach(async () => {
  await reader.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const app = () => buildQueryApp({ reader, clock, metrics: createQueryMetrics(new Registry()), flushIntervalMs: 1000, maxKeyBytes: 200 });
async function get(url: string) {
  const res = await app().inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

async function write(writer: string, text: string) {
  const rollup = new Rollup({ store, writer, clock, budget: new SeriesBudget(1000) });
  await rollup.apply(batchOf(text, H));
  await rollup.flush();
}

/** Removes the raw values: only an answer from rollup_stats can still be exact and right. */
const dropRawValues = () => (store as unknown as { db: { exec(sql: string): void } }).db.exec('DELETE FROM rollup_raw');

describe('answers from rollup_stats', () => {
  const values = Array.from({ length: 200 }, (_, i) => (i * 7919) % 311);
  const text = values.map((v, i) => `api:${v}|ms${i % 2 ? '|#env:prod' : ''}`).join('\n');

  it('a name-hour and a single series are answered from their points, without the raw values', async () => {
    await write('p0', text);
    dropRawValues();
    expect((await get('/api/median/2026-11-22/21')).body).toMatchObject({ value: exactQuantile(values, null, 0.5), count: 200, exact: true });
    expect((await get('/api/p99/2026-11-22/21')).body).toMatchObject({ value: exactQuantile(values, null, 0.99), exact: true });
    const prod = values.filter((_, i) => i % 2);
    expect((await get('/api/p90/2026-11-22/21?tag=env:prod')).body).toMatchObject({ value: exactQuantile(prod, null, 0.9), count: 100, exact: true });
  });

  it('merges when no point stands for the rows: two writers, or rows newer than the point', async () => {
    await write('p0', text);
    await write('p1', 'api:100000|ms');
    const two = await get('/api/max/2026-11-22/21');
    expect(two.body.value).toBe(100000);
    expect((await get('/api/median/2026-11-22/21')).body).toMatchObject({ value: exactQuantile([...values, 100000], null, 0.5), count: 201 });
    // a point older than its rows (its statistics failed at a later flush, say) is not used
    (store as unknown as { db: { exec(sql: string): void } }).db.exec("UPDATE rollup_stats SET median = -1, n = n - 1 WHERE writer = 'p0'");
    expect((await get('/api/median/2026-11-22/21?tag=env:prod')).body.value).toBe(exactQuantile(values.filter((_, i) => i % 2), null, 0.5));
  });
});
