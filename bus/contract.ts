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
   * False when a batch published now would be dropped (the bus is full or down). HTTP ingest asks
   * before taking a request, so it can answer 503 and let the sender retry instead of losing it.
   */
  accepting?(): boolean;
}

/** One batch as the rollup receives it. */
export interface BusMessage {
  /** Position in its partition, growing; 0 where the bus has none. */
  readonly seq: number;
  /** The encoded batch (batch-codec.ts). */
  readonly data: Uint8Array;
  /** The batch closed a gateway flush interval. */
  readonly endOfInterval: boolean;
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
