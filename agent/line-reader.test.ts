import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLines } from './line-reader.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-lines-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function read(content: Buffer | string, limits = { maxLineBytes: 16, maxBatchBytes: 1 << 20, maxBatchLines: 1000 }, start = 0) {
  const file = path.join(dir, `f${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, content);
  const handle = await fsp.open(file, 'r');
  try {
    return await readLines(handle, start, fs.statSync(file).size, limits);
  } finally {
    await handle.close();
  }
}

describe('readLines', () => {
  it.each([
    ['complete lines', 'a:1|ms\nb:2|ms\n', ['a:1|ms', 'b:2|ms'], 14],
    ['CRLF', 'a:1|ms\r\nb:2|ms\r\n', ['a:1|ms', 'b:2|ms'], 16],
    ['a partial last line waits', 'a:1|ms\nb:2', ['a:1|ms'], 7],
    ['nothing complete', 'b:2', [], 0],
    ['empty lines skipped', '\n\na:1|ms\n', ['a:1|ms'], 9],
    ['a long line skipped', `a:1|ms\n${'x'.repeat(40)}\nb:2|ms\n`, ['a:1|ms', 'b:2|ms'], 55],
    ['a long partial line waits, unread', `a:1|ms\n${'x'.repeat(40)}`, ['a:1|ms'], 7],
    ['exactly maxLineBytes is kept', `${'y'.repeat(16)}\n`, ['y'.repeat(16)], 17],
    ['exactly maxLineBytes plus CR is kept', `${'y'.repeat(16)}\r\n`, ['y'.repeat(16)], 18],
  ])('%s', async (_name, content, lines, end) => {
    const r = await read(content);
    expect(r.lines).toEqual(lines);
    expect(r.end).toBe(end);
  });

  it('counts long lines and invalid UTF-8', async () => {
    const r = await read(Buffer.concat([Buffer.from(`${'x'.repeat(100_000)}\n`), Buffer.from([0xc3, 0x28, 10]), Buffer.from('ok\n')]));
    expect(r).toMatchObject({ lines: ['ok'], tooLong: 1, invalidUtf8: 1 });
  });

  it('stops at maxBatchLines and maxBatchBytes, at a line end', async () => {
    const content = Array.from({ length: 50 }, (_, i) => `k:${i}|ms`).join('\n') + '\n';
    const byLines = await read(content, { maxLineBytes: 100, maxBatchBytes: 1 << 20, maxBatchLines: 10 });
    expect(byLines.lines).toHaveLength(10);
    expect(content.slice(0, byLines.end).split('\n').slice(0, -1)).toEqual(byLines.lines);
    const byBytes = await read(content, { maxLineBytes: 100, maxBatchBytes: 30, maxBatchLines: 1000 });
    expect(byBytes.lines).toEqual(['k:0|ms', 'k:1|ms', 'k:2|ms', 'k:3|ms', 'k:4|ms']);
    const next = await read(content, { maxLineBytes: 100, maxBatchBytes: 30, maxBatchLines: 1000 }, byBytes.end);
    expect(next.lines[0]).toBe('k:5|ms');
  });
});
