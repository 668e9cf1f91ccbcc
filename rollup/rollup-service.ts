/**
 * Runs a Rollup against a stream of encoded batches: writes to the store right after each batch
 * that ends a gateway flush interval, and on its own timer for anything else, so a crash loses at
 * most the last flush interval (SPEC §5). A failed write is retried at the next flush; the
 * states stay dirty until a write succeeds.
 */
import { decodeBatch } from '../gateway/index.js';
import type { FlushReport, Rollup } from './rollup.js';

export interface FlushOutcome {
  readonly report?: FlushReport;
  readonly error?: Error;
  readonly valuesApplied: number;
  readonly seriesInMemory: number;
}

export class RollupService {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly rollup: Rollup,
    flushIntervalMs: number,
    private readonly onFlushed: (outcome: FlushOutcome) => void,
  ) {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), flushIntervalMs);
    this.timer.unref();
  }

  /** Applies one encoded batch; writes to the store when it ends a gateway flush interval. */
  async accept(bytes: Uint8Array, endOfInterval: boolean, seq = 0): Promise<void> {
    await this.rollup.apply(decodeBatch(bytes), seq);
    if (endOfInterval) await this.flush().catch(() => undefined);
  }

  async flush(): Promise<FlushReport> {
    try {
      const report = await this.rollup.flush();
      this.onFlushed({ report, valuesApplied: this.rollup.valuesApplied, seriesInMemory: this.rollup.seriesInMemory });
      return report;
    } catch (err) {
      this.onFlushed({ error: err as Error, valuesApplied: this.rollup.valuesApplied, seriesInMemory: this.rollup.seriesInMemory });
      throw err;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
