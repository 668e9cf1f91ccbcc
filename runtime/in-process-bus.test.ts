import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { recordFlush } from './in-process-bus.js';
import { createMetrics } from './metrics.js';

const report = (rows: number) => ({ rows, chunks: 0, durationMs: 1, writeMs: 1, rejected: [] });

async function value(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

describe('recordFlush', () => {
  it('keeps a running total per partition: a smaller partition after a larger one is not a decrease', async () => {
    const metrics = createMetrics();
    const record = recordFlush(metrics, createLogger('silent'));
    record({ report: report(3), valuesApplied: 100, seriesInMemory: 3 }, 'p0');
    expect(() => record({ report: report(1), valuesApplied: 10, seriesInMemory: 2 }, 'p1')).not.toThrow();
    record({ report: report(1), valuesApplied: 15, seriesInMemory: 2 }, 'p1');
    record({ report: report(1), valuesApplied: 130, seriesInMemory: 4 }, 'p0');
    expect(await value(metrics, 'hourglass_rollup_values_applied_total')).toBe(145);
    expect(await value(metrics, 'hourglass_rollup_series_in_memory')).toBe(6);
    expect(await value(metrics, 'hourglass_store_rows_written_total')).toBe(6);
  });

  it('counts a failed write and refused rows', async () => {
    const metrics = createMetrics();
    const record = recordFlush(metrics, createLogger('silent'));
    record({ error: new Error('down'), valuesApplied: 0, seriesInMemory: 0 });
    const row = { name: 'x', tags: '', type: 'ms' as const, hourSec: 0, writer: 'p0', count: 1, n: 1, sum: 1, min: 1, max: 1, last: NaN, sketch: new Uint8Array(), chunks: 0, seq: 1, updatedMs: 0 };
    record({ report: { ...report(0), rejected: [{ row, reason: 'partial write' }] }, valuesApplied: 1, seriesInMemory: 0 });
    expect(await value(metrics, 'hourglass_store_write_errors_total')).toBe(1);
    expect(await value(metrics, 'hourglass_store_points_rejected_total')).toBe(1);
  });
});
