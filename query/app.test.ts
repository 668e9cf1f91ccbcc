import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock, PROBLEMS, bucketQuantile, exactQuantile, problem, type ProblemCode } from '../core/index.js';
import { decodeBatch, encodeBatch } from '../bus/index.js';
import { BatchBuilder } from '../gateway/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { SqliteReader, SqliteStore, StoreUnavailableError, openDatabase, type RollupReader } from '../store/index.js';
import { batchOf } from '../test-support/batches.js';
import { buildQueryApp } from './app.js';
import { createQueryMetrics } from './metrics.js';

const HOUR_21 = Date.UTC(2026, 10, 22, 21) / 1000;
const clock = new ManualClock(Date.UTC(2026, 10, 22, 21, 30));
let dir: string;
let reader: SqliteReader;
let app: ReturnType<typeof buildQueryApp>;
const registry = new Registry();
const TIMER_VALUES = [118, 120.5, 99, 300, 118, 42, 77.25, 150];
const HISTOGRAM_BOUNDS = [1, 2, 4, Infinity];

/** Feeds StatsD text through the real parser, batch and rollup into a real SQLite store. */
async function ingest(store: SqliteStore, text: string, hourSec = HOUR_21): Promise<void> {
  const rollup = new Rollup({ store, writer: 'embedded', clock, budget: new SeriesBudget(100_000) });
  await rollup.apply(batchOf(text, hourSec));
  await rollup.flush();
}

function build(r: RollupReader, metricsRegistry = new Registry()) {
  return buildQueryApp({ reader: r, clock, metrics: createQueryMetrics(metricsRegistry), flushIntervalMs: 1000, maxKeyBytes: 200 });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-query-'));
  const store = new SqliteStore(openDatabase(dir));
  await ingest(store, TIMER_VALUES.map((v, i) => `api.checkout:${v}|ms|#route:${i % 2 ? 'pay' : 'cart'},env:prod`).join('\n'));
  await ingest(store, 'mixed:1|c\nmixed:5|ms\nusers:alice|s\nusers:bob|s\nusers:alice|s\nodd/key with space:7|ms\nq:1|ms');
  // remote-written classic histograms, as Gateway.sink() hands them to the batch builder
  const b = new BatchBuilder();
  b.histogram('rpc_seconds', 'svc:x', HOUR_21, { upperBounds: HISTOGRAM_BOUNDS, counts: [2, 6, 8, 10], count: 10, sum: 21 });
  b.histogram('rpc_seconds', 'svc:y', HOUR_21, { upperBounds: HISTOGRAM_BOUNDS, counts: [1, 1, 1, 2], count: 2, sum: 9 });
  b.histogram('halfhist', 'svc:x', HOUR_21, { upperBounds: [1, Infinity], counts: [1, 1], count: 1, sum: 1 });
  b.sample('halfhist', 'svc:y', 'h', 3, 1, false, HOUR_21);
  const rollup = new Rollup({ store, writer: 'embedded', clock, budget: new SeriesBudget(100_000) });
  await rollup.apply(decodeBatch(encodeBatch(b.take(), 0)));
  await rollup.flush();
  await store.close();
  reader = new SqliteReader(openDatabase(dir));
  app = build(reader, registry);
});

afterAll(async () => {
  await app.close();
  await reader.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const get = (url: string) => app.inject({ method: 'GET', url });

describe('GET /<key>/<stat_type>/<date>/<hour>', () => {
  const expected = {
    count: TIMER_VALUES.length,
    sum: TIMER_VALUES.reduce((a, b) => a + b, 0),
    min: Math.min(...TIMER_VALUES),
    max: Math.max(...TIMER_VALUES),
    average: TIMER_VALUES.reduce((a, b) => a + b, 0) / TIMER_VALUES.length,
    median: exactQuantile(TIMER_VALUES, null, 0.5),
    p90: exactQuantile(TIMER_VALUES, null, 0.9),
    p95: exactQuantile(TIMER_VALUES, null, 0.95),
    p99: exactQuantile(TIMER_VALUES, null, 0.99),
  };
  it.each(Object.entries(expected))('%s over every tag set', async (stat, value) => {
    const res = await get(`/api.checkout/${stat}/2026-11-22/21`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ key: 'api.checkout', stat, date: '2026-11-22', hour: 21, value, count: 8, exact: true, complete: false });
  });

  it('the median of an even count is the mean of the two middle samples', async () => {
    // sorted: 42 77.25 99 118 | 118 120.5 150 300
    expect((await get('/api.checkout/median/2026-11-22/21')).json().value).toBe(118);
    // route:pay holds 120.5 300 42 150 -> 42 120.5 | 150 300
    expect((await get('/api.checkout/median/2026-11-22/21?tag=route:pay')).json().value).toBe((120.5 + 150) / 2);
  });

  it('narrows to tag sets with ?tag= (repeatable)', async () => {
    const odd = TIMER_VALUES.filter((_, i) => i % 2 === 1);
    const res = await get('/api.checkout/sum/2026-11-22/21?tag=route:pay&tag=env:prod');
    expect(res.json()).toMatchObject({ value: odd.reduce((a, b) => a + b, 0), count: odd.length });
    expect((await get('/api.checkout/sum/2026-11-22/21?tag=route:none')).statusCode).toBe(404);
  });

  it('accepts 07 and 7 for the hour, and a URL-encoded key', async () => {
    expect((await get('/api.checkout/count/2026-11-22/021')).statusCode).toBe(400);
    const encoded = `/${encodeURIComponent('odd/key with space')}/max/2026-11-22/21`;
    expect((await get(encoded)).json()).toMatchObject({ key: 'odd/key with space', value: 7 });
    clock.set(Date.UTC(2026, 10, 22, 7, 30));
    expect((await get('/api.checkout/count/2026-11-22/07')).statusCode).toBe(404);
    expect((await get('/api.checkout/count/2026-11-22/7')).statusCode).toBe(404);
    clock.set(Date.UTC(2026, 10, 22, 21, 30));
  });

  it('says complete once the hour is over and flushed', async () => {
    clock.set(Date.UTC(2026, 10, 22, 22, 0, 1));
    expect((await get('/api.checkout/count/2026-11-22/21')).json().complete).toBe(false);
    clock.set(Date.UTC(2026, 10, 22, 22, 0, 2));
    expect((await get('/api.checkout/count/2026-11-22/21')).json().complete).toBe(true);
    clock.set(Date.UTC(2026, 10, 22, 21, 30));
  });

  it('counts distinct set members; other stats do not apply to sets', async () => {
    expect((await get('/users/count/2026-11-22/21')).json()).toMatchObject({ value: 2, exact: true });
    const res = await get('/users/median/2026-11-22/21');
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('HG_STAT_NOT_APPLICABLE');
  });

  it('a key with several metric types asks to choose one with ?type=', async () => {
    const res = await get('/mixed/sum/2026-11-22/21');
    expect(res.statusCode).toBe(409);
    expect(res.json().detail).toMatch(/c, ms|ms, c/);
    expect((await get('/mixed/sum/2026-11-22/21?type=ms')).json().value).toBe(5);
    expect((await get('/mixed/sum/2026-11-22/21?type=c')).json().value).toBe(1);
  });

  it('a remote-written histogram: exact count, sum, average; quantiles from its buckets, exact false', async () => {
    expect((await get('/rpc_seconds/count/2026-11-22/21')).json()).toMatchObject({ value: 12, count: 12, exact: true });
    expect((await get('/rpc_seconds/sum/2026-11-22/21')).json()).toMatchObject({ value: 30, exact: true });
    expect((await get('/rpc_seconds/average/2026-11-22/21?tag=svc:x')).json()).toMatchObject({ value: 2.1, count: 10, exact: true });
    // both tag sets' buckets add up: cumulative 3, 7, 9, 12
    const median = (await get('/rpc_seconds/median/2026-11-22/21')).json();
    expect(median).toEqual({ key: 'rpc_seconds', stat: 'median', date: '2026-11-22', hour: 21, value: bucketQuantile(0.5, HISTOGRAM_BOUNDS, [3, 7, 9, 12]), count: 12, exact: false, complete: false });
    expect(median.value).toBeCloseTo(1 + (6 - 3) / 4, 12);
    expect((await get('/rpc_seconds/p99/2026-11-22/21?tag=svc:x&type=h')).json()).toMatchObject({ value: 4, exact: false });
  });

  it('a remote-written histogram has no min or max, and does not mix with samples', async () => {
    for (const stat of ['min', 'max']) {
      const res = await get(`/rpc_seconds/${stat}/2026-11-22/21`);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'HG_STAT_NOT_APPLICABLE', detail: expect.stringMatching(/remote write.*count, sum, average, median/) });
    }
    const mixed = await get('/halfhist/median/2026-11-22/21');
    expect(mixed.statusCode).toBe(409);
    expect(mixed.json().detail).toMatch(/\?tag=/);
    expect((await get('/halfhist/median/2026-11-22/21?tag=svc:y')).json()).toMatchObject({ value: 3, exact: true });
    expect((await get('/halfhist/median/2026-11-22/21?tag=svc:x')).json()).toMatchObject({ value: 0.5, exact: false });
  });

  it('HEAD answers like GET, without a body', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/api.checkout/count/2026-11-22/21' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });
});

describe('bad requests get problem+json naming what is wrong, and nothing else happens', () => {
  const cases: [title: string, url: string, status: number, code: string, detailPattern: RegExp][] = [
    ['unknown stat', '/q/avg/2026-11-22/21', 400, 'HG_INVALID_STAT', /average, min, max, median/],
    ['hour 24', '/q/count/2026-11-22/24', 400, 'HG_INVALID_HOUR', /0 to 23/],
    ['hour in exponent form', '/q/count/2026-11-22/1e1', 400, 'HG_INVALID_HOUR', /"1e1"/],
    ['hour in hex', '/q/count/2026-11-22/0x0A', 400, 'HG_INVALID_HOUR', /0x0A/],
    ['hour with a fraction', '/q/count/2026-11-22/13.0', 400, 'HG_INVALID_HOUR', /13\.0/],
    ['negative zero hour', '/q/count/2026-11-22/-0', 400, 'HG_INVALID_HOUR', /-0/],
    ['hour with spaces', '/q/count/2026-11-22/%201', 400, 'HG_INVALID_HOUR', /" 1"/],
    ['impossible date', '/q/count/2026-02-30/1', 400, 'HG_INVALID_DATE', /calendar date/],
    ['month 13', '/q/count/2026-13-01/1', 400, 'HG_INVALID_DATE', /YYYY-MM-DD/],
    ['date without padding', '/q/count/2026-1-1/1', 400, 'HG_INVALID_DATE', /YYYY-MM-DD/],
    ['date before 1970', '/q/count/1969-12-31/1', 400, 'HG_INVALID_DATE', /1970/],
    ['key with a pipe', '/a%7Cb/count/2026-11-22/1', 400, 'HG_INVALID_KEY', /'\|'/],
    ['key with a NUL', '/a%00b/count/2026-11-22/1', 400, 'HG_INVALID_KEY', /control/],
    ['key too long', `/${'k'.repeat(201)}/count/2026-11-22/1`, 400, 'HG_INVALID_KEY', /1 to 200 bytes/],
    ['hostile key, injection attempt', `/${encodeURIComponent('x") |> drop() //')}/count/2026-11-22/1`, 400, 'HG_INVALID_KEY', /'\|'/],
    ['broken percent-encoding', '/%E0%A4%A/count/2026-11-22/1', 400, 'HG_BAD_REQUEST', /./],
    ['unknown query parameter', '/q/count/2026-11-22/21?tags=a', 400, 'HG_INVALID_QUERY', /"tags"/],
    ['empty tag', '/q/count/2026-11-22/21?tag=', 400, 'HG_INVALID_QUERY', /tag ""/],
    ['bad type', '/q/count/2026-11-22/21?type=timer', 400, 'HG_INVALID_QUERY', /c, g, ms/],
    ['no data that hour', '/q/count/2026-11-22/3', 404, 'HG_NO_DATA', /hour 3/],
    ['unknown key', '/nothing.here/count/2026-11-22/21', 404, 'HG_NO_DATA', /nothing\.here/],
    ['wrong shape of path', '/q/count', 404, 'HG_NOT_FOUND', /GET \/<key>\/<stat_type>/],
  ];
  it.each(cases)('%s: %s', async (_title, url, status, code, detail) => {
    const res = await get(url);
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ status, code, title: PROBLEMS[code as keyof typeof PROBLEMS].title });
    expect(body.type).toMatch(/^urn:hourglass:problem:/);
    expect(body.detail).toMatch(detail);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'] as const)('%s is 405 with Allow', async (method) => {
    const res = await app.inject({ method, url: '/q/count/2026-11-22/21' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.json().code).toBe('HG_METHOD_NOT_ALLOWED');
  });

  it('answers 503 with Retry-After when the store is unreachable', async () => {
    const down: RollupReader = {
      rows: async () => {
        throw new StoreUnavailableError('connection refused');
      },
      chunks: async () => [],
      rowsOfDay: async () => [],
      keys: async () => [],
      close: async () => undefined,
    };
    const broken = build(down);
    const res = await broken.inject({ method: 'GET', url: '/q/count/2026-11-22/21' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toMatchObject({ code: 'HG_STORE_UNAVAILABLE', status: 503 });
    await broken.close();
  });

  it('the valid data is untouched after all of that', async () => {
    expect((await get('/api.checkout/count/2026-11-22/21')).json().value).toBe(8);
  });
});

describe('names with a colon', () => {
  it('are valid keys (Prometheus recording rules sent by remote write): no data is 404, not 400', async () => {
    const res = await get('/job%3Ahttp_requests%3Arate5m/count/2026-11-22/21');
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('HG_NO_DATA');
  });
});

describe('problem registry', () => {
  it('every code has a 4xx/5xx status, a title, and a type of its own', () => {
    const types = new Set<string>();
    for (const [code, p] of Object.entries(PROBLEMS)) {
      expect(code).toMatch(/^HG_[A-Z_]+$/);
      expect(p.status).toBeGreaterThanOrEqual(400);
      expect(p.title.length).toBeGreaterThan(3);
      types.add(problem(code as ProblemCode, 'x').type);
    }
    expect(types.size).toBe(Object.keys(PROBLEMS).length);
  });
});

describe('query telemetry', () => {
  it('counts queries by stat and status, never by key', async () => {
    await get('/api.checkout/p99/2026-11-22/21');
    const text = await registry.metrics();
    expect(text).toMatch(/hourglass_query_duration_seconds_count\{stat="p99",status="200"\} \d+/);
    expect(text).toMatch(/hourglass_query_duration_seconds_count\{stat="invalid",status="400"\} \d+/);
    expect(text).not.toMatch(/api\.checkout/);
  });
});
