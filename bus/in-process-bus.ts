/**
 * The in-process bus of the embedded default: batches go from the gateway to the rollup in the
 * same process, to a worker thread (default: the socket event loop then does no rollup work) or to
 * a rollup on the same thread (tests). The runtime supplies the delivery; this file is the two
 * ends. Bounded: past MAX_PENDING_BATCHES not yet taken by the rollup, a batch is dropped and
 * counted, so a stalled store costs memory up to a limit, then data, never the listener.
 */
import type { Clock, Logger } from '../core/index.js';
import { encodeBatch, type SeriesBatch } from './batch-codec.js';
import { BusUnavailableError, type BatchPublisher, type BatchSource, type BusMessage } from './contract.js';
import { countDrop, type BusMetrics, type DropReason } from './metrics.js';

export const MAX_PENDING_BATCHES = 64;
/**
 * How long a durable publish waits for the store write before answering "not now" (503): a store
 * that is down must not hold HTTP requests forever. The batch may still be written later; a
 * client retrying with its Idempotency-Key is then counted once.
 */
export const DURABLE_TIMEOUT_MS = 30_000;

/** One batch on its way over the in-process bus. */
export interface InProcessBatch {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly endOfInterval: boolean;
  /** Set for a durable publish with an idempotency key (HTTP ingest). */
  readonly idempotencyKey?: string;
}

/** How batches reach the rollup: a QueueSource on this thread, or a worker thread's port. */
export interface InProcessDelivery {
  deliver(batch: InProcessBatch): void;
}

/** The gateway's end. */
export class InProcessBus implements BatchPublisher {
  private seq = 0;
  private pending = 0;
  private down: Error | undefined;
  /** Durable publishes waiting for their batch to be written, by sequence. */
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly delivery: InProcessDelivery,
    private readonly clock: Clock,
    private readonly metrics: BusMetrics,
    private readonly logger: Logger,
  ) {}

  publish(series: readonly SeriesBatch[], values: number, endOfInterval: boolean): DropReason | undefined {
    const refused = this.refusal();
    if (refused !== undefined) {
      countDrop(this.metrics, refused, values);
      return refused;
    }
    this.handOn(series, values, endOfInterval, undefined);
    return undefined;
  }

  /** Resolves once the rollup wrote the batch to the store (it is delivered as closing an interval, so it is written at once). */
  publishDurable(series: readonly SeriesBatch[], values: number, id: string | undefined): Promise<void> {
    const refused = this.refusal();
    // refused, not dropped: the caller answers 503 and the client still holds the data
    if (refused !== undefined) return Promise.reject(new BusUnavailableError(refused, refused === 'bus_full' ? 'the rollup is behind' : 'the rollup is not running'));
    return new Promise<void>((resolve, reject) => {
      const seq = this.seq + 1;
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new BusUnavailableError('timeout', `the store did not take the data within ${DURABLE_TIMEOUT_MS / 1000} s`));
      }, DURABLE_TIMEOUT_MS);
      this.waiting.set(seq, { resolve, reject, timer });
      this.handOn(series, values, true, id);
    });
  }

  /** The rollup wrote the batch of this sequence to the store. */
  acked(seq: number): void {
    const w = this.waiting.get(seq);
    if (w === undefined) return;
    this.waiting.delete(seq);
    clearTimeout(w.timer);
    w.resolve();
  }

  private refusal(): DropReason | undefined {
    return this.down !== undefined ? 'bus_down' : this.pending >= MAX_PENDING_BATCHES ? 'bus_full' : undefined;
  }

  private handOn(series: readonly SeriesBatch[], values: number, endOfInterval: boolean, idempotencyKey: string | undefined): void {
    this.metrics.batchesPublished.inc();
    this.metrics.batchValuesPublished.inc(values);
    this.pending++;
    this.metrics.busPendingBatches.set(this.pending);
    const batch: InProcessBatch = { seq: ++this.seq, data: encodeBatch(series, this.clock.nowMs()), endOfInterval };
    this.delivery.deliver(idempotencyKey === undefined ? batch : { ...batch, idempotencyKey });
  }

  accepting(): boolean {
    return this.refusal() === undefined;
  }

  /** The rollup took a batch off the bus. */
  taken(): void {
    this.pending--;
    this.metrics.busPendingBatches.set(this.pending);
  }

  /** The rollup side is gone: every batch from now on is dropped and counted as bus_down. */
  failed(err: Error): void {
    if (this.down !== undefined) return;
    this.down = err;
    for (const [seq, w] of this.waiting) {
      this.waiting.delete(seq);
      clearTimeout(w.timer);
      w.reject(new BusUnavailableError('bus_down', 'the rollup is not running'));
    }
    this.logger.fatal({ err }, 'rollup failed: batches are now dropped and counted; /healthz says unavailable');
  }

  /** Batches handed on since start (the sequence of the last one). */
  get handedOn(): number {
    return this.seq;
  }

  get failure(): Error | undefined {
    return this.down;
  }
}

/** The rollup's end: a queue read in order. */
export class QueueSource implements BatchSource {
  private readonly queue: InProcessBatch[] = [];
  private wake: (() => void) | undefined;
  private stopped = false;

  constructor(
    readonly writer: string,
    private readonly onTaken: (seq: number) => void,
    private readonly onAcked: (seq: number) => void,
  ) {}

  push(batch: InProcessBatch): void {
    this.queue.push(batch);
    this.wake?.();
  }

  /**
   * The in-process bus's sequence restarts with the process, so it is no position for
   * exactly-once bookkeeping: the rollup sees 0 (none), as SPEC §5 asks nothing more of the
   * embedded default than "a crash loses at most the last flush interval".
   */
  async *messages(): AsyncIterable<BusMessage> {
    for (;;) {
      while (this.queue.length === 0 && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
      const next = this.queue.shift();
      if (next === undefined) return;
      this.onTaken(next.seq);
      const message: BusMessage = { seq: 0, data: next.data, endOfInterval: next.endOfInterval, ack: () => this.onAcked(next.seq) };
      yield next.idempotencyKey === undefined ? message : { ...message, idempotencyKey: next.idempotencyKey };
    }
  }

  /** The in-process bus keeps no dead letters: the driver counts what it cannot apply as dropped. */
  async deadLetter(): Promise<boolean> {
    return false;
  }

  /** Ends messages() once the queue is drained. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}
