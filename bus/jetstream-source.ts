/**
 * One bus partition as a rollup reads it from JetStream: a durable pull consumer on the
 * partition's subject, messages in stream order, acknowledged only after the rollup's store write.
 * The stream keeps acknowledged batches (limits retention, for replay): what a worker applied is
 * its consumer's ack floor and, above it, the store's watermark of the writer.
 *
 * At start the consumer is recreated, so delivery restarts in stream order at the first batch
 * after both (a consumer left over from a killed worker would redeliver its in-flight batches only
 * after their ack wait, behind newer ones; one made with DeliverPolicy.All would read the whole
 * retention again).
 */
import { AckPolicy, DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckMemory } from './ack-memory.js';
import type { BatchSource, BusMessage } from './contract.js';
import { batchSubject, deadLetterSubject } from './jetstream-streams.js';
import type { BusMetrics } from './metrics.js';

const NS_PER_MS = 1_000_000;
/** Unacknowledged batches the server lets a worker hold: bounds memory while the store is down. */
const MAX_ACK_PENDING = 10_000;
/** Long enough that a slow store write never triggers a redelivery to ourselves. */
const ACK_WAIT_MS = 5 * 60_000;
/** Batches pulled ahead of the rollup. */
const PULL_BATCH = 256;
/**
 * Life of one pull request. nats.js re-pulls after a reconnect once a consumer info succeeds, and
 * waits this long (with jitter, 0.5x to 1.5x) before asking again if it does not (a server still
 * starting its JetStream): at the default 30 s that alone broke the "moving again within 10 s"
 * bound of SPEC §5. Heartbeats come every half of it, so a lost pull is also noticed sooner.
 */
const PULL_EXPIRES_MS = 5_000;
/** Acks sent this recently before a disconnect are sent again on reconnect (ack-memory.ts). */
const ACK_REMEMBER_MS = 10_000;
const ACK_PAYLOAD = new TextEncoder().encode('+ACK');
/** Wait between attempts of a reset after a reconnect (store write, consumer re-creation). */
const RESET_RETRY_MS = 1000;

export interface PartitionSourceOptions {
  readonly stream: string;
  readonly partition: number;
  readonly metrics: BusMetrics;
  /** How often the consumer's backlog gauge is refreshed. */
  readonly lagIntervalMs: number;
  /** The connection `js` runs on: its reconnects trigger sending remembered acks again. */
  readonly nc: NatsConnection;
}

export const writerOfPartition = (partition: number) => `p${partition}`;

export class PartitionSource implements BatchSource {
  readonly writer: string;
  private readonly durable: string;
  private consumerMessages: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  /** Stream sequence of the last batch handed to the rollup. */
  private lastYielded = 0;
  /** Between a disconnect and the end of the reset that follows the reconnect: deliveries are withheld. */
  private interrupted = false;
  private resetting: Promise<void> | undefined;
  private stopped = false;
  /**
   * Makes the rollup write and acknowledge everything handed to it so far (RollupDriver.flush),
   * called before the consumer is recreated after a reconnect.
   */
  beforeReset: (() => Promise<void>) | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly acks = new AckMemory({ rememberMs: ACK_REMEMBER_MS, max: MAX_ACK_PENDING, nowMs: () => Date.now() });
  private statusLoop: { stop(): void } | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: PartitionSourceOptions,
  ) {
    this.writer = writerOfPartition(options.partition);
    this.durable = `rollup-p${options.partition}`;
  }

  /**
   * Recreates the partition's consumer and starts pulling after `appliedSeq` (the store's
   * watermark of this writer) or the old consumer's ack floor, whichever is higher.
   */
  async start(appliedSeq = 0): Promise<void> {
    const { partition, metrics, lagIntervalMs } = this.options;
    this.lastYielded = appliedSeq;
    await this.createConsumer(appliedSeq);
    this.watchConnection();
    const lag = async () => {
      const info = await this.consumer?.info(false).catch(() => undefined); // false: ask the server, not the cache
      if (info) metrics.consumerPending.set({ partition: String(partition) }, info.num_pending + info.num_ack_pending);
    };
    this.lagTimer = setInterval(() => void lag(), lagIntervalMs);
  }

  private async createConsumer(appliedSeq: number): Promise<void> {
    const { stream, partition } = this.options;
    const previous = await this.jsm.consumers.info(stream, this.durable).catch(() => undefined);
    const after = Math.max(appliedSeq, previous?.ack_floor.stream_seq ?? 0);
    await this.jsm.consumers.delete(stream, this.durable).catch(() => false);
    await this.jsm.consumers.add(stream, {
      durable_name: this.durable,
      filter_subject: batchSubject(stream, partition),
      // explicit: the ack floor moves only past batches whose store write is done
      ack_policy: AckPolicy.Explicit,
      ...(after > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 } : { deliver_policy: DeliverPolicy.All }),
      ack_wait: ACK_WAIT_MS * NS_PER_MS,
      max_ack_pending: MAX_ACK_PENDING,
    });
    this.consumer = await this.js.consumers.get(stream, this.durable);
    this.consumerMessages = await this.consumer.consume({ max_messages: PULL_BATCH, expires: PULL_EXPIRES_MS });
  }

  /**
   * After a reconnect: batches the server sent while the connection broke are lost in transit,
   * yet count as delivered; it sends them again only after the ack wait (5 minutes), behind newer
   * ones. Applied then, their sequence would be below the rows' and the watermark, and they would
   * be skipped as already applied: lost. So deliveries stop at the disconnect, the rollup writes
   * and acknowledges what it has, and the consumer is recreated after the last batch handed on:
   * delivery goes on in stream order, lost ones first.
   */
  private async reset(): Promise<void> {
    this.consumerMessages?.stop();
    for (;;) {
      if (this.stopped) return;
      try {
        await this.beforeReset?.();
        await this.createConsumer(this.lastYielded);
        this.interrupted = false;
        return;
      } catch {
        // the store or JetStream is not ready yet: deliveries stay withheld, try again
        await new Promise((r) => setTimeout(r, RESET_RETRY_MS));
      }
    }
  }

  async *messages(): AsyncIterable<BusMessage> {
    while (!this.stopped) {
      const current = this.consumerMessages;
      if (current === undefined) throw new Error('PartitionSource.start() first');
      for await (const m of current) {
        // withheld (a reset is coming: the new consumer delivers it again), or handed on already
        if (this.interrupted || m.seq <= this.lastYielded) continue;
        this.lastYielded = m.seq;
        yield* this.delivered(m);
      }
      // the iterator ended: replaced by a reset (go on with the new consumer), or for good
      const pending = this.resetting;
      if (pending === undefined) return;
      await pending;
      if (this.resetting === pending) this.resetting = undefined;
    }
  }

  private *delivered(m: JsMsg): Iterable<BusMessage> {
      yield {
        seq: m.seq,
        data: m.data,
        endOfInterval: false,
        ack: () => {
          m.ack();
          // remembered: nats.js drops it silently if the connection is down (ack-memory.ts)
          // (the reply subject is where an ack goes; nats.js's JsMsgImpl has it, its public type does not)
          this.options.metrics.acksForgotten.inc(this.acks.sent((m as typeof m & { reply: string }).reply));
        },
      };
  }

  async deadLetter(reason: string, data: Uint8Array, id?: string): Promise<boolean> {
    await this.js.publish(deadLetterSubject(this.options.stream, reason), data, id === undefined ? undefined : { msgID: `dead.${this.options.stream}.${id}` });
    return true;
  }

  /**
   * Sends remembered acks again after each reconnect. Without this, a NATS restart left batches
   * "ack pending" on the server for the whole ack wait (5 minutes), applied and written but counted
   * as backlog, and redelivered long after.
   */
  private watchConnection(): void {
    const { nc, metrics } = this.options;
    const status = nc.status() as AsyncIterable<{ type: string }> & { stop(): void };
    this.statusLoop = status;
    void (async () => {
      for await (const s of status) {
        if (s.type === 'disconnect') {
          this.acks.disconnected();
          this.interrupted = true;
        } else if (s.type === 'reconnect') {
          // one reset at a time; a reconnect during one queues another
          const previous = this.resetting ?? Promise.resolve();
          this.resetting = previous.then(() => this.reset());
          const replies = this.acks.reconnected();
          try {
            for (const reply of replies) nc.publish(reply, ACK_PAYLOAD);
          } catch {
            // the connection is closing (stop): the acks go with the worker, the batches are redelivered
          }
          metrics.acksResent.inc(replies.length);
        }
      }
    })();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.lagTimer);
    this.statusLoop?.stop();
    // a partition handed to another worker is no longer this worker's backlog
    this.options.metrics.consumerPending.remove({ partition: String(this.options.partition) });
    this.consumerMessages?.stop();
  }
}
