/**
 * A distributed rollup worker's hold on one bus partition: a durable pull consumer on the
 * partition's subject, a Rollup writing as `p<N>`, acks only after the store write (the stream
 * is a work queue: an acknowledged batch leaves it).
 *
 * Exactly once (SPEC §5): the store keeps, beside each row, the last stream sequence applied to
 * it, and per writer a watermark (the last sequence fully written). At start the worker recreates
 * its consumer, so delivery restarts at the oldest unacknowledged batch and in stream order
 * (a consumer left over from a killed worker would redeliver its in-flight batches only after
 * their ack wait, behind newer ones). A batch at or below the watermark is acknowledged and
 * skipped; above it, a series whose row already holds the batch's sequence is skipped. Each
 * partition has one owner (ROLLUP_PARTITIONS), so sequences per writer only grow.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { BatchDecodeError, decodeBatch, type DecodedBatch } from '../gateway/index.js';
import { batchSubject, deadLetterSubject } from '../gateway/jetstream.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import { Rollup, type FlushReport } from './rollup.js';
import type { RollupRow, RollupStore } from './schema.js';

const NS_PER_MS = 1_000_000;
/** Unacknowledged batches the server lets a worker hold: bounds memory while the store is down. */
const MAX_ACK_PENDING = 10_000;
/** Long enough that a slow store write never triggers a redelivery to ourselves. */
const ACK_WAIT_MS = 5 * 60_000;
const APPLY_RETRY_MS = 1000;

export interface PartitionWorkerOptions {
  readonly stream: string;
  readonly partition: number;
  readonly store: RollupStore;
  readonly clock: Clock;
  readonly flushIntervalMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Records the flush in /metrics; `source` names this partition among the process's. */
  readonly onFlushed: (outcome: { report?: FlushReport; error?: Error; valuesApplied: number; seriesInMemory: number }, source: string) => void;
  /** Fault tests: die right after a store write that held rows, before acknowledging. */
  readonly exitAfterStoreWrite?: boolean;
}

const writerOf = (partition: number) => `p${partition}`;

export class PartitionWorker {
  private readonly rollup: Rollup;
  private readonly writer: string;
  private readonly durable: string;
  private watermark = 0;
  /** Batches applied (or skipped) since the last flush began: acknowledged once it is written. */
  private toAck: JsMsg[] = [];
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private js: JetStreamClient | undefined;

  constructor(private readonly options: PartitionWorkerOptions) {
    this.writer = writerOf(options.partition);
    this.durable = `rollup-p${options.partition}`;
    this.rollup = new Rollup({ store: options.store, writer: this.writer, clock: options.clock });
  }

  async start(js: JetStreamClient, jsm: JetStreamManager): Promise<void> {
    const { stream, partition, store, flushIntervalMs } = this.options;
    this.js = js;
    this.watermark = await store.loadWatermark(this.writer);
    await jsm.consumers.delete(stream, this.durable).catch(() => false);
    await jsm.consumers.add(stream, {
      durable_name: this.durable,
      filter_subject: batchSubject(stream, partition),
      // explicit: a work-queue stream removes each batch on its own ack
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_MS * NS_PER_MS,
      max_ack_pending: MAX_ACK_PENDING,
    });
    const consumer = await js.consumers.get(stream, this.durable);
    this.messages = await consumer.consume({ max_messages: 256 });
    this.loop = this.run(js);
    this.timer = setInterval(() => void this.flush().catch(() => undefined), flushIntervalMs);
    this.options.logger.info({ partition, watermark: this.watermark }, 'rollup partition started');
    const lag = async () => {
      const info = await consumer.info(false).catch(() => undefined); // false: ask the server, not the cache
      if (info) this.options.metrics.consumerPending.set({ partition: String(partition) }, info.num_pending + info.num_ack_pending);
    };
    this.lagTimer = setInterval(() => void lag(), flushIntervalMs);
  }

  /** Writes what was applied, then acknowledges the batches it holds. */
  async flush(): Promise<void> {
    const acks = this.toAck;
    this.toAck = [];
    const counts = () => ({ valuesApplied: this.rollup.valuesApplied, seriesInMemory: this.rollup.seriesInMemory });
    let report: FlushReport;
    try {
      report = await this.rollup.flush();
    } catch (err) {
      this.toAck = acks.concat(this.toAck);
      this.options.onFlushed({ error: err as Error, ...counts() }, this.writer);
      throw err;
    }
    if (this.options.exitAfterStoreWrite && acks.length > 0) process.kill(process.pid, 'SIGKILL');
    // written: acknowledge first, so nothing after this (metrics, dead letters) can hold acks back
    for (const m of acks) m.ack();
    this.options.onFlushed({ report, ...counts() }, this.writer);
    for (const { row, reason } of report.rejected) await this.deadLetterRow(row, reason);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearInterval(this.lagTimer);
    this.messages?.stop();
    await this.loop;
    await this.flush();
  }

  private async run(js: JetStreamClient): Promise<void> {
    const { metrics } = this.options;
    for await (const m of this.messages as ConsumerMessages) {
      if (m.seq <= this.watermark) {
        metrics.batchesSkipped.inc();
        this.toAck.push(m);
        continue;
      }
      let batch: DecodedBatch;
      try {
        batch = decodeBatch(m.data);
      } catch (err) {
        if (!(err instanceof BatchDecodeError)) throw err;
        await this.deadLetter(js, m, 'undecodable', err.message);
        continue;
      }
      await this.applyUntilDone(batch, m.seq);
      metrics.batchesApplied.inc();
      this.toAck.push(m);
    }
  }

  /** A store read can fail (store down): retry the same batch, never skip it. */
  private async applyUntilDone(batch: DecodedBatch, seq: number): Promise<void> {
    for (;;) {
      try {
        await this.rollup.apply(batch, seq);
        return;
      } catch (err) {
        if (this.stopping) throw err;
        this.options.metrics.storeReadErrors.inc();
        this.options.logger.warn({ err: (err as Error).message, seq }, 'could not read the store to apply a batch; retrying');
        await new Promise((r) => setTimeout(r, APPLY_RETRY_MS));
      }
    }
  }

  /** A row the store refuses for good: its summary goes to the dead-letter stream for an operator. */
  private async deadLetterRow(row: RollupRow, reason: string): Promise<void> {
    const { name, tags, type, hourSec, writer, count, n, sum, min, max, seq } = row;
    const body = JSON.stringify({ name, tags, type, hourSec, writer, count, n, sum, min, max, seq, reason });
    await this.js?.publish(deadLetterSubject(this.options.stream, 'rejected_point'), new TextEncoder().encode(body)).catch((err: Error) => {
      this.options.logger.error({ err: err.message }, 'could not dead-letter a rejected row');
    });
  }

  /** A batch that can never be applied goes to the dead-letter stream and counts as applied. */
  private async deadLetter(js: JetStreamClient, m: JsMsg, reason: string, detail: string): Promise<void> {
    await js.publish(deadLetterSubject(this.options.stream, reason), m.data, { msgID: `dead.${this.options.stream}.${m.seq}` });
    this.options.metrics.batchesDeadLettered.inc({ reason });
    this.options.logger.error({ seq: m.seq, reason, detail }, 'batch sent to the dead-letter stream');
    await this.rollup.apply({ createdMs: 0, series: [] }, m.seq);
    this.toAck.push(m);
  }
}
