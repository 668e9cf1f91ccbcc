/**
 * Gateway.sink(): values from outside the sockets (remote write) go into the gateway's batches,
 * with the same size trigger, onto a real in-process bus; it refuses once the bus is full or the
 * gateway closed.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InProcessBus, MAX_PENDING_BATCHES, createBusMetrics, decodeBatch, histogramsOf, type InProcessBatch } from '../bus/index.js';
import { ManualClock } from '../core/index.js';
import { Gateway } from './gateway.js';
import { createGatewayMetrics } from './metrics.js';

const H = 1_795_381_200;
const MAX_BATCH_LINES = 100;

function setup() {
  const registry = new Registry();
  const delivered: InProcessBatch[] = [];
  const logger = pino({ level: 'silent' });
  const clock = new ManualClock(H * 1000);
  const bus = new InProcessBus({ deliver: (b) => delivered.push(b) }, clock, createBusMetrics(registry), logger);
  const gateway = new Gateway({
    address: { host: '127.0.0.1', port: 0 },
    udpRecvBufferBytes: 65536,
    maxLineBytes: 1000,
    maxBatchLines: MAX_BATCH_LINES,
    flushIntervalMs: 1000,
    clock,
    publisher: bus,
    metrics: createGatewayMetrics(registry),
    logger,
  });
  return { gateway, bus, delivered, sink: gateway.sink() };
}

describe('Gateway.sink()', () => {
  it('appends to the current batch and hands it on by size, like UDP lines', () => {
    const { gateway, delivered, sink } = setup();
    for (let i = 0; i < 250; i++) expect(sink.sample('depth', 'job:a', 'g', i, 1, false, H)).toBe(true);
    expect(delivered).toHaveLength(2); // at 100 and 200 values
    expect(delivered.every((d) => !d.endOfInterval)).toBe(true);
    gateway.flush(true);
    const values = delivered.flatMap((d) => decodeBatch(d.data).series.flatMap((s) => Array.from(s.values)));
    expect(values).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it('sends histogram increments as a histogram series, counted by their floats in the size trigger', () => {
    const { gateway, delivered, sink } = setup();
    const bounds = Array.from({ length: 20 }, (_, i) => i + 1); // 3 + 2 * 20 = 43 floats an increment
    sink.histogram('rpc_seconds', 'svc:x', H, { upperBounds: bounds, counts: bounds, count: 20, sum: 7 });
    sink.histogram('rpc_seconds', 'svc:x', H, { upperBounds: bounds, counts: bounds, count: 20, sum: 7 });
    expect(delivered).toHaveLength(0);
    sink.histogram('rpc_seconds', 'svc:x', H, { upperBounds: bounds, counts: bounds, count: 20, sum: 7 });
    expect(delivered).toHaveLength(1);
    gateway.flush(true);
    expect(delivered).toHaveLength(1);
    const [series] = decodeBatch(delivered[0].data).series;
    expect(series).toMatchObject({ name: 'rpc_seconds', tags: 'svc:x', type: 'h', hourSec: H, histogram: true });
    expect(histogramsOf(series.values).map((h) => h.sum)).toEqual([7, 7, 7]);
  });

  it('is not accepting while the bus is full, nor after close', async () => {
    const { gateway, bus, sink } = setup();
    expect(sink.accepting?.()).toBe(true);
    for (let i = 0; i < MAX_PENDING_BATCHES; i++) {
      sink.sample('x', '', 'g', i, 1, false, H);
      gateway.flush(true);
    }
    expect(sink.accepting?.()).toBe(false);
    bus.taken();
    expect(sink.accepting?.()).toBe(true);
    await gateway.close();
    expect(sink.accepting?.()).toBe(false);
    expect(sink.sample('x', '', 'g', 1, 1, false, H)).toBe(false);
  });
});
