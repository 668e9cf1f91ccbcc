import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from './spool.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-spool-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const bytes = (...v: number[]) => Uint8Array.from(v);

describe('Spool', () => {
  it('replays oldest first with subject, id and payload intact', async () => {
    const spool = new Spool(dir, 1 << 20);
    await spool.add('hourglass.batches.3', 'gw.1.7.3', bytes(1, 2, 3));
    await spool.add('hourglass.batches.0', 'gw.1.8.0', bytes(4));
    expect(spool.count).toBe(2);
    const first = await spool.oldest();
    expect(first).toMatchObject({ subject: 'hourglass.batches.3', msgId: 'gw.1.7.3' });
    expect(Array.from(first?.data ?? [])).toEqual([1, 2, 3]);
    await spool.remove(first?.file as string);
    expect((await spool.oldest())?.msgId).toBe('gw.1.8.0');
  });

  it('survives a restart of the gateway and keeps appending after the last file', async () => {
    const a = new Spool(dir, 1 << 20);
    await a.add('s', 'one', bytes(1));
    await a.add('s', 'two', bytes(2));
    const b = new Spool(dir, 1 << 20);
    expect(b.count).toBe(2);
    expect(b.bytes).toBe(a.bytes);
    await b.add('s', 'three', bytes(3));
    const ids: string[] = [];
    for (let next = await b.oldest(); next !== undefined; next = await b.oldest()) {
      ids.push(next.msgId);
      await b.remove(next.file);
    }
    expect(ids).toEqual(['one', 'two', 'three']);
    expect(b.bytes).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a batch past its bound', async () => {
    const spool = new Spool(dir, 30);
    expect(await spool.add('s', 'a', new Uint8Array(20))).toBe(true);
    expect(await spool.add('s', 'b', new Uint8Array(20))).toBe(false);
    expect(spool.count).toBe(1);
  });

  it('only the oldest batch can be removed', async () => {
    const spool = new Spool(dir, 1 << 20);
    await spool.add('s', 'a', bytes(1));
    await expect(spool.remove('0000000000000042.batch')).rejects.toThrow(/not the oldest/);
  });

  it('hands out the oldest batches in order, bounded in count and bytes (the first always)', async () => {
    const spool = new Spool(dir, 1 << 20);
    // each file: 4 header bytes + 1 subject byte + 1 id byte + 100 payload bytes = 106
    for (const id of ['a', 'b', 'c', 'd']) await spool.add('s', id, new Uint8Array(100));
    expect((await spool.oldestBatches(3, 1 << 20)).map((b) => b.msgId)).toEqual(['a', 'b', 'c']);
    expect((await spool.oldestBatches(10, 2 * 106)).map((b) => b.msgId)).toEqual(['a', 'b']);
    expect((await spool.oldestBatches(10, 10)).map((b) => b.msgId)).toEqual(['a']);
    expect(spool.count).toBe(4);
    for (const b of await spool.oldestBatches(2, 1 << 20)) await spool.remove(b.file);
    expect((await spool.oldestBatches(10, 1 << 20)).map((b) => b.msgId)).toEqual(['c', 'd']);
    expect(await new Spool(path.join(dir, 'empty'), 1 << 20).oldestBatches(10, 1 << 20)).toEqual([]);
  });
});
