import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ManualClock, exactQuantile } from '../core/index.js';
import { buildQueryApp, createQueryMetrics } from '../query/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { batchOf } from '../test-support/batches.js';
import { startInfluxd, type Influxd } from '../test-support/servers.js';
import { rowsOfNameHourFlux } from './flux.js';
import type { InfluxSettings as InfluxConfig } from './influx-http.js';
import { encodeTagValue } from './influx-line-protocol.js';
import { openInfluxReader } from './influx-reader.js';
import { openInfluxStore } from './influx-store.js';
import { StoreRejectedError, StoreUnavailableError, type RollupRow } from './schema.js';
import { recordingServer } from '../test-support/recording-server.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
const clock = new ManualClock(H * 1000 + 30 * 60_000);
const TIMER_VALUES = [118, 120.5, 99, 300, 118, 42, 77.25, 150];
// hostile but a StatsD name: no ',', '#' or '[' (those start InfluxDB, Librato and SignalFx tags); commas in names are covered at the store level
const ODD_NAME = 'a b=d\\e"f ✓';

describe('the query API over InfluxDB 1.6 (InfluxQL)', () => {
  let influx: Influxd;
  let app: ReturnType<typeof buildQueryApp>;

  beforeAll(async () => {
    influx = await startInfluxd();
    const config: InfluxConfig = { url: influx.url, api: 'v1', token: undefined, org: undefined, bucket: undefined, database: 'hg_query' };
    const text = [
      ...TIMER_VALUES.map((v, i) => `api.checkout:${v}|ms|#route:${i % 2 ? 'pay' : 'cart'},env:prod`),
      ...TIMER_VALUES.map((v) => `${ODD_NAME}:${v * 2}|ms`),
      'users:alice|s\nusers:bob|s\nusers:alice|s\nusers:x "y"|s',
      // one hour later: must not show in hour 21
      `api.checkout:1000|ms|T${H + 3600}`,
    ].join('\n');
    const store = openInfluxStore(config, clock);
    const rollup = new Rollup({ store, writer: 'p0', clock, budget: new SeriesBudget(100_000) });
    await rollup.apply(batchOf(text, H));
    await rollup.flush();
    app = buildQueryApp({ reader: openInfluxReader(config), clock, metrics: createQueryMetrics(new Registry()), flushIntervalMs: 1000, maxKeyBytes: 200 });
  });
  afterAll(async () => {
    await app?.close();
    await influx?.dispose();
  });

  const get = async (key: string, stat: string, query = '') => {
    const res = await app.inject({ method: 'GET', url: `/${encodeURIComponent(key)}/${stat}/2026-11-22/21${query}` });
    return { status: res.statusCode, body: res.json() as Record<string, unknown>, headers: res.headers };
  };

  it('answers every statistic from the stored rows and raw values', async () => {
    expect((await get('api.checkout', 'median')).body).toMatchObject({ value: exactQuantile(TIMER_VALUES, null, 0.5), count: 8, exact: true });
    expect((await get('api.checkout', 'p90')).body).toMatchObject({ value: exactQuantile(TIMER_VALUES, null, 0.9), exact: true });
    expect((await get('api.checkout', 'max')).body).toMatchObject({ value: 300 });
    expect((await get('api.checkout', 'average')).body).toMatchObject({ value: TIMER_VALUES.reduce((a, b) => a + b) / 8 });
    const pay = TIMER_VALUES.filter((_, i) => i % 2 === 1);
    expect((await get('api.checkout', 'median', '?tag=route:pay')).body).toMatchObject({ value: exactQuantile(pay, null, 0.5), count: 4 });
    expect((await get(ODD_NAME, 'sum')).body).toMatchObject({ key: ODD_NAME, value: 2 * TIMER_VALUES.reduce((a, b) => a + b) });
    expect((await get('users', 'count')).body).toMatchObject({ value: 3, exact: true });
  });

  it('matches names exactly: a prefix, a pattern or an injection finds nothing', async () => {
    for (const key of ['api', 'api.checkou', 'api.checkout ', 'a b', '.*', 'api.checkout" OR "name" =~ /.*/ --', "api.checkout' OR 1=1 --"]) {
      const res = await get(key, 'count');
      expect({ key, status: res.status, code: res.body.code }).toEqual({ key, status: 404, code: 'HG_NO_DATA' });
    }
  });

  it('answers 503 with Retry-After within 5 s while influxd is down', async () => {
    await influx.process.stop('SIGKILL');
    try {
      const started = Date.now();
      const res = await get('api.checkout', 'median');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body.code).toBe('HG_STORE_UNAVAILABLE');
    } finally {
      await influx.restart();
    }
    expect((await get('api.checkout', 'count')).body).toMatchObject({ value: 8 });
  });
});

/** Annotated CSV as InfluxDB 2 answers a Flux query: each table with its own header. */
function annotatedCsv(tables: { columns: [label: string, type: string][]; rows: string[][] }[]): string {
  const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return tables
    .map((t, id) =>
      [
        `#datatype,string,long,${t.columns.map((c) => c[1]).join(',')}`,
        `#group,false,false,${t.columns.map((c) => (c[1] === 'string' && !['sketch', 'vals', 'weights', 'members'].includes(c[0]))).join(',')}`,
        `#default,_result,,${t.columns.map(() => '').join(',')}`,
        `,result,table,${t.columns.map((c) => c[0]).join(',')}`,
        ...t.rows.map((r) => `,,${id},${r.map(cell).join(',')}`),
      ].join('\r\n'),
    )
    .join('\r\n\r\n')
    .concat('\r\n\r\n');
}

const KEY_COLUMNS: [string, string][] = [
  ['_start', 'dateTime:RFC3339'],
  ['_stop', 'dateTime:RFC3339'],
  ['_time', 'dateTime:RFC3339'],
  ['_measurement', 'string'],
  ['name', 'string'],
  ['tagset', 'string'],
  ['type', 'string'],
  ['writer', 'string'],
];

const keyCells = (r: { name: string; tags: string; type: string; writer: string }, time: string, measurement = 'rollup') => [
  '2026-11-22T21:00:00Z',
  '2026-11-22T22:00:00Z',
  time,
  measurement,
  encodeTagValue(r.name),
  encodeTagValue(r.tags),
  r.type,
  encodeTagValue(r.writer),
];

/** A server answering the queued answers in turn, recording each request. */
async function fakeInflux2(answers: { status: number; body: string }[]) {
  const server = await recordingServer(() => {
    const answer = answers.shift() ?? { status: 500, body: 'no answer queued' };
    return { ...answer, contentType: answer.status === 200 ? 'text/csv; charset=utf-8' : 'application/json' };
  });
  const config: InfluxConfig = { url: server.url, api: 'v2', token: 'secret', org: 'my org', bucket: 'hour&glass', database: undefined };
  return { reader: openInfluxReader(config), requests: server.requests, close: server.close };
}

const row = (p: Partial<RollupRow>): RollupRow => ({
  name: ODD_NAME,
  hourSec: H,
  tags: '',
  type: 'ms',
  writer: 'p0',
  count: 12.5,
  n: 7,
  sum: 0.1,
  min: -3,
  max: 1e300,
  last: NaN,
  sketch: Uint8Array.from([0, 1, 2, 250]),
  chunks: 2,
  seq: 41,
  updatedMs: 1_795_383_000_123,
  ...p,
});

describe('the Flux reader (InfluxDB 2 API, against a fake server)', () => {
  it('sends the Flux query with the token and org, and decodes pivoted rows', async () => {
    const plain = row({});
    const gauge = row({ tags: 'env:prod,route:/pay', type: 'g', writer: 'p 1', last: -4.5, min: 1, max: 2 });
    const fieldCells = (r: RollupRow) => [String(r.chunks), String(r.count), String(r.max), String(r.min), String(r.n), String(r.seq), Buffer.from(r.sketch).toString('base64'), String(r.sum), String(r.updatedMs)];
    const fields: [string, string][] = [
      ['chunks', 'long'],
      ['count', 'double'],
      ['max', 'double'],
      ['min', 'double'],
      ['n', 'long'],
      ['seq', 'long'],
      ['sketch', 'string'],
      ['sum', 'double'],
      ['updated_ms', 'long'],
    ];
    const csv = annotatedCsv([
      { columns: [...KEY_COLUMNS, ...fields], rows: [[...keyCells(plain, '2026-11-22T21:00:00Z'), ...fieldCells(plain)]] },
      { columns: [...KEY_COLUMNS, ...fields, ['last', 'double']], rows: [[...keyCells(gauge, '2026-11-22T21:00:00Z'), ...fieldCells(gauge), '-4.5']] },
    ]);
    const fake = await fakeInflux2([{ status: 200, body: csv }]);
    try {
      expect(await fake.reader.rows(ODD_NAME, H)).toEqual([plain, gauge]);
      const [request] = fake.requests;
      expect(request.url).toBe('/api/v2/query?org=my+org');
      expect(request.headers.authorization).toBe('Token secret');
      expect(JSON.parse(request.body)).toEqual({
        query: rowsOfNameHourFlux('hour&glass', ODD_NAME, H).toString(),
        type: 'flux',
        dialect: { header: true, delimiter: ',', annotations: ['datatype', 'group', 'default'], dateTimeFormat: 'RFC3339Nano' },
      });
    } finally {
      await fake.close();
    }
  });

  it('decodes chunks per row in order, without chunks past a row count', async () => {
    const a = row({ chunks: 2 });
    const s = row({ type: 's', chunks: 1 });
    const floats = (...v: number[]) => Buffer.from(Float64Array.from(v).buffer).toString('base64');
    const csv = annotatedCsv([
      {
        columns: [...KEY_COLUMNS, ['vals', 'string'], ['weights', 'string']],
        rows: [
          [...keyCells(a, '2026-11-22T21:00:00.000000001Z', 'rollup_raw'), floats(3, 4), floats(0.5, 10)],
          [...keyCells(a, '2026-11-22T21:00:00Z', 'rollup_raw'), floats(1, 2), ''],
          [...keyCells(a, '2026-11-22T21:00:00.000000002Z', 'rollup_raw'), floats(666), ''],
        ],
      },
      { columns: [...KEY_COLUMNS, ['members', 'string']], rows: [[...keyCells(s, '2026-11-22T21:00:00Z', 'rollup_raw'), JSON.stringify(['a,"b"', 'ü'])]] },
    ]);
    const fake = await fakeInflux2([{ status: 200, body: csv }]);
    try {
      const chunks = await fake.reader.chunks([s, a]);
      expect(chunks.map((c) => [c.type, c.chunk, [...c.values], c.weights && [...c.weights], c.members])).toEqual([
        ['s', 0, [], null, ['a,"b"', 'ü']],
        ['ms', 0, [1, 2], null, null],
        ['ms', 1, [3, 4], [0.5, 10], null],
      ]);
      expect(fake.requests).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });

  it('reads the last gauge value and the watermark', async () => {
    const fake = await fakeInflux2([
      { status: 200, body: annotatedCsv([{ columns: [['_time', 'dateTime:RFC3339'], ['last', 'double'], ['updated_ms', 'long']], rows: [['2026-11-22T20:00:00Z', '17.25', '5']] }]) },
      { status: 200, body: '\r\n' },
      { status: 200, body: annotatedCsv([{ columns: [['_time', 'dateTime:RFC3339'], ['_value', 'long'], ['writer', 'string']], rows: [['2026-11-22T20:00:00Z', '1234', 'p0']] }]) },
    ]);
    try {
      const store = fake.reader;
      expect(await store.lastGauge('g', '', H)).toBe(17.25);
      expect(await store.lastGauge('g', '', H)).toBeUndefined();
      expect(await store.watermark('p0')).toBe(1234);
    } finally {
      await fake.close();
    }
  });

  it('sorts failures: an error table or a 400 is rejected, a 503 or a refused connection unavailable', async () => {
    const errorTable = '#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n,error,reference\r\n,query terminated: reached maximum allowed memory limits,576\r\n\r\n';
    const fake = await fakeInflux2([
      { status: 200, body: errorTable },
      { status: 400, body: '{"code":"invalid","message":"compilation failed"}' },
      { status: 503, body: '{"code":"unavailable","message":"starting"}' },
      { status: 429, body: '' },
    ]);
    await expect(fake.reader.rows('x', H)).rejects.toThrow(StoreRejectedError);
    await expect(fake.reader.rows('x', H)).rejects.toThrow(/HTTP 400.*compilation failed/);
    await expect(fake.reader.rows('x', H)).rejects.toThrow(StoreUnavailableError);
    await expect(fake.reader.rows('x', H)).rejects.toThrow(StoreUnavailableError);
    await fake.close();
    const started = Date.now();
    await expect(fake.reader.rows('x', H)).rejects.toThrow(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
