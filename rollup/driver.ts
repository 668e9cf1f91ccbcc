/**
 * The one rollup driver loop, for every bus: reads a BatchSource in order, applies each batch to
 * the Rollup, writes to the store, and acknowledges the batches only once their values are
 * written. The embedded default and the distributed workers differ only in their source.
 *
 * Policies, one of each:
 * - Write trigger: a write starts when a batch that closes a gateway interval arrives (in-process
 *   bus) or when FLUSH_INTERVAL_MS has passed since the last one began; never two at once, and a
 *   trigger that comes during a write starts the next one as soon as it ends. A crash therefore
 *   loses at most the last interval in the embedded default (SPEC §5).
 * - A failed store write: the states stay dirty and the batches unacknowledged; the next write
 *   retries them.
 * - A failed apply (the store could not be read to continue a series): the same batch is retried
 *   until it applies (never skipped); meanwhile the bus holds the rest.
 * - A batch that can never be applied (undecodable): dead-lettered where the bus keeps dead
 *   letters, else dropped and counted; either way acknowledged.
 *
 * Exactly once (SPEC §5): the store keeps, beside each row, the last bus sequence applied to it,
 * and per writer a watermark (the last sequence fully written). A batch at or below the watermark
 * is acknowledged and skipped; above it, a series whose row already holds the batch's sequence is
 * skipped (rollup.ts). One writer per partition at a time, so a writer's sequences only grow.
 */
import type { Logger } from '../core/index.js';
import { BatchDecodeError, decodeBatch, type BatchSource, type BusMessage, type DecodedBatch } from '../bus/index.js';
import type { RollupRow, RollupStore } from '../store/index.js';
import type { FlushReport, Rollup, SeriesRefusal } from './rollup.js';

const APPLY_RETRY_MS = 1000;
const STOPPED = Symbol('stopped');

/** What a driver reports; the runtime turns it into metrics and logs (rollup/metrics.ts). */
export interface DriverEvents {
  applied(values: number): void;
  /** New series of a batch refused (MAX_SERIES_PER_HOUR); the rest of the batch was applied. */
  refused(refusal: SeriesRefusal): void;
  skipped(): void;
  deadLettered(reason: string): void;
  /** A batch that could not be applied nor dead-lettered. */
  dropped(values: number): void;
  storeReadFailed(err: Error): void;
  flushed(outcome: FlushOutcome): void;
}

export interface FlushOutcome {
  readonly report?: FlushReport;
  readonly error?: Error;
  /** Values applied since start, and series held, by this driver's rollup. */
  readonly valuesApplied: number;
  readonly seriesInMemory: number;
}

export interface DriverOptions {
  readonly source: BatchSource;
  readonly rollup: Rollup;
  readonly store: RollupStore;
  readonly flushIntervalMs: number;
  readonly events: DriverEvents;
  readonly logger: Logger;
  /**
   * Asked before each store write; false: do not write (a rollup worker whose partition lease is
   * past its time fence). Absent: always allowed.
   */
  readonly writeAllowed?: () => boolean;
  /** Fault tests: die right after a store write that held rows, before acknowledging. */
  readonly exitAfterStoreWrite?: boolean;
}

export class RollupDriver {
  private watermark = 0;
  /** Batches applied (or skipped) since the last write began: acknowledged once it is written. */
  private toAck: BusMessage[] = [];
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private aborted = false;
  private writing: Promise<void> | undefined;
  private writeAgain = false;
  /** Batches handled since start, and who waits for more (flush through a count). */
  private handledCount = 0;
  private readonly countWaiters: { count: number; resolve: () => void }[] = [];

  constructor(private readonly options: DriverOptions) {}

  /** Claims the writer in the store (its watermark, and an epoch that fences the previous owner) and starts consuming. */
  async start(): Promise<void> {
    const { store, source, flushIntervalMs, rollup } = this.options;
    const claim = await store.claimWriter(source.writer);
    this.watermark = claim.seq;
    rollup.setEpoch(claim.epoch);
    this.loop = this.run();
    this.timer = setInterval(() => this.requestWrite(), flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Writes everything applied so far and acknowledges it; resolves when done (rejects if the write
   * failed). With `throughCount`, first waits until that many batches have been handled since
   * start (the in-process bus knows how many it handed on).
   */
  async flush(throughCount = 0): Promise<void> {
    if (throughCount > this.handledCount) await new Promise<void>((resolve) => this.countWaiters.push({ count: throughCount, resolve }));
    await this.writing?.catch(() => undefined);
    await this.write();
  }

  private handled(): void {
    this.handledCount++;
    for (let i = this.countWaiters.length - 1; i >= 0; i--) {
      if (this.countWaiters[i].count <= this.handledCount) this.countWaiters.splice(i, 1)[0].resolve();
    }
  }

  /** Stops reading, waits for the batch in hand, writes and acknowledges what was applied. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.options.source.stop();
    await this.loop;
    await this.flush();
  }

  /**
   * Stops at once and writes nothing more (a write already under way ends): the partition's lease
   * is gone. What was applied and not acknowledged is delivered again to the next owner.
   */
  async abort(): Promise<void> {
    this.aborted = true;
    this.stopping = true;
    clearInterval(this.timer);
    this.options.source.stop();
    await this.loop;
  }

  private requestWrite(): void {
    if (this.writing !== undefined) {
      this.writeAgain = true;
      return;
    }
    this.writing = this.write()
      .catch(() => undefined)
      .finally(() => {
        this.writing = undefined;
        if (this.writeAgain) {
          this.writeAgain = false;
          this.requestWrite();
        }
      });
  }

  private async write(): Promise<void> {
    const { rollup, events, source, writeAllowed } = this.options;
    if (this.aborted || (writeAllowed !== undefined && !writeAllowed())) throw new WriteNotAllowedError(`writer ${source.writer} may not write now (lease lost or past its fence)`);
    const acks = this.toAck;
    this.toAck = [];
    const counts = () => ({ valuesApplied: rollup.valuesApplied, seriesInMemory: rollup.seriesInMemory });
    let report: FlushReport;
    try {
      const keys: string[] = [];
      for (const m of acks) if (m.idempotencyKey !== undefined) keys.push(m.idempotencyKey);
      // a stopping driver leaves no statistics behind its rows (rollup.ts STATISTICS_INTERVAL_MS)
      report = await rollup.flush(keys, { allStatistics: this.stopping });
    } catch (err) {
      this.toAck = acks.concat(this.toAck);
      events.flushed({ error: err as Error, ...counts() });
      throw err;
    }
    if (this.options.exitAfterStoreWrite && acks.length > 0 && report.rows > 0) process.kill(process.pid, 'SIGKILL');
    // written: acknowledge first, so nothing after this (metrics, dead letters) can hold acks back
    for (const m of acks) m.ack();
    events.flushed({ report, ...counts() });
    for (const { row, reason } of report.rejected) await source.deadLetter('rejected_point', rowSummary(row, reason)).catch((err: Error) => this.options.logger.error({ err: err.message }, 'could not dead-letter a rejected row'));
  }

  private async run(): Promise<void> {
    for await (const m of this.options.source.messages()) {
      if (!(await this.handle(m))) return;
      this.toAck.push(m);
      this.handled();
      if (m.endOfInterval) this.requestWrite();
    }
  }

  /** Applies, skips or sets aside one batch; false when the driver stops before it could apply. */
  private async handle(m: BusMessage): Promise<boolean> {
    const { events } = this.options;
    if (m.seq !== 0 && m.seq <= this.watermark) {
      events.skipped();
      return true;
    }
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(m.data);
    } catch (err) {
      if (!(err instanceof BatchDecodeError)) throw err;
      await this.unusable(m, 'undecodable', err.message);
      return true;
    }
    const outcome = await this.applyUntilDone(batch, m.seq);
    if (outcome === STOPPED) return false;
    // refused values are counted as lost, never acknowledged as applied in silence (SPEC §5)
    if (outcome !== undefined) events.refused(outcome);
    events.applied(valuesOf(batch) - (outcome?.values ?? 0));
    return true;
  }

  /** A store read can fail (store down): retry the same batch, never skip it. STOPPED when stopping. */
  private async applyUntilDone(batch: DecodedBatch, seq: number): Promise<SeriesRefusal | undefined | typeof STOPPED> {
    for (;;) {
      try {
        return await this.options.rollup.apply(batch, seq);
      } catch (err) {
        if (this.stopping) return STOPPED;
        this.options.events.storeReadFailed(err as Error);
        await new Promise((r) => setTimeout(r, APPLY_RETRY_MS));
      }
    }
  }

  /** A batch that can never be applied: dead-lettered (or dropped) and counted as applied, so its sequence is passed. */
  private async unusable(m: BusMessage, reason: string, detail: string): Promise<void> {
    const kept = await this.options.source.deadLetter(reason, m.data, String(m.seq));
    if (kept) this.options.events.deadLettered(reason);
    else this.options.events.dropped(0);
    this.options.logger.error({ seq: m.seq, reason, detail, kept }, kept ? 'batch sent to the dead-letter stream' : 'batch dropped');
    await this.options.rollup.apply({ createdMs: 0, series: [] }, m.seq);
  }
}

/** The driver was aborted, or its write gate said no: nothing written, nothing acknowledged. */
export class WriteNotAllowedError extends Error {
  override readonly name = 'WriteNotAllowedError';
  readonly code = 'HG_ERR_WRITE_NOT_ALLOWED';
}

const valuesOf = (batch: DecodedBatch) => {
  let n = 0;
  for (const s of batch.series) n += s.members !== null ? s.members.length : s.values.length;
  return n;
};

/** What an operator needs of a row the store refused, for the dead-letter stream. */
function rowSummary(row: RollupRow, reason: string): Uint8Array {
  const { name, tags, type, hourSec, writer, count, n, sum, min, max, seq } = row;
  return new TextEncoder().encode(JSON.stringify({ name, tags, type, hourSec, writer, count, n, sum, min, max, seq, reason }));
}
