import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { batchOf } from '../test-support/batches.js';
import { decodeBatch } from './batch-codec.js';
import { InProcessBus, MAX_PENDING_BATCHES, QueueSource, type InProcessBatch } from './in-process-bus.js';
import { createBusMetrics } from './metrics.js';

const H = 1_795_381_200;
const logger = pino({ level: 'silent' });

async function metric(registry: Registry, text: string): Promise<number> {
  const escaped = text.replace(/[{}"]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(await registry.metrics())?.[1]);
}

function setup() {
  const registry = new Registry();
  const delivered: InProcessBatch[] = [];
  const bus = new InProcessBus({ deliver: (b) => delivered.push(b) }, new ManualClock(5000), createBusMetrics(registry), logger);
  return { registry, delivered, bus };
}

describe('InProcessBus', () => {
  it('hands batches on in order, encoded, stamped with the injected clock', () => {
    const { delivered, bus } = setup();
    expect(bus.publish(batchOf('a:1|ms\nb:2|c', H).series, 2, true)).toBeUndefined();
    expect(bus.publish(batchOf('a:3|ms', H).series, 1, false)).toBeUndefined();
    expect(delivered.map((d) => [d.seq, d.endOfInterval])).toEqual([
      [1, true],
      [2, false],
    ]);
    const first = decodeBatch(delivered[0].data);
    expect(first.createdMs).toBe(5000);
    expect(first.series.map((s) => [s.name, Array.from(s.values)])).toEqual([
      ['a', [1]],
      ['b', [2]],
    ]);
    expect(bus.handedOn).toBe(2);
  });

  it('past MAX_PENDING_BATCHES not taken, drops and counts bus_full; taking one makes room', async () => {
    const { registry, bus } = setup();
    const series = batchOf('a:1|ms', H).series;
    for (let i = 0; i < MAX_PENDING_BATCHES; i++) expect(bus.publish(series, 1, false)).toBeUndefined();
    expect(bus.publish(series, 1, false)).toBe('bus_full');
    expect(await metric(registry, 'hourglass_batches_dropped_total{reason="bus_full"}')).toBe(1);
    expect(await metric(registry, 'hourglass_batch_values_dropped_total{reason="bus_full"}')).toBe(1);
    expect(await metric(registry, 'hourglass_bus_pending_batches')).toBe(MAX_PENDING_BATCHES);
    bus.taken();
    expect(bus.publish(series, 1, false)).toBeUndefined();
  });

  it('once the rollup side failed, drops everything as bus_down', async () => {
    const { registry, bus, delivered } = setup();
    bus.failed(new Error('thread exited'));
    expect(bus.publish(batchOf('a:1|ms\na:2|ms', H).series, 2, true)).toBe('bus_down');
    expect(delivered).toEqual([]);
    expect(await metric(registry, 'hourglass_batch_values_dropped_total{reason="bus_down"}')).toBe(2);
    expect(bus.failure?.message).toBe('thread exited');
  });
});

describe('QueueSource', () => {
  it('yields in order with no bus sequence (it restarts with the process), reports taken and acked by batch', async () => {
    const taken: number[] = [];
    const acked: number[] = [];
    const source = new QueueSource('embedded', (s) => taken.push(s), (s) => acked.push(s));
    const data = new Uint8Array([1]);
    source.push({ seq: 1, data, endOfInterval: false });
    source.push({ seq: 2, data, endOfInterval: true });
    const seen: [number, boolean][] = [];
    const reading = (async () => {
      for await (const m of source.messages()) {
        seen.push([m.seq, m.endOfInterval]);
        m.ack();
      }
    })();
    // a batch pushed while the reader waits wakes it; stop() ends the loop once drained
    await new Promise((r) => setImmediate(r));
    source.push({ seq: 3, data, endOfInterval: false });
    source.stop();
    await reading;
    expect(seen).toEqual([
      [0, false],
      [0, true],
      [0, false],
    ]);
    expect(taken).toEqual([1, 2, 3]);
    expect(acked).toEqual([1, 2, 3]);
    expect(await source.deadLetter()).toBe(false);
  });
});
