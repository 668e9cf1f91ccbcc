/**
 * RollupStore.deleteHours, the store side of `hourglass replay`: the rows and raw chunks of every
 * writer in [from, to) go, those just outside stay, watermarks stay. SQLite and a real influxd
 * (1.x API); the 2.x API by the text of its requests (no InfluxDB 2 here).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, SECONDS_PER_HOUR } from '../core/index.js';
import { recordingServer } from '../test-support/recording-server.js';
import { startInfluxd, type Influxd } from '../test-support/servers.js';
import type { InfluxSettings } from './influx-http.js';
import { openInfluxReader } from './influx-reader.js';
import { deletePredicateString, deleteV2Requests, openInfluxStore } from './influx-store.js';
import type { RawChunk, RollupReader, RollupRow, RollupStore } from './schema.js';
import { SqliteStore, openDatabase } from './sqlite-store.js';

const H = Date.UTC(2026, 10, 22, 10) / 1000;
const clock = new ManualClock((H + 10 * SECONDS_PER_HOUR) * 1000);
const HOURS = [H - SECONDS_PER_HOUR, H, H + SECONDS_PER_HOUR, H + 2 * SECONDS_PER_HOUR];
const WRITERS = ['p0', 'p1', 'embedded'];
const NAMES = ['api.a', 'we"ird\\ name,x=y'];

function row(name: string, hourSec: number, writer: string): RollupRow {
  return { name, hourSec, tags: 'k:v', type: 'ms', writer, count: 2, n: 2, sum: 3, min: 1, max: 2, last: NaN, sketch: new Uint8Array([1, 2, 3]), chunks: 2, seq: 5, updatedMs: 1 };
}

function chunksOf(r: RollupRow): RawChunk[] {
  // chunk 1 sits 1 ns after the hour start: the delete must take it with its hour
  return [0, 1].map((chunk) => ({ name: r.name, hourSec: r.hourSec, tags: r.tags, type: r.type, writer: r.writer, chunk, values: new Float64Array([chunk + 1]), weights: null, members: null }));
}

async function fill(store: RollupStore): Promise<void> {
  const rows = HOURS.flatMap((h) => WRITERS.flatMap((w) => NAMES.map((n) => row(n, h, w))));
  await store.write(rows, rows.flatMap(chunksOf), { writer: 'p0', seq: 42 });
}

/** What the reader finds per hour: rows and chunks. */
async function census(reader: RollupReader): Promise<Map<number, { rows: number; chunks: number }>> {
  const out = new Map<number, { rows: number; chunks: number }>();
  for (const h of HOURS) {
    let rows = 0;
    let chunks = 0;
    for (const n of NAMES) {
      const found = await reader.rows(n, h);
      rows += found.length;
      chunks += (await reader.chunks(found.map((r) => ({ ...r, chunks: 2 })))).length;
    }
    out.set(h, { rows, chunks });
  }
  return out;
}

async function expectDeleted(store: RollupStore, reader: RollupReader): Promise<void> {
  await fill(store);
  const full = WRITERS.length * NAMES.length;
  for (const [, c] of await census(reader)) expect(c).toEqual({ rows: full, chunks: 2 * full });
  await store.deleteHours(H, H + 2 * SECONDS_PER_HOUR);
  const after = await census(reader);
  expect(after.get(H - SECONDS_PER_HOUR)).toEqual({ rows: full, chunks: 2 * full });
  expect(after.get(H)).toEqual({ rows: 0, chunks: 0 });
  expect(after.get(H + SECONDS_PER_HOUR)).toEqual({ rows: 0, chunks: 0 });
  expect(after.get(H + 2 * SECONDS_PER_HOUR)).toEqual({ rows: full, chunks: 2 * full });
  expect(await store.loadWatermark('p0')).toBe(42);
  // rows written again after a delete are there (a replay writes right after deleting)
  await store.write([row('api.a', H, 'p1')], chunksOf(row('api.a', H, 'p1')));
  expect((await reader.rows('api.a', H)).map((r) => r.writer)).toEqual(['p1']);
}

describe('deleteHours', () => {
  it('SQLite: every writer\'s rows and chunks of the range, nothing else', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-delete-'));
    const store = new SqliteStore(openDatabase(dir));
    try {
      await expectDeleted(store, store);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('InfluxDB 1.x (real influxd)', () => {
    let influx: Influxd;
    beforeAll(async () => {
      influx = await startInfluxd();
    }, 30_000);
    afterAll(async () => {
      await influx?.dispose();
    });

    it('every writer\'s points of the range, by a time-bounded DELETE with bound parameters', async () => {
      const settings: InfluxSettings = { url: influx.url, api: 'v1', token: undefined, org: undefined, bucket: undefined, database: 'hg_delete' };
      const store = openInfluxStore(settings, clock);
      const reader = openInfluxReader(settings);
      await expectDeleted(store, reader);
      await reader.close();
    });
  });

  describe('InfluxDB 2.x (request text)', () => {
    it('POSTs /api/v2/delete once per measurement, stop inclusive, predicate quoted', async () => {
      const fake = await recordingServer(() => ({ status: 204, body: '' }));
      try {
        const settings: InfluxSettings = { url: fake.url, api: 'v2', token: 'tok', org: 'my org', bucket: 'hour&glass', database: undefined };
        await openInfluxStore(settings, clock).deleteHours(H, H + 2 * SECONDS_PER_HOUR);
        expect(fake.requests.map((r) => r.url)).toEqual(Array(3).fill('/api/v2/delete?org=my+org&bucket=hour%26glass'));
        expect(fake.requests[0].headers.authorization).toBe('Token tok');
        expect(fake.requests.map((r) => JSON.parse(r.body) as unknown)).toEqual([
          { start: '2026-11-22T10:00:00.000000000Z', stop: '2026-11-22T11:59:59.999999999Z', predicate: '_measurement="rollup"' },
          { start: '2026-11-22T10:00:00.000000000Z', stop: '2026-11-22T11:59:59.999999999Z', predicate: '_measurement="rollup_raw"' },
          { start: '2026-11-22T10:00:00.000000000Z', stop: '2026-11-22T11:59:59.999999999Z', predicate: '_measurement="rollup_stats"' },
        ]);
      } finally {
        await fake.close();
      }
    });

    it('a refused delete is an error, not a silent success', async () => {
      const fake = await recordingServer(() => ({ status: 400, body: '{"message":"bad predicate"}' }));
      try {
        const settings: InfluxSettings = { url: fake.url, api: 'v2', token: 'tok', org: 'o', bucket: 'b', database: undefined };
        await expect(openInfluxStore(settings, clock).deleteHours(H, H + SECONDS_PER_HOUR)).rejects.toThrow(/bad predicate/);
      } finally {
        await fake.close();
      }
    });

    it('predicate strings escape quotes and backslashes', () => {
      expect(deletePredicateString('a"b\\c')).toBe('"a\\"b\\\\c"');
      expect(deleteV2Requests(H, H + 1)[0].stop).toBe('2026-11-22T10:00:00.999999999Z');
    });
  });
});
