/**
 * The day form and GET /-/keys (SPEC §4.1) over a real influxd 1.6 (InfluxQL), and the Flux text
 * of the same reads for InfluxDB 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock, exactQuantile } from '../core/index.js';
import { buildQueryApp, createQueryMetrics } from '../query/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { batchOf } from '../test-support/batches.js';
import { startInfluxd, type Influxd } from '../test-support/servers.js';
import { namesFlux, rowsOfNameDayFlux, typesOfNamesFlux } from './flux.js';
import type { InfluxSettings } from './influx-http.js';
import { openInfluxReader } from './influx-reader.js';
import { openInfluxStore } from './influx-store.js';

const DAY = Date.UTC(2026, 10, 22) / 1000;
const clock = new ManualClock((DAY + 21 * 3600 + 1800) * 1000);
// hostile but a StatsD name: no ',', '#' or '[' (those start InfluxDB, Librato and SignalFx tags); commas in names are covered at the store level
const ODD_NAME = 'a b=d\\e"f ✓%';
const HOURS: Record<number, number[]> = { 0: [10, 20, 30], 9: [118, 120.5, 99, 300], 21: [1, 2] };
/** The store's order: byte order of the stored (percent-encoded) names. */
const NAMES = ['a b=d%5Ce"f ✓%25', 'api.cart', 'api.checkout', 'api.z', 'users'];

describe('the day form and /-/keys over InfluxDB 1.6 (InfluxQL)', () => {
  let influx: Influxd;
  let app: ReturnType<typeof buildQueryApp>;

  beforeAll(async () => {
    influx = await startInfluxd();
    const config: InfluxSettings = { url: influx.url, api: 'v1', token: undefined, org: undefined, bucket: undefined, database: 'hg_day' };
    const store = openInfluxStore(config, clock);
    const rollup = new Rollup({ store, writer: 'p0', clock, budget: new SeriesBudget(100_000) });
    const feed = (text: string, hourSec: number) => rollup.apply(batchOf(text, hourSec));
    for (const [h, values] of Object.entries(HOURS)) await feed(values.map((v) => `api.checkout:${v}|ms`).join('\n'), DAY + Number(h) * 3600);
    await feed('api.checkout:999|ms', DAY - 3600);
    await feed('api.checkout:999|ms', DAY + 86_400);
    await feed(`api.cart:1|c\napi.cart:2|g\napi.z:1|d\nusers:alice|s\n${ODD_NAME}:5|ms`, DAY + 5 * 3600);
    await rollup.flush();
    app = buildQueryApp({ reader: openInfluxReader(config), clock, metrics: createQueryMetrics(new Registry()), flushIntervalMs: 1000, maxKeyBytes: 200 });
  });
  afterAll(async () => {
    await app?.close();
    await influx?.dispose();
  });

  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };

  it('answers every hour of the day holding data, and only that day', async () => {
    for (const stat of ['median', 'max', 'count'] as const) {
      const expected = [0, 9, 21].map((h) => {
        const v = HOURS[h];
        const value = stat === 'median' ? exactQuantile(v, null, 0.5) : stat === 'max' ? Math.max(...v) : v.length;
        return { hour: h, value, count: v.length, exact: true, complete: h !== 21 };
      });
      expect(await get(`/api.checkout/${stat}/2026-11-22`)).toEqual({ status: 200, body: { key: 'api.checkout', stat, date: '2026-11-22', hours: expected } });
    }
    expect((await get('/api.checkout/count/2026-11-21')).body.hours).toEqual([{ hour: 23, value: 1, count: 1, exact: true, complete: true }]);
    expect((await get(`/${encodeURIComponent(ODD_NAME)}/sum/2026-11-22`)).body.hours).toEqual([{ hour: 5, value: 5, count: 1, exact: true, complete: true }]);
    expect((await get('/api.check/count/2026-11-22')).body.code).toBe('HG_NO_DATA_IN_DAY');
  });

  it('lists the names from the tag index with their types, by prefix and limit', async () => {
    const all = await get('/-/keys');
    expect(all.body.keys.map((k: { key: string }) => k.key)).toEqual(NAMES.map((n) => n.replace('%5C', '\\').replace('%25', '%')));
    expect(Object.fromEntries(all.body.keys.map((k: { key: string; types: string[] }) => [k.key, k.types]))).toMatchObject({
      'api.cart': ['c', 'g'],
      'api.checkout': ['ms'],
      'api.z': ['d'],
      users: ['s'],
      [ODD_NAME]: ['ms'],
    });
    expect((await get('/-/keys?prefix=api.c')).body).toEqual({ keys: [{ key: 'api.cart', types: ['c', 'g'] }, { key: 'api.checkout', types: ['ms'] }], truncated: false });
    expect((await get('/-/keys?prefix=api.&limit=2')).body.truncated).toBe(true);
    expect((await get('/-/keys?prefix=api.&limit=3')).body.truncated).toBe(false);
    // regex metacharacters in a prefix are plain characters
    expect((await get('/-/keys?prefix=api%5C.')).body.keys).toEqual([]);
    expect((await get('/-/keys?prefix=.*')).body.keys).toEqual([]);
    expect((await get(`/-/keys?prefix=${encodeURIComponent('a b=d\\e"')}`)).body.keys).toEqual([{ key: ODD_NAME, types: ['ms'] }]);
    expect((await get('/-/keys?prefix=nothing')).body).toEqual({ keys: [], truncated: false });
  });

  it('answers 503 while influxd is down', async () => {
    await influx.process.stop('SIGKILL');
    try {
      for (const url of ['/-/keys', '/api.checkout/count/2026-11-22']) expect((await get(url)).status).toBe(503);
    } finally {
      await influx.restart();
    }
    expect((await get('/-/keys?limit=1')).status).toBe(200);
  });
});

describe('Flux text of the day form and /-/keys', () => {
  const HOSTILE = 'x") |> drop() //';
  /** The query with every string literal emptied: what a value must never change. */
  const skeleton = (query: string) => query.replace(/"(?:\\.|[^"\\])*"/g, '""');

  it('rows of a name over a day', () => {
    expect(rowsOfNameDayFlux('hourglass', 'api.checkout', DAY).toString()).toBe(
      `from(bucket: "hourglass")
  |> range(start: time(v: "2026-11-22T00:00:00.000000000Z"), stop: time(v: "2026-11-23T00:00:00.000000000Z"))
  |> filter(fn: (r) => r._measurement == "rollup" and r.name == "api.checkout")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
    );
  });

  it('names by prefix from the tag index, the empty prefix kept empty', () => {
    expect(namesFlux('hourglass', 'api.', 11).toString()).toBe(
      `import "influxdata/influxdb/schema"
import "strings"
schema.tagValues(bucket: "hourglass", tag: "name", start: time(v: "1970-01-01T00:00:00.000000000Z"),
  predicate: (r) => r._measurement == "rollup" and strings.hasPrefix(v: r.name, prefix: "api."))
  |> sort()
  |> limit(n: 11)`,
    );
    expect(namesFlux('hourglass', '', 1).toString()).toContain('prefix: ""');
    expect(namesFlux('hourglass', 'x\\%', 1).toString()).toContain('prefix: "x%5C%25"');
  });

  it('types of names: one tagValues per name, a union of several', () => {
    const one = typesOfNamesFlux('hourglass', ['api.checkout']).toString();
    expect(one).not.toContain('union');
    expect(one).toContain('predicate: (r) => r._measurement == "rollup" and r.name == "api.checkout")');
    expect(one).toContain('|> map(fn: (r) => ({name: "api.checkout", type: r._value}))');
    const two = typesOfNamesFlux('hourglass', ['a', 'b']).toString();
    expect(two).toMatch(/^import "influxdata\/influxdb\/schema"\nunion\(tables: \[schema\.tagValues\(/);
    expect(two.match(/schema\.tagValues\(/g)).toHaveLength(2);
  });

  it('a hostile name or prefix stays a string literal', () => {
    expect(skeleton(rowsOfNameDayFlux('b', HOSTILE, DAY).toString())).toBe(skeleton(rowsOfNameDayFlux('b', 'plain', DAY).toString()));
    expect(skeleton(namesFlux('b', HOSTILE, 5).toString())).toBe(skeleton(namesFlux('b', 'plain', 5).toString()));
    expect(skeleton(typesOfNamesFlux('b', [HOSTILE, 'x']).toString())).toBe(skeleton(typesOfNamesFlux('b', ['plain', 'x']).toString()));
  });
});
