/**
 * The in-process bus of the embedded default: batches go from the gateway to the rollup in the
 * same process, either to a worker thread (default: the socket event loop then does no rollup
 * work) or to a rollup on the same thread (tests, where the worker's compiled file is absent).
 * Both are bounded: past MAX_PENDING_BATCHES the gateway's batch is dropped and counted, so a
 * stalled store costs memory up to a limit, then data, never the listener.
 */
import { Worker } from 'node:worker_threads';
import { encodeBatch, type SeriesBatch } from '../gateway/index.js';
import type { BatchPublisher, DropReason } from '../gateway/gateway.js';
import type { FlushOutcome, RollupService } from '../rollup/rollup-service.js';
import type { FromRollupThread, RollupThreadData, ToRollupThread } from '../rollup/rollup-thread.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export const MAX_PENDING_BATCHES = 64;

export interface InProcessBus extends BatchPublisher {
  /** Resolves once every batch handed on so far is applied and written. */
  flush(): Promise<void>;
  /** Writes what is pending and stops the rollup. */
  close(): Promise<void>;
}

/**
 * Records rollup flushes in /metrics. Several rollups may report through one recorder (a worker
 * owning several partitions): each keeps its own running totals, named by `source`.
 */
export function recordFlush(metrics: Metrics, logger: Logger): (outcome: FlushOutcome, source?: string) => void {
  const applied = new Map<string, number>();
  const series = new Map<string, number>();
  return (outcome, source = '') => {
    metrics.rollupValuesApplied.inc(Math.max(0, outcome.valuesApplied - (applied.get(source) ?? 0)));
    applied.set(source, outcome.valuesApplied);
    series.set(source, outcome.seriesInMemory);
    let total = 0;
    for (const n of series.values()) total += n;
    metrics.rollupSeries.set(total);
    if (outcome.error) {
      metrics.storeWriteErrors.inc();
      logger.error({ err: outcome.error.message }, 'store write failed; retrying at the next flush');
      return;
    }
    const r = outcome.report;
    if (r === undefined) return;
    if (r.rejected.length > 0) {
      metrics.pointsRejected.inc(r.rejected.length);
      logger.error({ rejected: r.rejected.length, first: r.rejected[0].reason }, 'the store refused rollup rows for good');
    }
    if (r.rows === 0) return;
    metrics.rollupFlushDuration.observe(r.durationMs / 1000);
    metrics.storeWriteDuration.observe(r.writeMs / 1000);
    metrics.storeRowsWritten.inc(r.rows);
    logger.debug({ rows: r.rows, chunks: r.chunks, durationMs: Math.round(r.durationMs * 10) / 10 }, 'rollup flushed');
  };
}

abstract class BoundedBus {
  protected pending = 0;
  constructor(
    protected readonly clock: Clock,
    protected readonly metrics: Metrics,
    protected readonly logger: Logger,
  ) {}

  /** Takes a batch in flight, or says why not. */
  protected admit(values: number): DropReason | undefined {
    if (this.pending >= MAX_PENDING_BATCHES) return 'bus_full';
    this.metrics.batchesPublished.inc();
    this.metrics.batchValuesPublished.inc(values);
    this.pending++;
    this.metrics.busPendingBatches.set(this.pending);
    return undefined;
  }

  protected applied(values: number, error: string | undefined): void {
    this.pending--;
    this.metrics.busPendingBatches.set(this.pending);
    if (error !== undefined) {
      this.metrics.batchesDropped.inc({ reason: 'apply_failed' });
      this.metrics.batchValuesDropped.inc({ reason: 'apply_failed' }, values);
      this.logger.error({ err: error }, 'rollup could not apply a batch');
    }
  }
}

/** Rollup on this thread. */
export class DirectBus extends BoundedBus implements InProcessBus {
  constructor(
    private readonly service: RollupService,
    clock: Clock,
    metrics: Metrics,
    logger: Logger,
  ) {
    super(clock, metrics, logger);
  }

  publish(series: readonly SeriesBatch[], values: number, endOfInterval: boolean): DropReason | undefined {
    const refused = this.admit(values);
    if (refused !== undefined) return refused;
    this.service.accept(encodeBatch(series, this.clock.nowMs()), endOfInterval).then(
      () => this.applied(values, undefined),
      (err: Error) => this.applied(values, err.message),
    );
    return undefined;
  }

  async flush(): Promise<void> {
    await this.service.flush();
  }

  async close(): Promise<void> {
    await this.service.close();
  }
}

/** Rollup in a worker thread; batches are transferred, not copied. */
export class ThreadBus extends BoundedBus implements InProcessBus {
  private readonly worker: Worker;
  private readonly valuesInFlight: number[] = [];
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited: Error | undefined;

  constructor(data: RollupThreadData, onFlushed: (outcome: FlushOutcome) => void, clock: Clock, metrics: Metrics, logger: Logger) {
    super(clock, metrics, logger);
    this.worker = new Worker(new URL('../rollup/rollup-thread.js', import.meta.url), { workerData: data });
    this.worker.on('message', (m: FromRollupThread) => {
      if (m.kind === 'applied') this.applied(this.valuesInFlight.shift() ?? 0, m.error);
      else if (m.kind === 'flushed') onFlushed(m.outcome);
      else this.settle(m.id, m.error);
    });
    const fail = (err: Error) => {
      if (this.exited !== undefined) return;
      this.exited = err;
      logger.fatal({ err }, 'rollup thread failed: batches are now dropped and counted; /healthz says unavailable');
      for (const id of [...this.waiting.keys()]) this.settle(id, err.message);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`rollup thread exited with code ${code}`)));
  }

  get failed(): Error | undefined {
    return this.exited;
  }

  publish(series: readonly SeriesBatch[], values: number, endOfInterval: boolean): DropReason | undefined {
    if (this.exited !== undefined) return 'bus_down';
    const refused = this.admit(values);
    if (refused !== undefined) return refused;
    this.valuesInFlight.push(values);
    const bytes = encodeBatch(series, this.clock.nowMs());
    const message: ToRollupThread = { kind: 'batch', bytes, endOfInterval };
    this.worker.postMessage(message, [bytes.buffer as ArrayBuffer]);
    return undefined;
  }

  flush(): Promise<void> {
    return this.request('flush');
  }

  async close(): Promise<void> {
    await this.request('close');
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private request(kind: 'flush' | 'close'): Promise<void> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const message: ToRollupThread = { kind, id };
      this.worker.postMessage(message);
    });
  }

  private settle(id: number, error: string | undefined): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    this.waiting.delete(id);
    if (error === undefined) w.resolve();
    else w.reject(new Error(error));
  }
}
