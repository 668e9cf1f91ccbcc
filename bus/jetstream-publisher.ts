/**
 * The gateway's side of the distributed bus: each batch is split by partition, encoded, and
 * published to JetStream with a deterministic message id; the publish ack is the commit point
 * (SPEC §5). Nothing here ever makes the socket loop wait: publishes are asynchronous, and when
 * NATS is unreachable, slow or refusing, batches go to the spool and are replayed in order, with
 * their original ids, once it answers again.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { RateLimitedLog, type Logger } from '../core/index.js';
import { encodeBatch, type SeriesBatch } from './batch-codec.js';
import { CONTINUITY_HEADER, PublisherContinuity, formatStamp, parseStamp, type Stamp } from './continuity.js';
import { BusUnavailableError, type BatchPublisher } from './contract.js';
import { partitionOfSubject } from './jetstream-replay.js';
import { batchSubject, partitionOf } from './jetstream-streams.js';
import { countDrop, type BusMetrics, type DropReason, type NatsMetrics } from './metrics.js';
import type { Spool } from './spool.js';

export interface JetStreamPublisherOptions {
  readonly stream: string;
  readonly partitions: number;
  /** Prefix of every message id: the gateway's id and start time, so ids never repeat across runs. */
  readonly idPrefix: string;
  readonly publishTimeoutMs: number;
  /** Publishes awaiting their ack before new batches go to the spool. */
  readonly maxInFlight: number;
  readonly nowMs: () => number;
}

interface Message {
  readonly subject: string;
  readonly msgId: string;
  readonly data: Uint8Array;
  readonly values: number;
  readonly partition: number;
  /** Its continuity stamp (continuity.ts): lets the rollup count it if the stream removes it unapplied. */
  readonly stamp: Stamp;
}

/** Room a spool must have left to take more (a batch of MAX_BATCH_LINES values is a few hundred KB). */
const SPOOL_HEADROOM_BYTES = 1024 * 1024;

/**
 * A publish must never wait for ever: the replay has one slot, and direct publishes count against
 * MAX_IN_FLIGHT. nats.js times its requests out itself, yet full CI runs showed a publish made as
 * nats-server was SIGKILLed that never settled, which left the spool undrained after the restart;
 * this bounds every publish again.
 */
const DEADLINE_SLACK_MS = 1000;

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** How often a spool holding batches is offered to the replay. */
const REPLAY_KICK_MS = 1000;

/** Wait between replay attempts while NATS does not answer. */
const REPLAY_RETRY_MS = 500;

/**
 * Spooled batches the replay publishes at once (and their bytes: the first is always taken). One
 * at a time, a replay on a loaded machine (a publish taking 50 to 600 ms) did not outpace the
 * batches that kept arriving behind it, so the spool never drained; JetStream stores the
 * publishes of one connection in the order they were sent.
 */
const REPLAY_WINDOW = 32;
const REPLAY_WINDOW_BYTES = 8 * 1024 * 1024;

/** Raised into a replay's publishes when the link changed under them: their acks cannot come. */
class LinkChangedError extends Error {
  override readonly name = 'LinkChangedError';
  readonly code = 'HG_ERR_NATS_LINK_CHANGED';
}

export class JetStreamPublisher implements BatchPublisher {
  private js: JetStreamClient | undefined;
  /** The client once connected: the spool replay keeps trying through it while the link is down. */
  private lastJs: JetStreamClient | undefined;
  /** Starts the spool replay every second it holds batches, whatever events the connection gave. */
  private readonly replayKicker: NodeJS.Timeout;
  /** One line per 10 s while NATS does not answer, however often the replay tries. */
  private readonly replayLog: RateLimitedLog;
  /** Debug: the replay's progress, at most once a second. */
  private readonly progressLog: RateLimitedLog;
  /** Batches added to the spool since start (debug: arrivals against the replay's rate). */
  private spooledTotal = 0;
  private inFlight = 0;
  private batchSeq = 0;
  private replaying = false;
  private closed = false;
  private readonly settled = new Set<Promise<unknown>>();
  private readonly continuity: PublisherContinuity;
  /**
   * Fails the publishes awaiting acks when NATS disconnects or reconnects: one entry per publish
   * in flight (not reactions on one long-lived promise, which would pile up for as long as the
   * link lasts).
   */
  private readonly onLinkChange = new Set<(err: LinkChangedError) => void>();

  constructor(
    private readonly options: JetStreamPublisherOptions,
    private readonly spool: Spool,
    private readonly metrics: BusMetrics & NatsMetrics,
    private readonly logger: Logger,
  ) {
    this.continuity = new PublisherContinuity(options.idPrefix);
    this.updateSpoolGauges();
    // A CI run showed a spool that never drained after nats-server was SIGKILLed and restarted:
    // no replay was ever attempted after the restart, so it hung on an event (disconnect,
    // reconnect) the gateway did not get or act on. The replay no longer depends on them.
    this.replayLog = new RateLimitedLog(logger, options.nowMs);
    this.progressLog = new RateLimitedLog(logger, options.nowMs, 1000);
    this.replayKicker = setInterval(() => {
      if (this.spool.count > 0) void this.replay();
    }, REPLAY_KICK_MS);
    this.replayKicker.unref();
  }

  /** NATS is up and the stream exists: publish directly, and drain the spool. */
  connected(js: JetStreamClient): void {
    this.js = js;
    this.lastJs = js;
    this.metrics.natsConnected.set(1);
    this.linkChanged('NATS reconnected');
    this.logger.debug({ spooled: this.spool.count, replaying: this.replaying }, 'publisher: NATS connected');
    void this.replay();
  }

  disconnected(): void {
    this.js = undefined;
    this.metrics.natsConnected.set(0);
    this.linkChanged('NATS disconnected');
    this.logger.debug({ spooled: this.spool.count, replaying: this.replaying, inFlight: this.inFlight }, 'publisher: NATS disconnected');
  }

  /**
   * Publishes in flight on the old link are given up: nats.js drops what it buffered while
   * disconnected when it dials again, and an ack due on a dead socket never comes. Waiting for
   * their timeouts (5 s) held the replay while the spool grew behind it; the replay sends them
   * again at once instead, and a direct publish goes to the spool (same ids: JetStream drops any
   * it did store).
   */
  private linkChanged(reason: string): void {
    const err = new LinkChangedError(reason);
    for (const fail of this.onLinkChange) fail(err);
    this.onLinkChange.clear();
  }

  publish(series: readonly SeriesBatch[], _values: number, _endOfInterval: boolean): DropReason | undefined {
    const seq = this.batchSeq++;
    for (const message of this.messagesOf(series, `${this.options.idPrefix}.${seq}`, false)) this.send(message);
    // Accepted: a later spool refusal is counted where it happens.
    return undefined;
  }

  /**
   * Resolves once JetStream acknowledged every partition's part, or the spool holds it. With an
   * idempotency key the message ids derive from it alone, so a retried request is a JetStream
   * duplicate within NATS_DUPLICATE_WINDOW_SEC, even through another gateway.
   */
  async publishDurable(series: readonly SeriesBatch[], _values: number, id: string | undefined): Promise<void> {
    const base = id === undefined ? `${this.options.idPrefix}.${this.batchSeq++}` : `ik.${id}`;
    const sent = this.messagesOf(series, base, id !== undefined).map((m) => this.sendDurable(m));
    for (const p of sent) this.track(p.catch(() => undefined));
    await Promise.all(sent);
  }

  /** A batch split by partition: each part goes to its partition's subject with id `<base>.<partition>`. */
  private messagesOf(series: readonly SeriesBatch[], base: string, idempotent: boolean): Message[] {
    const { partitions, stream, nowMs } = this.options;
    const groups = new Map<number, SeriesBatch[]>();
    for (const s of series) {
      const p = partitionOf(s.name, partitions);
      const group = groups.get(p);
      if (group === undefined) groups.set(p, [s]);
      else group.push(s);
    }
    const messages: Message[] = [];
    for (const [p, group] of groups) {
      let values = 0;
      for (const s of group) values += s.members !== null ? s.members.length : s.values.length;
      messages.push({ subject: batchSubject(stream, p), msgId: `${base}.${p}`, data: encodeBatch(group, nowMs()), values, partition: p, stamp: this.continuity.stamp(p, values, idempotent) });
    }
    return messages;
  }

  private async sendDurable(message: Message): Promise<void> {
    const { subject, msgId, data, values, partition, stamp } = message;
    const js = this.js;
    if (js !== undefined && this.spool.count === 0) {
      const started = performance.now();
      try {
        const ack = await this.publishBounded(js, subject, data, msgId, stamp);
        this.metrics.publishDuration.observe((performance.now() - started) / 1000);
        this.metrics.batchesPublished.inc();
        this.metrics.batchValuesPublished.inc(values);
        if (ack.duplicate) this.metrics.batchesDuplicate.inc();
        this.continuity.settled(stamp, partition, ack.duplicate ? 'duplicate' : 'stored');
        return;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, subject }, 'durable publish not acknowledged; spooling the batch');
      }
    }
    if (!(await this.spool.add(subject, msgId, data, formatStamp(stamp)))) {
      this.continuity.settled(stamp, partition, 'not_stored');
      this.updateSpoolGauges();
      // refused, not dropped: the HTTP client gets 503 and still holds the data
      throw new BusUnavailableError('spool_full', 'NATS does not answer and the spool is full');
    }
    this.metrics.batchesSpooled.inc();
    this.spooledTotal++;
    this.updateSpoolGauges();
    if (this.js !== undefined) void this.replay();
  }

  /**
   * False while a batch published now would likely be dropped: NATS is away or behind and the
   * spool has less than a large batch's room left. Remote write then answers 503 (the sender
   * keeps the samples and retries) instead of taking samples that would be lost.
   */
  accepting(): boolean {
    const direct = this.js !== undefined && this.spool.count === 0 && this.inFlight < this.options.maxInFlight;
    return direct || this.spool.freeBytes >= SPOOL_HEADROOM_BYTES;
  }

  /**
   * One publish, with its continuity stamp, settled within its timeout whatever happens to the
   * connection (withDeadline), and failed at once (LinkChangedError) when NATS disconnects or
   * reconnects before its ack.
   */
  private publishBounded(js: JetStreamClient, subject: string, data: Uint8Array, msgId: string, stamp: Stamp | string | undefined): Promise<PubAck> {
    const { publishTimeoutMs } = this.options;
    let h: ReturnType<typeof headers> | undefined;
    if (stamp !== undefined) {
      h = headers();
      h.set(CONTINUITY_HEADER, typeof stamp === 'string' ? stamp : formatStamp(stamp));
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.onLinkChange.add(reject);
      withDeadline(js.publish(subject, data, { msgID: msgId, timeout: publishTimeoutMs, headers: h }), publishTimeoutMs + DEADLINE_SLACK_MS)
        .then(resolve, reject)
        .finally(() => this.onLinkChange.delete(reject));
    });
  }

  /** Waits for publishes in flight and spool writes, then stops replaying. */
  async close(): Promise<void> {
    clearInterval(this.replayKicker);
    await Promise.allSettled([...this.settled]);
    this.closed = true;
  }

  private send(message: Message): void {
    const { subject, msgId, data, values, partition, stamp } = message;
    const js = this.js;
    // Order: while anything waits in the spool, new batches queue behind it.
    if (js === undefined || this.spool.count > 0 || this.inFlight >= this.options.maxInFlight) {
      this.track(this.toSpool(message));
      return;
    }
    this.inFlight++;
    const started = performance.now();
    const done = this.publishBounded(js, subject, data, msgId, stamp).then(
        (ack) => {
          this.metrics.publishDuration.observe((performance.now() - started) / 1000);
          this.metrics.batchesPublished.inc();
          this.metrics.batchValuesPublished.inc(values);
          if (ack.duplicate) this.metrics.batchesDuplicate.inc();
          this.continuity.settled(stamp, partition, ack.duplicate ? 'duplicate' : 'stored');
        },
        (err: Error) => {
          this.logger.warn({ err: err.message, subject }, 'publish not acknowledged; spooling the batch');
          return this.toSpool(message);
        },
      )
      .finally(() => this.inFlight--);
    this.track(done);
  }

  private track(p: Promise<unknown>): void {
    this.settled.add(p);
    void p.finally(() => this.settled.delete(p));
  }

  private async toSpool({ subject, msgId, data, values, partition, stamp }: Message): Promise<void> {
    if (await this.spool.add(subject, msgId, data, formatStamp(stamp))) {
      this.metrics.batchesSpooled.inc();
      this.spooledTotal++;
    } else {
      countDrop(this.metrics, 'spool_full', values);
      this.continuity.settled(stamp, partition, 'not_stored');
      this.logger.error({ spoolBytes: this.spool.bytes }, 'spool full: batch dropped');
    }
    this.updateSpoolGauges();
    if (this.js !== undefined) void this.replay();
  }

  /**
   * Publishes spooled batches oldest first until the spool is empty: up to REPLAY_WINDOW at once
   * while connected, one while not (nats.js would drop them at its next dial anyway). A window's
   * acknowledged head leaves the spool; from the first batch not acknowledged it starts again,
   * with the same ids.
   */
  private async replay(): Promise<void> {
    if (this.replaying) return;
    this.replaying = true;
    const started = performance.now();
    const spooledAtStart = this.spooledTotal;
    let replayed = 0;
    let failed = 0;
    let end = 'spool empty';
    this.logger.debug({ spooled: this.spool.count, connected: this.js !== undefined }, 'replay: started');
    try {
      while (!this.closed && this.spool.count > 0) {
        // while disconnected too: a publish then fails or times out and is tried again, and the
        // first one after NATS answers drains the spool
        const js = this.js ?? this.lastJs;
        if (js === undefined) {
          end = 'never connected';
          return;
        }
        const attempt = performance.now();
        const window = this.js === undefined ? 1 : REPLAY_WINDOW;
        let acked = 0;
        try {
          const batches = await this.spool.oldestBatches(window, REPLAY_WINDOW_BYTES);
          // all sent before any ack is awaited, in spool order
          const acks = batches.map((b) => this.publishBounded(js, b.subject, b.data, b.msgId, b.stamp));
          for (const ack of acks) ack.catch(() => undefined);
          let error: unknown;
          for (const [i, ack] of acks.entries()) {
            let duplicate: boolean;
            try {
              duplicate = (await ack).duplicate;
            } catch (err) {
              error = err;
              break;
            }
            if (duplicate) this.metrics.batchesDuplicate.inc();
            // a stamp of this run moves its floor; one of an earlier run (spooled before a restart) is passed on as it was
            const stamp = parseStamp(batches[i].stamp);
            const partition = partitionOfSubject(this.options.stream, batches[i].subject);
            if (stamp !== undefined && partition !== undefined) this.continuity.settled(stamp, partition, duplicate ? 'duplicate' : 'stored');
            await this.spool.remove(batches[i].file);
            acked++;
            this.metrics.batchesReplayed.inc();
            this.metrics.batchesPublished.inc();
          }
          replayed += acked;
          this.updateSpoolGauges();
          if (error !== undefined) throw error;
          this.progressLog.debug('replay-progress', { replayed, spooledSince: this.spooledTotal - spooledAtStart, spooled: this.spool.count, window: batches.length, windowMs: Math.round(performance.now() - attempt), connected: this.js !== undefined }, 'replay: progress');
        } catch (err) {
          failed++;
          const message = (err as Error).message;
          this.progressLog.debug('replay-failure', { err: message, failed, acked, afterMs: Math.round(performance.now() - attempt), spooled: this.spool.count, connected: this.js !== undefined }, 'replay: attempt failed');
          // a reconnect: at once, through the new link
          if (err instanceof LinkChangedError && this.js !== undefined) continue;
          this.replayLog.warn('replay', { err: message, spooled: this.spool.count }, 'replay not acknowledged; retrying');
          await new Promise((r) => setTimeout(r, REPLAY_RETRY_MS));
        }
      }
      if (this.closed) end = 'closed';
    } finally {
      this.replaying = false;
      this.logger.debug({ end, replayed, failed, spooledSince: this.spooledTotal - spooledAtStart, spooled: this.spool.count, ms: Math.round(performance.now() - started) }, 'replay: ended');
    }
  }

  private updateSpoolGauges(): void {
    this.metrics.spoolBatches.set(this.spool.count);
    this.metrics.spoolBytes.set(this.spool.bytes);
  }
}
