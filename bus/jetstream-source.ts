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
 *
 * Batches the stream removed before any worker applied them are counted from their continuity
 * stamps (continuity.ts): each batch is fed to the partition's tracker once applied (acknowledged,
 * or at or below the resume point), and the tracker's state is saved in the KV bucket
 * `<stream>-continuity` so the next owner of the partition goes on from it.
 */
import { AckPolicy, DeliverPolicy, type Consumer, type MsgRequest, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { RateLimitedLog, type Logger } from '../core/index.js';
import { AckMemory } from './ack-memory.js';
import { CONTINUITY_HEADER, ContinuityTracker, parseStamp, parseTrackerState, type Loss, type Stamp } from './continuity.js';
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
  readonly logger: Logger;
  /** Wall-clock milliseconds (batch ages are against JetStream's store timestamps). */
  readonly nowMs: () => number;
  /** Replicas of the continuity bucket (NATS_REPLICAS). */
  readonly replicas?: number;
}

export const continuityBucket = (stream: string) => `${stream}-continuity`;
const continuityKey = (partition: number) => `p${partition}`;

export const writerOfPartition = (partition: number) => `p${partition}`;

export class PartitionSource implements BatchSource {
  readonly writer: string;
  private readonly durable: string;
  private consumerMessages: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  /** Stream sequence of the last batch handed to the rollup. */
  private lastYielded = 0;
  /** The current consumer's resume point: batches up to it were applied before it was made. */
  private resumedThrough = 0;
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
  private tracker: ContinuityTracker | undefined;
  private kv: KV | undefined;
  private readonly expiredLog: RateLimitedLog;
  private saving = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: PartitionSourceOptions,
  ) {
    this.writer = writerOfPartition(options.partition);
    this.durable = `rollup-p${options.partition}`;
    this.expiredLog = new RateLimitedLog(options.logger, options.nowMs);
  }

  /**
   * Recreates the partition's consumer and starts pulling after `appliedSeq` (the store's
   * watermark of this writer) or the old consumer's ack floor, whichever is higher.
   */
  async start(appliedSeq = 0): Promise<void> {
    const { partition, metrics, lagIntervalMs } = this.options;
    this.lastYielded = appliedSeq;
    const after = await this.resumePoint(appliedSeq);
    const trackFrom = await this.startTracking(after);
    await this.createConsumer(after, trackFrom);
    this.watchConnection();
    const label = { partition: String(partition) };
    const lag = async () => {
      await this.saveTracking();
      const info = await this.consumer?.info(false).catch(() => undefined); // false: ask the server, not the cache
      if (info === undefined) return;
      const pending = info.num_pending + info.num_ack_pending;
      metrics.consumerPending.set(label, pending);
      metrics.oldestUnappliedAge.set(label, pending === 0 ? 0 : await this.ageOfFirstAfter(info.ack_floor.stream_seq));
    };
    this.lagTimer = setInterval(() => void lag(), lagIntervalMs);
  }

  /** Seconds since the first batch of the partition after `seq` was stored; 0 when none. */
  private async ageOfFirstAfter(seq: number): Promise<number> {
    const { stream, partition, nowMs } = this.options;
    // the server's message get takes next_by_subj (nats-server 2.9 on); nats.js types it only for direct gets
    const request = { seq: seq + 1, next_by_subj: batchSubject(stream, partition) } as MsgRequest;
    const m = await this.jsm.streams.getMessage(stream, request).catch(() => null);
    return m === null ? 0 : Math.max(0, (nowMs() - m.time.getTime()) / 1000);
  }

  private async resumePoint(appliedSeq: number): Promise<number> {
    const previous = await this.jsm.consumers.info(this.options.stream, this.durable).catch(() => undefined);
    return Math.max(appliedSeq, previous?.ack_floor.stream_seq ?? 0);
  }

  /**
   * Loads the partition's saved tracking; returns the sequence to read from so the tracker sees
   * every batch after its saved state (those up to `after` are applied already: read, not handed on).
   */
  private async startTracking(after: number): Promise<number> {
    const { stream, partition, metrics, replicas } = this.options;
    this.kv = await new Kvm(this.js).create(continuityBucket(stream), { history: 1, replicas: replicas ?? 1 });
    const saved = parseTrackerState((await this.kv.get(continuityKey(partition)))?.value);
    const { first_seq: firstSeq, messages } = (await this.jsm.streams.info(stream)).state;
    const onReset = (reason: Parameters<ContinuityTracker['restart']>[0]) => metrics.continuityResets.inc({ reason });
    // nothing ever removed (a new stream, read from its start): every gateway run is tracked from its first batch
    const fromStart = after === 0 && (messages === 0 || firstSeq <= 1);
    if (saved !== undefined && (saved.seq >= after || saved.seq + 1 >= firstSeq)) {
      // behind the resume point but nothing after it removed: read those batches again, for the tracker only
      this.tracker = new ContinuityTracker({ strict: true, seq: saved.seq, state: saved }, onReset);
      return Math.min(after, saved.seq);
    }
    this.tracker = new ContinuityTracker({ strict: fromStart, seq: after }, onReset);
    if (!fromStart) onReset(saved === undefined ? 'no_state' : 'state_behind');
    return after;
  }

  /**
   * Saves the tracker's state, through the consumer's ack floor: every batch of the partition up
   * to it was acknowledged by this source, so the tracker has seen it, and the other partitions'
   * batches in between need no reading again at the next start.
   */
  private async saveTracking(): Promise<void> {
    const tracker = this.tracker;
    if (tracker === undefined || this.kv === undefined || this.saving) return;
    this.saving = true;
    try {
      const info = await this.consumer?.info(false).catch(() => undefined);
      if (info !== undefined && info.ack_floor.stream_seq > tracker.seq) {
        tracker.seq = info.ack_floor.stream_seq;
        tracker.dirty = true;
      }
      if (!tracker.dirty) return;
      await this.kv.put(continuityKey(this.options.partition), JSON.stringify(tracker.snapshot())).catch(() => {
        tracker.dirty = true; // NATS away: saved at the next tick
      });
    } finally {
      this.saving = false;
    }
  }

  /** A batch now applied (acknowledged, or at or below the resume point): fed to the tracker, losses counted. */
  private applied(seq: number, stamp: Stamp | undefined): void {
    const tracker = this.tracker;
    if (tracker === undefined) return;
    if (stamp === undefined) {
      // from a gateway of an earlier version: nothing to track, the saved position still moves
      if (seq > tracker.seq) tracker.seq = seq;
      tracker.dirty = true;
      return;
    }
    const loss = tracker.observe(stamp, seq);
    if (loss !== undefined) this.expired(loss);
    // stopped, the lag timer no longer saves; the rollup acknowledges its last write after stop()
    if (this.stopped) void this.saveTracking();
  }

  private expired(loss: Loss): void {
    const { metrics, partition } = this.options;
    metrics.batchesExpiredUnapplied.inc(loss.batches);
    metrics.valuesExpiredUnapplied.inc(loss.values);
    this.expiredLog.warn(
      'batches_expired_unapplied',
      { partition, origin: loss.origin, batches: loss.batches, values: loss.values, afterSeq: loss.afterSeq, beforeSeq: loss.beforeSeq },
      'batches removed from the stream (NATS_MAX_AGE_SEC / NATS_MAX_BYTES) before any rollup worker applied them: lost',
    );
  }

  /**
   * A consumer delivering after `after` (and from `trackFrom`, when the tracker must see earlier
   * batches again); batches up to `after` are not handed on.
   */
  private async createConsumer(after: number, trackFrom = after): Promise<void> {
    const { stream, partition } = this.options;
    if (after > this.lastYielded) this.lastYielded = after;
    this.resumedThrough = after;
    const from = Math.min(after, trackFrom);
    await this.jsm.consumers.delete(stream, this.durable).catch(() => false);
    await this.jsm.consumers.add(stream, {
      durable_name: this.durable,
      filter_subject: batchSubject(stream, partition),
      // explicit: the ack floor moves only past batches whose store write is done
      ack_policy: AckPolicy.Explicit,
      ...(from > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 } : { deliver_policy: DeliverPolicy.All }),
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
        await this.createConsumer(await this.resumePoint(this.lastYielded));
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
        // withheld: a reset is coming, the new consumer delivers it again
        if (this.interrupted) continue;
        // applied before this consumer was made: read again for the tracker only
        if (m.seq <= this.resumedThrough) {
          this.applied(m.seq, stampOf(m));
          m.ack();
          continue;
        }
        // handed on already and not acknowledged yet (redelivered after ACK_WAIT_MS, as during a
        // long store outage): its ack comes once its write is done, never from this copy
        if (m.seq <= this.lastYielded) continue;
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
      const stamp = stampOf(m);
      yield {
        seq: m.seq,
        data: m.data,
        endOfInterval: false,
        ack: () => {
          m.ack();
          this.applied(m.seq, stamp);
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
    void this.saveTracking();
    this.statusLoop?.stop();
    // a partition handed to another worker is no longer this worker's backlog
    this.options.metrics.consumerPending.remove({ partition: String(this.options.partition) });
    this.options.metrics.oldestUnappliedAge.remove({ partition: String(this.options.partition) });
    this.consumerMessages?.stop();
  }
}

const stampOf = (m: JsMsg) => (m.headers === undefined ? undefined : parseStamp(m.headers.get(CONTINUITY_HEADER) || undefined));
