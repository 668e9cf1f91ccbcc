import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BucketHistogram, ManualClock, bucketQuantile, isBucketHistogram } from '../core/index.js';
import { decodeBatch, encodeBatch } from '../bus/index.js';
import { BatchBuilder } from '../gateway/index.js';
import { STATS, computeStatistic, rowsAreExact, type Stat } from '../query/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { batchOf as linesToBatch } from '../test-support/batches.js';
import { openInfluxReader, type InfluxReads } from './influx-reader.js';
import type { InfluxSettings as InfluxConfig } from './influx-http.js';
import { startInfluxd, type Influxd } from '../test-support/servers.js';
import { chunkLine, decodeTagValue, encodeTagValue, rowLine } from './influx-line-protocol.js';
import { StoreRejectedError } from './schema.js';
import { bodies, openInfluxStore, type InfluxStore } from './influx-store.js';
import { recordingServer } from '../test-support/recording-server.js';
import { StoreUnavailableError, type RawChunk, type RollupReader, type RollupRow, type RollupStore } from './schema.js';
import { SqliteStore, openDatabase } from './sqlite-store.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
const clock = new ManualClock(H * 1000 + 30 * 60_000);
/** Names a StatsD line may carry, and a few it may not, which the store must keep all the same. */
const HOSTILE_NAMES = [
  'api.checkout',
  'a b,c=d',
  'say "hi" \'there\'',
  'back\\slash\\',
  'trailing\\',
  '\\,\\ \\=',
  'uni ✓ 名前 🚀',
  'x") |> drop() //',
  "x' OR 1=1 --",
  '%none',
  '%25 %5C',
  'ctrl\u0001\ttab\nnewline',
];

let influx: Influxd;
let databases = 0;

beforeAll(async () => {
  influx = await startInfluxd();
});
afterAll(async () => {
  await influx?.dispose();
});

const v1 = (database: string, url = influx.url): InfluxConfig => ({ url, api: 'v1', token: undefined, org: undefined, bucket: undefined, database });

/** A store and reader on a database of their own, created by the store's first write. */
function fresh(): { store: InfluxStore; reader: InfluxReads; database: string } {
  const database = `hg_store_${++databases}`;
  return { store: openInfluxStore(v1(database), clock), reader: openInfluxReader(v1(database)), database };
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function row(p: Partial<RollupRow> = {}): RollupRow {
  return {
    name: 'api.checkout',
    hourSec: H,
    tags: '',
    type: 'ms',
    writer: 'p0',
    count: 12.5,
    n: 7,
    sum: 1234.0625,
    min: 0.1,
    max: 1e300,
    last: NaN,
    sketch: bytes(300, 1),
    chunks: 2,
    seq: 9007199254740991,
    updatedMs: 1_795_383_000_123,
    ...p,
  };
}

function chunk(p: Partial<RawChunk> = {}): RawChunk {
  return {
    name: 'api.checkout',
    hourSec: H,
    tags: '',
    type: 'ms',
    writer: 'p0',
    chunk: 0,
    values: Float64Array.from([1.5, -0, 5e-324, 1.7976931348623157e308, 118]),
    weights: null,
    members: null,
    ...p,
  };
}

const order = (a: { writer: string; tags: string; type: string }, b: { writer: string; tags: string; type: string }) =>
  `${a.writer}\u0000${a.tags}\u0000${a.type}`.localeCompare(`${b.writer}\u0000${b.tags}\u0000${b.type}`);

async function post(url: string, body: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', body });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

describe('schema mapping', () => {
  it.each(HOSTILE_NAMES.concat(['', 'plain']))('tag values survive encoding: %j', (value) => {
    const stored = encodeTagValue(value);
    expect(stored).not.toMatch(/[\\\n\r]|^$/);
    expect(decodeTagValue(stored)).toBe(value);
  });

  it('writes the documented line protocol', () => {
    const r = row({ name: 'a b,c=d\\e', tags: '', last: NaN, min: Infinity, sketch: Uint8Array.from([1, 2, 3]), count: 2, sum: 0.1, max: 3, n: 2, chunks: 1, seq: 5, updatedMs: 7 });
    expect(rowLine(r)).toBe(
      'rollup,name=a\\ b\\,c\\=d%5Ce,tagset=%none,type=ms,writer=p0 count=2,sum=0.1,max=3,n=2i,sketch="AQID",chunks=1i,seq=5i,updated_ms=7i 1795381200000000000',
    );
    expect(chunkLine(chunk({ chunk: 3, values: Float64Array.from([1]), tags: 'env:prod,route:/pay' }))).toBe(
      'rollup_raw,name=api.checkout,tagset=env:prod\\,route:/pay,type=ms,writer=p0 vals="AAAAAAAA8D8=",weights="" 1795381200000000003',
    );
    expect(chunkLine(chunk({ type: 's', values: new Float64Array(0), members: ['a"b', 'c\\d'] }))).toBe(
      'rollup_raw,name=api.checkout,tagset=%none,type=s,writer=p0 members="[\\"a\\\\\\"b\\",\\"c\\\\\\\\d\\"]" 1795381200000000000',
    );
  });

  it('splits a write into bodies under the size limit, a longer line alone', () => {
    expect(bodies(['aaaa', 'bbbb', 'cc', 'dddddddddddd', 'e'], 10)).toEqual(['aaaa\nbbbb', 'cc', 'dddddddddddd', 'e']);
    expect(bodies([], 10)).toEqual([]);
    expect(bodies(['a', 'b', 'c', 'd', 'e'], 100, 2)).toEqual(['a\nb', 'c\nd', 'e']);
  });
});

describe('InfluxDB 1.6 over the v1 API', () => {
  it('reads back every field of rows and chunks exactly, whatever the name', async () => {
    const { store, reader } = fresh();
    const rows: RollupRow[] = [];
    const chunks: RawChunk[] = [];
    HOSTILE_NAMES.forEach((name, i) => {
      rows.push(
        row({ name, tags: '', writer: 'p0', sketch: bytes(50 + i, i) }),
        row({ name, tags: `env:prod,k:${name}`, writer: 'p 1,"x"', type: 'h', last: NaN, count: 3, n: 3 }),
        row({ name, tags: 'g', type: 'g', last: -42.125 }),
        row({ name, tags: '', type: 's', writer: 'p0', min: NaN, max: NaN, sum: 0, count: 3, n: 3, chunks: 1 }),
      );
      chunks.push(
        chunk({ name, chunk: 0 }),
        chunk({ name, chunk: 1, values: Float64Array.from([2, 3]), weights: Float64Array.from([10, 0.5]) }),
        chunk({ name, tags: `env:prod,k:${name}`, writer: 'p 1,"x"', type: 'h', chunk: 0, values: Float64Array.from([7]) }),
        chunk({ name, tags: '', type: 's', values: new Float64Array(0), members: [name, 'a"b\\c', 'ünï', ''] }),
      );
    });
    await store.write(rows, chunks);
    for (const name of HOSTILE_NAMES) {
      const expected = rows.filter((r) => r.name === name).sort(order);
      const got = (await reader.rows(name, H)).sort(order);
      expect(got).toEqual(expected);
      expect(got.find((r) => r.type === 'g')?.last).toBe(-42.125);
      expect(Number.isNaN(got.find((r) => r.type === 's')?.min)).toBe(true);
      // chunks come back per row, in chunk order, with weights null where they were
      expect(await reader.chunks(got)).toEqual(got.flatMap((r) => chunks.filter((c) => c.name === name && c.tags === r.tags && c.writer === r.writer && c.type === r.type)));
    }
    expect(await reader.rows('api', H)).toEqual([]);
    expect(await reader.rows('api.checkout', H + 3600)).toEqual([]);
    expect(await reader.rows('api.checkout', H - 3600)).toEqual([]);
  });

  it('a rewrite overwrites: one row, the last counts, no stale weights', async () => {
    const { store, reader } = fresh();
    await store.write([row({ count: 1, n: 1, chunks: 1 })], [chunk({ values: Float64Array.from([1, 2]), weights: Float64Array.from([3, 4]) })]);
    await store.write([row({ count: 2, n: 2, chunks: 1 })], [chunk({ values: Float64Array.from([5]), weights: null })]);
    const rows = await reader.rows('api.checkout', H);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ count: 2, n: 2 });
    expect(await reader.chunks(rows)).toEqual([chunk({ values: Float64Array.from([5]), weights: null })]);
  });

  it('loadRows finds each key of one writer, undefined elsewhere', async () => {
    const { store } = fresh();
    const mine = [row({ tags: 'a:1' }), row({ tags: '', type: 'c' }), row({ name: 'b', hourSec: H - 3600 }), row({ name: 'a b,c=d\\e"f', tags: 'x' })];
    await store.write([...mine, row({ tags: 'a:1', writer: 'p1', count: 99 })], []);
    const keys = [
      { name: 'api.checkout', tags: 'a:1', type: 'ms' as const, hourSec: H },
      { name: 'api.checkout', tags: 'a:2', type: 'ms' as const, hourSec: H },
      { name: 'api.checkout', tags: '', type: 'c' as const, hourSec: H },
      { name: 'b', tags: '', type: 'ms' as const, hourSec: H - 3600 },
      { name: 'b', tags: '', type: 'ms' as const, hourSec: H },
      { name: 'a b,c=d\\e"f', tags: 'x', type: 'ms' as const, hourSec: H },
    ];
    expect(await store.loadRows(keys, 'p0')).toEqual([mine[0], undefined, mine[1], mine[2], undefined, mine[3]]);
    expect((await store.loadRows(keys.slice(0, 1), 'p1'))[0]?.count).toBe(99);
    expect(await store.loadRows(keys.slice(0, 1), 'p9')).toEqual([undefined]);
    // more keys than one request holds
    const many = Array.from({ length: 250 }, (_, i) => ({ name: `m${i}`, tags: '', type: 'ms' as const, hourSec: H }));
    await store.write(many.filter((_, i) => i % 3 === 0).map((k) => row({ name: k.name })), []);
    const loaded = await store.loadRows(many, 'p0');
    expect(loaded.map((r) => r?.name)).toEqual(many.map((k, i) => (i % 3 === 0 ? k.name : undefined)));
  });

  it('lastGauge: the latest earlier hour with a value, the latest update on a tie', async () => {
    const { store } = fresh();
    await store.write(
      [
        row({ name: 'g', type: 'g', tags: 't', hourSec: H - 3 * 3600, last: 5 }),
        row({ name: 'g', type: 'g', tags: 't', hourSec: H - 2 * 3600, writer: 'p0', last: 6, updatedMs: 200 }),
        row({ name: 'g', type: 'g', tags: 't', hourSec: H - 2 * 3600, writer: 'p1', last: 7, updatedMs: 300 }),
        row({ name: 'g', type: 'g', tags: 't', hourSec: H - 2 * 3600, writer: 'p2', last: 8, updatedMs: 100 }),
        row({ name: 'g', type: 'g', tags: 't', hourSec: H - 3600, writer: 'p3', last: NaN, updatedMs: 900 }),
        row({ name: 'g', type: 'ms', tags: 't', hourSec: H - 3600, last: 1 }),
        row({ name: 'g', type: 'g', tags: 'other', hourSec: H - 3600, last: 2 }),
        row({ name: 'g', type: 'g', tags: 't', hourSec: H, last: 3 }),
      ],
      [],
    );
    expect(await store.lastGauge('g', 't', H)).toBe(7);
    expect(await store.lastGauge('g', 't', H + 3600)).toBe(3);
    expect(await store.lastGauge('g', 't', H - 2 * 3600)).toBe(5);
    expect(await store.lastGauge('g', 't', H - 3 * 3600)).toBeUndefined();
    expect(await store.lastGauge('g', 'other', H)).toBe(2);
    expect(await store.lastGauge('g', '', H)).toBeUndefined();
  });

  it('chunks of several rows, and loadMembers; chunks past a row count are not its own', async () => {
    const { store, reader } = fresh();
    const rows = [row({ tags: 'a', chunks: 3 }), row({ tags: 'b', writer: 'p1', chunks: 1 }), row({ tags: 'c', chunks: 0 }), row({ type: 's', chunks: 2 })];
    const chunks = [
      chunk({ tags: 'a', chunk: 2, values: Float64Array.from([3]) }),
      chunk({ tags: 'a', chunk: 0, values: Float64Array.from([1]) }),
      chunk({ tags: 'a', chunk: 1, values: Float64Array.from([2]), weights: Float64Array.from([4]) }),
      chunk({ tags: 'a', chunk: 3, values: Float64Array.from([666]) }), // a crash left it: the row counts 3
      chunk({ tags: 'b', writer: 'p1', chunk: 0, values: Float64Array.from([9]) }),
      chunk({ type: 's', chunk: 0, values: new Float64Array(0), members: ['x', 'y'] }),
      chunk({ type: 's', chunk: 1, values: new Float64Array(0), members: ['z'] }),
    ];
    await store.write(rows, chunks);
    const got = await reader.chunks(rows);
    expect(got.map((c) => [c.tags, c.writer, c.type, c.chunk, [...c.values]])).toEqual([
      ['a', 'p0', 'ms', 0, [1]],
      ['a', 'p0', 'ms', 1, [2]],
      ['a', 'p0', 'ms', 2, [3]],
      ['b', 'p1', 'ms', 0, [9]],
      ['', 'p0', 's', 0, []],
      ['', 'p0', 's', 1, []],
    ]);
    expect(await store.loadMembers(rows[3])).toEqual(['x', 'y', 'z']);
  });

  it('keeps a watermark per writer', async () => {
    const { store } = fresh();
    await store.write([row()], []);
    expect(await store.loadWatermark('p0')).toBe(0);
    await store.write([], [], { writer: 'p0', seq: 5 });
    await store.write([row()], [], { writer: 'p0', seq: 9 });
    clock.advance(3600_000); // a new hour: a new point
    await store.write([], [], { writer: 'p0', seq: 12 });
    clock.advance(-3600_000);
    await store.write([], [], { writer: 'p 1,"x"', seq: 3 });
    expect(await store.loadWatermark('p0')).toBe(12);
    expect(await store.loadWatermark('p 1,"x"')).toBe(3);
    expect(await store.loadWatermark('p2')).toBe(0);
  });

  it('countRows: the rows of one writer in one hour, chunks and other writers and hours aside (MAX_SERIES_PER_HOUR after a restart)', async () => {
    const { store } = fresh();
    expect(await store.countRows(H, 'p0')).toBe(0);
    await store.write(
      [row(), row({ name: 'b' }), row({ tags: 'k:v' }), row({ type: 'c' }), row({ writer: 'p 1,"x"' }), row({ hourSec: H + 3600 })],
      [chunk(), chunk({ chunk: 1 })],
    );
    await store.write([row()], []); // a rewrite is the same row
    expect(await store.countRows(H, 'p0')).toBe(4);
    expect(await store.countRows(H, 'p 1,"x"')).toBe(1);
    expect(await store.countRows(H + 3600, 'p0')).toBe(1);
    expect(await store.countRows(H - 3600, 'p0')).toBe(0);
  });

  it('a database that does not exist yet holds nothing, and the first write creates it', async () => {
    const { store, reader } = fresh();
    expect(await reader.rows('x', H)).toEqual([]);
    expect(await store.loadRows([row({ name: 'x' }), row({ name: 'y' })], 'p0')).toEqual([undefined, undefined]);
    expect(await store.lastGauge('x', '', H)).toBeUndefined();
    expect(await store.loadWatermark('p0')).toBe(0);
    await store.write([row({ name: 'x' })], []);
    expect(await reader.rows('x', H)).toHaveLength(1);
  });

  it('a point InfluxDB refuses is a StoreRejectedError', async () => {
    const { store, database } = fresh();
    // `n` already exists as a float in this shard: an integer n is a field type conflict
    await post(`${influx.url}/query?${new URLSearchParams({ q: 'CREATE DATABASE $d', params: JSON.stringify({ d: { identifier: database } }) })}`, '');
    await post(`${influx.url}/write?db=${database}`, `rollup,name=x,tagset=%none,type=ms,writer=p0 n=1.5 ${H}000000000`);
    const err = await store.write([row({ name: 'x' })], []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreRejectedError);
    expect(err).toMatchObject({ name: 'StoreRejectedError', code: 'HG_ERR_STORE_REJECTED' });
    expect((err as Error).message).toContain('field type conflict');
  });
});

/** An HTTP server answering every request with `status`, recording what it got. */
function fakeInflux(status: number, answer = '') {
  return recordingServer(() => ({ status, body: answer }));
}

const v2 = (url: string): InfluxConfig => ({ url, api: 'v2', token: 't0k"en', org: 'my org', bucket: 'hour&glass', database: undefined });

describe('the v2 write path', () => {
  it('POSTs the same line protocol to /api/v2/write with the token, chunks first, watermark last', async () => {
    const fake = await fakeInflux(204);
    try {
      const store = openInfluxStore(v2(`${fake.url}/prefix/`), clock);
      const rows = [row(), row({ tags: 'k:v' })];
      const chunks = [chunk()];
      await store.write(rows, chunks, { writer: 'p0', seq: 77 });
      expect(fake.requests).toHaveLength(2);
      const [data, watermark] = fake.requests;
      expect(data.url).toBe('/prefix/api/v2/write?org=my+org&bucket=hour%26glass&precision=ns');
      expect(data.headers.authorization).toBe('Token t0k"en');
      expect(data.body).toBe([chunkLine(chunks[0]), rowLine(rows[0]), rowLine(rows[1])].join('\n'));
      expect(watermark.body).toBe(`rollup_watermark,writer=p0 seq=77i ${H}000000000`);
    } finally {
      await fake.close();
    }
  });
});

describe('errors', () => {
  it.each([
    [503, StoreUnavailableError],
    [500, StoreUnavailableError],
    [429, StoreUnavailableError],
    [401, StoreUnavailableError],
    [404, StoreUnavailableError],
    [400, StoreRejectedError],
    [413, StoreRejectedError],
    [422, StoreRejectedError],
  ])('HTTP %i on a write is %o, for both APIs', async (status, expected) => {
    const fake = await fakeInflux(status, '{"error":"nope"}');
    try {
      for (const config of [v1('db', fake.url), v2(fake.url)]) {
        const err = await openInfluxStore(config, clock).write([row()], []).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(expected);
        expect((err as Error).message).toContain(`HTTP ${status}`);
      }
    } finally {
      await fake.close();
    }
  });

  it('a server that accepts but never answers is unavailable after the deadline, within 5 s', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const started = Date.now();
      const err = await openInfluxStore(v1('db', url), clock).write([row()], []).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toContain('no answer within 4000 ms');
      expect(elapsed).toBeGreaterThanOrEqual(3900);
      expect(elapsed).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('a killed influxd is unavailable within 5 s for writes and reads, and back after a restart', async () => {
    const { store, reader } = fresh();
    await store.write([row()], [chunk()]);
    await influx.process.stop('SIGKILL');
    try {
      for (const attempt of [() => store.write([row()], []), () => reader.rows('api.checkout', H), () => store.loadRows([row()], 'p0'), () => store.loadWatermark('p0')]) {
        const started = Date.now();
        await expect(attempt()).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(Date.now() - started).toBeLessThan(5000);
      }
    } finally {
      await influx.restart();
    }
    expect(await reader.rows('api.checkout', H)).toHaveLength(1);
  });
});

/** StatsD text through the real parser and the bus codec, as the gateway would send it. */
const batchOf = (text: string, receiveHourSec = H) => linesToBatch(text, receiveHourSec);

async function statistics(reader: RollupReader, name: string, hourSec: number) {
  const rows = await reader.rows(name, hourSec);
  if (rows.length === 0) return undefined;
  const chunks = rowsAreExact(rows) ? await reader.chunks(rows) : null;
  const stats: Stat[] = rows[0].type === 's' ? ['count'] : [...STATS];
  return Object.fromEntries(stats.map((s) => [s, computeStatistic(s, rows, chunks)]));
}

describe('end to end: the rollup over InfluxDB answers as over SQLite', () => {
  it('gives the same statistics for the same StatsD input', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-influx-e2e-'));
    const sqlite = new SqliteStore(openDatabase(dir));
    const { store: influxStore, reader: influxReader } = fresh();
    const name = (i: number) => ['lat', 'a b=d\\e"f ✓', 'x") or true // \' OR 1=1 --'][i % 3];
    const big = Array.from({ length: 12_000 }, (_, i) => `big:${1 + ((i * 7919) % 5000) / 10}|ms`);
    // flushes of several writers, with restarts (new Rollup objects continue from the store)
    const script: { writer: string; text: string; hourSec?: number }[] = [
      { writer: 'p0', text: Array.from({ length: 300 }, (_, i) => `${name(i)}:${(i * 37) % 101}|ms|#route:${i % 2 ? 'pay' : 'cart'}`).join('\n') },
      { writer: 'p1', text: `lat:5|ms|@0.1\nlat:7|ms|@0.5|#route:pay\nhits:1|c|@0.1\nhits:2|c\ng:10|g\ng:+5|g\nu:a|s\nu:b|s` },
      { writer: 'p0', text: `g:-3|g\nu:a|s\nu:c "q"|s\nhits:3|c|#env:prod\n${name(1)}:0.001|ms` },
      { writer: 'p0', text: big.slice(0, 6000).join('\n') },
      { writer: 'p1', text: big.slice(6000).join('\n') },
      { writer: 'p0', text: 'g:+1|g\nu:d|s\nlat:1e-05|ms', hourSec: H + 3600 },
      { writer: 'p1', text: 'g:+2|g', hourSec: H + 7200 },
    ];
    const startMs = clock.nowMs();
    try {
      for (const store of [sqlite, influxStore] as RollupStore[]) {
        clock.set(startMs);
        for (const step of script) {
          clock.advance(1000); // updated_ms orders the writers' gauge values
          const rollup = new Rollup({ store, writer: step.writer, clock, budget: new SeriesBudget(100_000) });
          await rollup.apply(batchOf(step.text, step.hourSec ?? H));
          await rollup.flush();
        }
      }
      let compared = 0;
      for (const hourSec of [H, H + 3600, H + 7200]) {
        for (const key of ['lat', name(1), name(2), 'hits', 'g', 'u', 'big']) {
          const expected = await statistics(sqlite, key, hourSec);
          expect({ key, hourSec, stats: await statistics(influxReader, key, hourSec) }).toEqual({ key, hourSec, stats: expected });
          if (expected !== undefined) compared++;
        }
      }
      expect(compared).toBe(7 + 3 + 1);
      expect((await statistics(influxReader, 'big', H))?.median.exact).toBe(false);
      // 10 +5 by p1, then p0 starts from 0 (-3) and carries on from its own later update: -3 +1 +2
      expect((await statistics(influxReader, 'g', H + 7200))?.max.value).toBe(0);
    } finally {
      clock.set(startMs);
      await sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remote-written classic histograms (bucket counts in the sketch bytes)', () => {
  it('round-trip through InfluxDB and answer as over SQLite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-influx-buckets-'));
    const sqlite = new SqliteStore(openDatabase(dir));
    const { store: influxStore, reader: influxReader } = fresh();
    const bounds = [0.005, 0.1, 2.5, Infinity];
    try {
      for (const store of [sqlite, influxStore] as RollupStore[]) {
        for (const [writer, counts] of [['p0', [1, 4, 6, 7]], ['p1', [0, 2, 2, 3]]] as const) {
          const b = new BatchBuilder();
          b.histogram('rpc "seconds"', 'job:a b', H, { upperBounds: bounds, counts, count: counts[3], sum: counts[3] * 0.25 });
          const rollup = new Rollup({ store, writer, clock, budget: new SeriesBudget(100_000) });
          await rollup.apply(decodeBatch(encodeBatch(b.take(), 0)));
          await rollup.flush();
        }
      }
      const rows = await influxReader.rows('rpc "seconds"', H);
      expect(rows).toHaveLength(2);
      expect(rows.every((r) => isBucketHistogram(r.sketch) && r.type === 'h')).toBe(true);
      const merged = new BucketHistogram();
      for (const r of rows) merged.merge(BucketHistogram.decode(r.sketch));
      expect(merged.quantile(0.5)).toBe(bucketQuantile(0.5, bounds, [1, 6, 8, 10]));
      for (const stat of ['count', 'sum', 'average', 'median', 'p90', 'p99'] as const) {
        const over = async (reader: RollupReader) => {
          const r = await reader.rows('rpc "seconds"', H);
          return computeStatistic(stat, r, rowsAreExact(r) ? await reader.chunks(r) : null);
        };
        const expected = await over(sqlite);
        expect({ stat, ...(await over(influxReader)) }).toEqual({ stat, ...expected });
        expect(expected.exact).toBe(stat === 'count' || stat === 'sum' || stat === 'average');
        if (stat === 'count') expect(expected.value).toBe(10);
      }
    } finally {
      await sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
