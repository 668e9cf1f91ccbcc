/**
 * The bus contract, both sides. The gateway hands batches to a BatchPublisher; a rollup reads
 * them from a BatchSource. The in-process bus (embedded default) and NATS JetStream (distributed)
 * implement both, so the gateway and the rollup driver are the same code in either setup.
 */
import type { SeriesBatch } from './batch-codec.js';
import type { DropReason } from './metrics.js';

/** Where the gateway's batches go. */
export interface BatchPublisher {
  /**
   * Takes a batch (the series of one flush) without blocking the caller; returns why it was
   * dropped instead, if it was (the publisher has counted it). `endOfInterval`: the batch closes a
   * flush interval (not a size-triggered one), so the rollup may write now.
   */
  publish(series: readonly SeriesBatch[], values: number, endOfInterval: boolean): DropReason | undefined;
  /**
   * Hands a batch on and resolves once it is durable (SPEC §3.1): JetStream acknowledged it or
   * the gateway's spool holds it (distributed), or the rollup wrote it to the store (in-process).
   * Rejects with BusUnavailableError when the bus cannot take it now. Batches with the same `id`
   * (an HTTP Idempotency-Key) are counted once.
   */
  publishDurable(series: readonly SeriesBatch[], values: number, id: string | undefined): Promise<void>;
  /**
   * False when a batch published now would be dropped (the bus is full or down). Remote write asks
   * before taking a request, so it can answer 503 and let the sender retry instead of losing it.
   */
  accepting?(): boolean;
}

/** The bus cannot take a batch now (full, down, spool full, not written in time): the caller may retry. */
export class BusUnavailableError extends Error {
  override readonly name = 'BusUnavailableError';
  readonly code = 'HG_ERR_BUS_UNAVAILABLE';
  constructor(
    readonly reason: DropReason | 'timeout',
    message: string,
  ) {
    super(message);
  }
}

/** One batch as the rollup receives it. */
export interface BusMessage {
  /** Position in its partition, growing; 0 where the bus has none. */
  readonly seq: number;
  /** The encoded batch (batch-codec.ts). */
  readonly data: Uint8Array;
  /** The batch closed a gateway flush interval. */
  readonly endOfInterval: boolean;
  /**
   * An idempotency key the store must remember with the batch's values (in-process bus only; on
   * JetStream the stream's duplicate window does that job).
   */
  readonly idempotencyKey?: string;
  /** Called once the batch is durably applied (written to the store). */
  ack(): void;
}

/** The rollup's side of one partition of the bus. */
export interface BatchSource {
  /** The writer identity of what this source delivers ("embedded", "p3"): one writer per partition. */
  readonly writer: string;
  /** Messages in bus order, until stop(). */
  messages(): AsyncIterable<BusMessage>;
  /**
   * Keeps a batch that can never be applied (or a row the store refused, as JSON) where an
   * operator can find it; false when this bus has no such place.
   */
  deadLetter(reason: string, data: Uint8Array, id?: string): Promise<boolean>;
  /** Ends messages(); batches not acknowledged are delivered again to the next reader. */
  stop(): void;
}
