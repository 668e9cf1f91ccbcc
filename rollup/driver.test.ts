import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeBatch, type BatchSource, type BusMessage } from '../bus/index.js';
import { ManualClock } from '../core/index.js';
import { SqliteStore, StoreUnavailableError, openDatabase, type RawChunk, type RollupRow, type Watermark } from '../store/index.js';
import { batchOf } from '../test-support/batches.js';
import { eventually } from '../test-support/eventually.js';
import { RollupDriver, type DriverEvents } from './driver.js';
import { Rollup, type SeriesRefusal } from './rollup.js';
import { SeriesBudget } from './series-budget.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
const clock = new ManualClock(H * 1000 + 60_000);

/** A bus partition held in the test's hands: it records acks and dead letters. */
class TestSource implements BatchSource {
  readonly writer = 'p0';
  readonly acked: number[] = [];
  readonly deadLetters: string[] = [];
  private readonly queue: BusMessage[] = [];
  private wake: (() => void) | undefined;
  private stopped = false;
  constructor(private readonly keepsDeadLetters: boolean) {}

  send(seq: number, data: Uint8Array, endOfInterval = false): void {
    this.queue.push({ seq, data, endOfInterval, ack: () => this.acked.push(seq) });
    this.wake?.();
  }
  async *messages(): AsyncIterable<BusMessage> {
    for (;;) {
      while (this.queue.length === 0 && !this.stopped) await new Promise<void>((r) => (this.wake = r));
      const next = this.queue.shift();
      if (next === undefined) return;
      yield next;
    }
  }
  async deadLetter(reason: string): Promise<boolean> {
    if (this.keepsDeadLetters) this.deadLetters.push(reason);
    return this.keepsDeadLetters;
  }
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}

/** The real SQLite store, whose writes can be made to fail. */
class FlakyStore extends SqliteStore {
  failWrites = false;
  writes = 0;
  override async write(rows: readonly RollupRow[], chunks: readonly RawChunk[], watermark?: Watermark): Promise<void> {
    if (this.failWrites) throw new StoreUnavailableError('store down (test)');
    this.writes++;
    return super.write(rows, chunks, watermark);
  }
}

function recorder() {
  const seen = { applied: 0, skipped: 0, deadLettered: [] as string[], dropped: 0, readFailures: 0, writeErrors: 0, flushes: 0, refused: [] as SeriesRefusal[] };
  const events: DriverEvents = {
    applied: () => seen.applied++,
    refused: (refusal) => seen.refused.push(refusal),
    skipped: () => seen.skipped++,
    deadLettered: (reason) => seen.deadLettered.push(reason),
    dropped: () => seen.dropped++,
    storeReadFailed: () => seen.readFailures++,
    flushed: (outcome) => (outcome.error ? seen.writeErrors++ : seen.flushes++),
  };
  return { seen, events };
}

let dir: string;
let store: FlakyStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-driver-'));
  store = new FlakyStore(openDatabase(dir));
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const encoded = (text: string) => encodeBatch(batchOf(text, H).series, 0);
const countOf = async (name: string) => (await store.rows(name, H)).reduce((n, r) => n + r.count, 0);

function driverOf(source: TestSource, events: DriverEvents, flushIntervalMs = 60_000, maxSeriesPerHour = 100_000) {
  return new RollupDriver({ source, rollup: new Rollup({ store, writer: source.writer, clock, budget: new SeriesBudget(maxSeriesPerHour) }), store, flushIntervalMs, events, logger: pino({ level: 'silent' }) });
}

describe('RollupDriver', () => {
  it('writes right after a batch that closes an interval, and acknowledges only what is written', async () => {
    const source = new TestSource(true);
    const { seen, events } = recorder();
    const driver = driverOf(source, events);
    await driver.start();
    source.send(1, encoded('a:1|ms\na:2|ms'));
    await eventually(async () => (seen.applied === 1 ? true : undefined), 'the first batch applied');
    expect(source.acked).toEqual([]);
    expect(await countOf('a')).toBe(0);
    source.send(2, encoded('a:3|ms'), true);
    await eventually(async () => (source.acked.length === 2 ? true : undefined), 'both batches acknowledged');
    expect(await countOf('a')).toBe(3);
    expect(await store.loadWatermark('p0')).toBe(2);
    await driver.stop();
  });

  it('reports the series a batch could not take (MAX_SERIES_PER_HOUR), applies the rest, and acknowledges it', async () => {
    const source = new TestSource(true);
    const { seen, events } = recorder();
    const driver = driverOf(source, events, 60_000, 1);
    await driver.start();
    source.send(1, encoded('a:1|ms\nrunaway.1:1|ms\nrunaway.2:1:2|ms'), true);
    await eventually(async () => (source.acked.length === 1 ? true : undefined), 'the batch acknowledged');
    expect(seen.refused).toEqual([{ reason: 'series_per_hour', series: 2, values: 3, example: { name: 'runaway.1', tags: '', type: 'ms', hourSec: H } }]);
    expect(await countOf('a')).toBe(1);
    expect(await countOf('runaway.1')).toBe(0);
    await driver.stop();
  });

  it('a failed write keeps the batches unacknowledged and the windows dirty; the next write carries them', async () => {
    const source = new TestSource(true);
    const { seen, events } = recorder();
    const driver = driverOf(source, events);
    await driver.start();
    store.failWrites = true;
    source.send(1, encoded('a:5|ms'), true);
    await eventually(async () => (seen.writeErrors >= 1 ? true : undefined), 'the write to fail');
    expect(source.acked).toEqual([]);
    store.failWrites = false;
    await driver.flush();
    expect(source.acked).toEqual([1]);
    expect(await countOf('a')).toBe(1);
    await driver.stop();
  });

  it('skips batches at or below the stored watermark, acknowledging them', async () => {
    await store.write([], [], { writer: 'p0', seq: 7 });
    const source = new TestSource(true);
    const { seen, events } = recorder();
    const driver = driverOf(source, events);
    await driver.start();
    source.send(6, encoded('a:1|ms'));
    source.send(7, encoded('a:1|ms'));
    source.send(8, encoded('a:2|ms'), true);
    await eventually(async () => (source.acked.length === 3 ? true : undefined), 'all three acknowledged');
    expect(seen.skipped).toBe(2);
    expect(await countOf('a')).toBe(1);
    await driver.stop();
  });

  it('an undecodable batch is dead-lettered where the bus keeps dead letters, dropped and counted where not; acknowledged either way', async () => {
    for (const keeps of [true, false]) {
      const source = new TestSource(keeps);
      const { seen, events } = recorder();
      const driver = driverOf(source, events);
      await driver.start();
      // past the watermark the first round wrote
      const base = keeps ? 0 : 10;
      source.send(base + 1, new Uint8Array([1, 2, 3, 4]));
      source.send(base + 2, encoded('b:4|ms'), true);
      await eventually(async () => (source.acked.length === 2 ? true : undefined), 'both acknowledged');
      expect(seen.deadLettered).toEqual(keeps ? ['undecodable'] : []);
      expect(seen.dropped).toBe(keeps ? 0 : 1);
      await driver.stop();
    }
    expect(await countOf('b')).toBe(2);
  });

  it('flush(n) waits until n batches are handled, then writes them', async () => {
    const source = new TestSource(true);
    const { events } = recorder();
    const driver = driverOf(source, events);
    await driver.start();
    const flushed = driver.flush(2);
    source.send(1, encoded('c:1|ms'));
    source.send(2, encoded('c:2|ms'));
    await flushed;
    expect(await countOf('c')).toBe(2);
    expect(source.acked).toEqual([1, 2]);
    await driver.stop();
  });

  it('never runs two writes at once: a trigger during a write starts the next one when it ends', async () => {
    const source = new TestSource(true);
    const { events } = recorder();
    let concurrent = 0;
    let most = 0;
    const write = store.write.bind(store);
    store.write = async (rows, chunks, watermark) => {
      concurrent++;
      most = Math.max(most, concurrent);
      await new Promise((r) => setTimeout(r, 20));
      await write(rows, chunks, watermark);
      concurrent--;
    };
    const driver = driverOf(source, events, 5);
    await driver.start();
    for (let i = 1; i <= 20; i++) source.send(i, encoded(`d:${i}|ms`), i % 3 === 0);
    await eventually(async () => (source.acked.length === 20 ? true : undefined), 'every batch acknowledged');
    await driver.stop();
    expect(most).toBe(1);
    expect(await countOf('d')).toBe(20);
  });
});
