import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RollupTelemetry, createRollupMetrics } from './metrics.js';

const report = (rows: number) => ({ rows, chunks: 0, durationMs: 1, writeMs: 1, rejected: [], stats: 0, statsFailed: 0, statsStoreReads: 0 });

async function value(registry: Registry, name: string): Promise<number> {
  const text = await registry.metrics();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

function telemetry() {
  const registry = new Registry();
  return { registry, telemetry: new RollupTelemetry(createRollupMetrics(registry), pino({ level: 'silent' })) };
}

describe('RollupTelemetry', () => {
  it('keeps a running total per source: a smaller partition after a larger one is not a decrease', async () => {
    const { registry, telemetry: t } = telemetry();
    const p0 = t.eventsOf('p0', () => undefined);
    const p1 = t.eventsOf('p1', () => undefined);
    p0.flushed({ report: report(3), valuesApplied: 100, seriesInMemory: 3 });
    expect(() => p1.flushed({ report: report(1), valuesApplied: 10, seriesInMemory: 2 })).not.toThrow();
    p1.flushed({ report: report(1), valuesApplied: 15, seriesInMemory: 2 });
    p0.flushed({ report: report(1), valuesApplied: 130, seriesInMemory: 4 });
    expect(await value(registry, 'hourglass_rollup_values_applied_total')).toBe(145);
    expect(await value(registry, 'hourglass_rollup_series_in_memory')).toBe(6);
    expect(await value(registry, 'hourglass_store_rows_written_total')).toBe(6);
    t.forget('p1');
    expect(await value(registry, 'hourglass_rollup_series_in_memory')).toBe(4);
  });

  it('counts a failed write and refused rows', async () => {
    const { registry, telemetry: t } = telemetry();
    const events = t.eventsOf('p0', () => undefined);
    events.flushed({ error: new Error('down'), valuesApplied: 0, seriesInMemory: 0 });
    const row = { name: 'x', tags: '', type: 'ms' as const, hourSec: 0, writer: 'p0', count: 1, n: 1, sum: 1, min: 1, max: 1, last: NaN, sketch: new Uint8Array(), chunks: 0, seq: 1, updatedMs: 0 };
    events.flushed({ report: { ...report(0), rejected: [{ row, reason: 'partial write' }] }, valuesApplied: 1, seriesInMemory: 0 });
    expect(await value(registry, 'hourglass_store_write_errors_total')).toBe(1);
    expect(await value(registry, 'hourglass_store_points_rejected_total')).toBe(1);
  });
});
