import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RollupRow } from './schema.js';
import { StoreFencedError } from './schema.js';
import { SQLITE_FILE, SqliteReader, SqliteStore, openDatabase } from './sqlite-store.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;

const row = (count: number, seq: number): RollupRow => ({
  name: 'api.checkout',
  tags: '',
  type: 'ms',
  hourSec: H,
  writer: 'p0',
  count,
  n: count,
  sum: count,
  min: 1,
  max: 1,
  last: NaN,
  sketch: new Uint8Array([1, 2, 3]),
  chunks: 0,
  seq,
  updatedMs: 0,
});

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-sqlite-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SQLite writer epochs: a superseded owner cannot write', () => {
  it('each claim returns the watermark and a higher epoch', async () => {
    const store = new SqliteStore(openDatabase(dir));
    expect(await store.claimWriter('p0')).toEqual({ seq: 0, epoch: 1 });
    await store.write([], [], { writer: 'p0', seq: 42, epoch: 1 });
    expect(await store.claimWriter('p0')).toEqual({ seq: 42, epoch: 2 });
    expect(await store.claimWriter('p1')).toEqual({ seq: 0, epoch: 1 });
    await store.close();
  });

  it('two owners of one writer through two connections: after the second claims, the first writes nothing', async () => {
    const first = new SqliteStore(openDatabase(dir));
    const second = new SqliteStore(openDatabase(dir));
    const reader = new SqliteReader(openDatabase(dir));
    const a = await first.claimWriter('p0');
    await first.write([row(5, 10)], [], { writer: 'p0', seq: 10, epoch: a.epoch });
    const b = await second.claimWriter('p0');
    expect(b.seq).toBe(10);
    expect(b.epoch).toBeGreaterThan(a.epoch);
    // the old owner's next write is refused whole: neither its row nor its watermark lands
    await expect(first.write([row(7, 12)], [], { writer: 'p0', seq: 12, epoch: a.epoch })).rejects.toBeInstanceOf(StoreFencedError);
    expect((await reader.rows('api.checkout', H))[0].count).toBe(5);
    expect(await second.loadWatermark('p0')).toBe(10);
    await second.write([row(6, 11)], [], { writer: 'p0', seq: 11, epoch: b.epoch });
    expect((await reader.rows('api.checkout', H))[0].count).toBe(6);
    for (const s of [first, second, reader]) await s.close();
  });

  it('a write without an epoch (the embedded default) is not checked', async () => {
    const store = new SqliteStore(openDatabase(dir));
    await store.claimWriter('embedded');
    await store.claimWriter('embedded');
    await expect(store.write([row(1, 0)], [])).resolves.toBeUndefined();
    await store.close();
  });

  it('a database from before epochs gets the column, and its watermarks are kept', async () => {
    const old = new Database(path.join(dir, SQLITE_FILE));
    old.exec('CREATE TABLE rollup_watermark (writer TEXT PRIMARY KEY, seq INTEGER NOT NULL)');
    old.prepare('INSERT INTO rollup_watermark VALUES (?, ?)').run('p3', 99);
    old.close();
    const store = new SqliteStore(openDatabase(dir));
    expect(await store.claimWriter('p3')).toEqual({ seq: 99, epoch: 1 });
    await store.close();
  });
});
