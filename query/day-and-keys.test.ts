/**
 * The day form GET /<key>/<stat_type>/<date> and GET /-/keys (SPEC §4.1), over a real SQLite store
 * fed through the real parser and rollup, with app.inject().
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock, PROBLEMS, RELATIVE_ACCURACY, exactQuantile } from '../core/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { SqliteReader, SqliteStore, StoreUnavailableError, openDatabase, type RollupReader } from '../store/index.js';
import { batchOf } from '../test-support/batches.js';
import { KEYS_MAX_LIMIT, buildQueryApp } from './app.js';
import { createQueryMetrics } from './metrics.js';

const DAY = Date.UTC(2026, 10, 22) / 1000;
const hourSec = (h: number) => DAY + h * 3600;
const clock = new ManualClock(Date.UTC(2026, 10, 22, 21, 30));
/** Values per hour of api.checkout on 2026-11-22, by route (tag), with one sample on each neighbouring day. */
const HOURS: Record<number, { pay: number[]; cart: number[] }> = {
  0: { pay: [10, 30], cart: [20] },
  7: { pay: [118, 120.5, 99], cart: [300, 42] },
  21: { pay: [5], cart: [1, 2, 3, 4] },
};
/** Hour 13 holds more values than the exact limit: its quantiles come from the sketch. */
const MANY = Array.from({ length: 10_001 }, (_, i) => (i % 1000) + 1);
let dir: string;
let reader: SqliteReader;
let app: ReturnType<typeof buildQueryApp>;

async function ingest(store: SqliteStore, text: string, hourStartSec: number): Promise<void> {
  const rollup = new Rollup({ store, writer: 'embedded', clock, budget: new SeriesBudget(100_000) });
  await rollup.apply(batchOf(text, hourStartSec));
  await rollup.flush();
}

const build = (r: RollupReader) => buildQueryApp({ reader: r, clock, metrics: createQueryMetrics(new Registry()), flushIntervalMs: 1000, maxKeyBytes: 200 });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-day-'));
  const store = new SqliteStore(openDatabase(dir));
  for (const [h, { pay, cart }] of Object.entries(HOURS)) {
    const lines = [...pay.map((v) => `api.checkout:${v}|ms|#route:pay`), ...cart.map((v) => `api.checkout:${v}|ms|#route:cart`)];
    await ingest(store, lines.join('\n'), hourSec(Number(h)));
  }
  await ingest(store, 'api.checkout:999|ms', DAY - 3600); // 2026-11-21 23:00
  await ingest(store, 'api.checkout:999|ms', DAY + 86_400); // 2026-11-23 00:00
  await ingest(store, MANY.map((v) => `big:${v}|ms`).join('\n'), hourSec(13));
  await ingest(store, 'mixed:1|c\nmixed:5|ms\nusers:alice|s\nusers:bob|s\nusers:alice|s', hourSec(7));
  await ingest(store, 'mixed:7|ms\nusers:carol|s', hourSec(8));
  await ingest(store, 'api.cart:1|c\napi.cart:2|g\napi.z:1|d\nzeta:1|h\n%e2%9c%93:1|ms\nodd/name ✓:3|ms', hourSec(9));
  await store.close();
  reader = new SqliteReader(openDatabase(dir));
  app = build(reader);
});

afterAll(async () => {
  await app.close();
  await reader.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const get = (url: string) => app.inject({ method: 'GET', url });
const all = (h: number) => [...HOURS[h].pay, ...HOURS[h].cart];

describe('GET /<key>/<stat_type>/<date>', () => {
  it.each(['average', 'min', 'max', 'median', 'count', 'sum', 'p90', 'p99'])('%s: every hour holding data, in order', async (stat) => {
    const res = await get(`/api.checkout/${stat}/2026-11-22`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const of = (values: number[]): number => {
      const sum = values.reduce((a, b) => a + b, 0);
      const q = { median: 0.5, p90: 0.9, p99: 0.99 }[stat];
      if (q !== undefined) return exactQuantile(values, null, q);
      return { average: sum / values.length, min: Math.min(...values), max: Math.max(...values), count: values.length, sum }[stat]!;
    };
    expect(res.json()).toEqual({
      key: 'api.checkout',
      stat,
      date: '2026-11-22',
      hours: [0, 7, 21].map((h) => ({ hour: h, value: of(all(h)), count: all(h).length, exact: true, complete: h !== 21 })),
    });
  });

  it('each hour answers exactly what the hourly form answers', async () => {
    for (const stat of ['median', 'p99', 'average', 'max']) {
      for (const key of ['api.checkout', 'big']) {
        const day = (await get(`/${key}/${stat}/2026-11-22`)).json() as { hours: { hour: number }[] };
        for (const h of day.hours) {
          const { key: _k, stat: _s, date: _d, ...hourly } = (await get(`/${key}/${stat}/2026-11-22/${h.hour}`)).json();
          expect(h).toEqual(hourly);
        }
      }
    }
  });

  it('beyond the exact limit an hour says exact false with its relative error', async () => {
    const res = (await get('/big/median/2026-11-22')).json();
    expect(res.hours).toHaveLength(1);
    expect(res.hours[0]).toMatchObject({ hour: 13, count: MANY.length, exact: false, relative_error: RELATIVE_ACCURACY });
    const truth = exactQuantile(MANY, null, 0.5);
    expect(Math.abs(res.hours[0].value - truth) / truth).toBeLessThanOrEqual(RELATIVE_ACCURACY);
    expect((await get('/big/max/2026-11-22')).json().hours[0]).toMatchObject({ value: 1000, exact: true });
  });

  it('narrows with ?tag= and answers only the hours where the tag set has data', async () => {
    const res = (await get('/api.checkout/sum/2026-11-22?tag=route:pay')).json();
    expect(res.hours.map((h: { hour: number; value: number }) => [h.hour, h.value])).toEqual([0, 7, 21].map((h) => [h, HOURS[h].pay.reduce((a, b) => a + b, 0)]));
    expect((await get('/api.checkout/sum/2026-11-22?tag=route:none')).statusCode).toBe(404);
  });

  it('a day of several types asks for ?type=; with it, each type answers alone', async () => {
    const res = await get('/mixed/sum/2026-11-22');
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'HG_MIXED_TYPES', detail: expect.stringMatching(/on 2026-11-22; choose one with \?type=/) });
    expect((await get('/mixed/sum/2026-11-22?type=ms')).json().hours.map((h: { hour: number; value: number }) => [h.hour, h.value])).toEqual([
      [7, 5],
      [8, 7],
    ]);
    expect((await get('/mixed/sum/2026-11-22?type=c')).json().hours).toEqual([{ hour: 7, value: 1, count: 1, exact: true, complete: true }]);
  });

  it('sets: distinct members per hour; other stats do not apply', async () => {
    expect((await get('/users/count/2026-11-22')).json().hours.map((h: { hour: number; value: number }) => [h.hour, h.value])).toEqual([
      [7, 2],
      [8, 1],
    ]);
    expect((await get('/users/median/2026-11-22')).json().code).toBe('HG_STAT_NOT_APPLICABLE');
  });

  it('hours of the neighbouring days stay out', async () => {
    expect((await get('/api.checkout/count/2026-11-21')).json().hours).toEqual([{ hour: 23, value: 1, count: 1, exact: true, complete: true }]);
    expect((await get('/api.checkout/max/2026-11-23')).json().hours).toEqual([{ hour: 0, value: 999, count: 1, exact: true, complete: false }]);
  });

  it('HEAD answers like GET, without a body', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/api.checkout/count/2026-11-22' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });
});

describe('GET /-/keys', () => {
  const keys = async (query = '') => {
    const res = await get(`/-/keys${query}`);
    expect(res.statusCode).toBe(200);
    return res.json() as { keys: { key: string; types: string[] }[]; truncated: boolean };
  };
  // byte order of UTF-8, which for these is code point order
  const ALL = ['%e2%9c%93', 'api.cart', 'api.checkout', 'api.z', 'big', 'mixed', 'odd/name ✓', 'users', 'zeta'];

  it('lists every name holding data, sorted, each with its types', async () => {
    const res = await keys();
    expect(res.keys.map((k) => k.key)).toEqual(ALL);
    expect(res.truncated).toBe(false);
    const types = Object.fromEntries(res.keys.map((k) => [k.key, k.types]));
    expect(types).toMatchObject({ 'api.cart': ['c', 'g'], 'api.checkout': ['ms'], 'api.z': ['d'], mixed: ['c', 'ms'], users: ['s'], zeta: ['h'] });
  });

  it('filters by prefix, which is a plain string, not a pattern', async () => {
    expect((await keys('?prefix=api.c')).keys.map((k) => k.key)).toEqual(['api.cart', 'api.checkout']);
    expect((await keys('?prefix=api%2E')).keys.map((k) => k.key)).toEqual(['api.cart', 'api.checkout', 'api.z']);
    expect((await keys(`?prefix=${encodeURIComponent('odd/name ')}`)).keys.map((k) => k.key)).toEqual(['odd/name ✓']);
    expect((await keys('?prefix=%25')).keys.map((k) => k.key)).toEqual(['%e2%9c%93']);
    expect((await keys('?prefix=ap.')).keys).toEqual([]);
    expect(await keys('?prefix=nothing')).toEqual({ keys: [], truncated: false });
  });

  it('stops at limit and says truncated', async () => {
    expect(await keys('?limit=2')).toEqual({
      keys: [
        { key: '%e2%9c%93', types: ['ms'] },
        { key: 'api.cart', types: ['c', 'g'] },
      ],
      truncated: true,
    });
    expect((await keys('?prefix=api.&limit=3')).truncated).toBe(false);
    expect((await keys('?prefix=api.&limit=2')).truncated).toBe(true);
    expect((await keys(`?limit=${ALL.length}`)).truncated).toBe(false);
    expect((await keys(`?limit=${KEYS_MAX_LIMIT}`)).keys).toHaveLength(ALL.length);
  });
});

describe('bad requests to the day form and /-/keys get problem+json', () => {
  const cases: [title: string, url: string, status: number, code: string, detailPattern: RegExp][] = [
    ['unknown stat', '/q/avg/2026-11-22', 400, 'HG_INVALID_STAT', /average, min, max, median/],
    ['impossible date', '/q/count/2026-02-30', 400, 'HG_INVALID_DATE', /calendar date/],
    ['date without padding', '/q/count/2026-1-1', 400, 'HG_INVALID_DATE', /YYYY-MM-DD/],
    ['key with a pipe', '/a%7Cb/count/2026-11-22', 400, 'HG_INVALID_KEY', /'\|'/],
    ['key too long', `/${'k'.repeat(201)}/count/2026-11-22`, 400, 'HG_INVALID_KEY', /1 to 200 bytes/],
    ['unknown query parameter', '/q/count/2026-11-22?hour=3', 400, 'HG_INVALID_QUERY', /"hour"/],
    ['empty tag', '/q/count/2026-11-22?tag=', 400, 'HG_INVALID_QUERY', /tag ""/],
    ['bad type', '/q/count/2026-11-22?type=timer', 400, 'HG_INVALID_QUERY', /c, g, ms/],
    ['unknown key', '/nothing.here/count/2026-11-22', 404, 'HG_NO_DATA_IN_DAY', /"nothing\.here" on 2026-11-22/],
    ['a day without data', '/api.checkout/count/2026-11-20', 404, 'HG_NO_DATA_IN_DAY', /2026-11-20/],
    ['keys: unknown parameter', '/-/keys?name=a', 400, 'HG_INVALID_QUERY', /"name"/],
    ['keys: limit 0', '/-/keys?limit=0', 400, 'HG_INVALID_QUERY', /1 to 10000/],
    ['keys: limit over the bound', `/-/keys?limit=${KEYS_MAX_LIMIT + 1}`, 400, 'HG_INVALID_QUERY', /1 to 10000/],
    ['keys: limit not a number', '/-/keys?limit=1e3', 400, 'HG_INVALID_QUERY', /whole number/],
    ['keys: negative limit', '/-/keys?limit=-1', 400, 'HG_INVALID_QUERY', /whole number/],
    ['keys: empty limit', '/-/keys?limit=', 400, 'HG_INVALID_QUERY', /whole number/],
    ['keys: limit twice', '/-/keys?limit=1&limit=2', 400, 'HG_INVALID_QUERY', /once/],
    ['keys: prefix twice', '/-/keys?prefix=a&prefix=b', 400, 'HG_INVALID_QUERY', /once/],
    ['keys: prefix with a pipe', '/-/keys?prefix=a%7C', 400, 'HG_INVALID_QUERY', /'\|'/],
    ['keys: prefix with a control character', '/-/keys?prefix=a%0A', 400, 'HG_INVALID_QUERY', /control/],
    ['keys: prefix too long', `/-/keys?prefix=${'k'.repeat(201)}`, 400, 'HG_INVALID_QUERY', /200 bytes/],
  ];
  it.each(cases)('%s: %s', async (_title, url, status, code, detail) => {
    const res = await get(url);
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ status, code, title: PROBLEMS[code as keyof typeof PROBLEMS].title });
    expect(body.detail).toMatch(detail);
  });

  it.each(['/q/count/2026-11-22', '/-/keys'])('POST %s is 405 with Allow', async (url) => {
    const res = await app.inject({ method: 'POST', url });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('both answer 503 with Retry-After and the store error when the store is unreachable', async () => {
    const unreachable = async (): Promise<never> => {
      throw new StoreUnavailableError('connection refused');
    };
    const broken = build({ rows: unreachable, chunks: unreachable, rowsOfDay: unreachable, keys: unreachable, close: async () => undefined });
    for (const url of ['/q/count/2026-11-22', '/-/keys?prefix=a']) {
      const res = await broken.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({ code: 'HG_STORE_UNAVAILABLE', detail: expect.stringMatching(/connection refused/) });
    }
    await broken.close();
  });

  it('a closed SQLite store answers 503 too, not 500', async () => {
    const closed = new SqliteReader(openDatabase(dir));
    await closed.close();
    const broken = build(closed);
    const res = await broken.inject({ method: 'GET', url: '/-/keys' });
    expect(res.statusCode).toBe(503);
    await broken.close();
  });
});
