/**
 * Reading the batch stream back for `hourglass replay`: what the stream holds (its extent), and
 * every batch from a start time up to the last one stored when the replay began, in stream order,
 * through an ordered consumer. An ordered consumer is ephemeral and unacknowledged: it leaves no
 * state on the server and never moves the rollup workers' durable consumers.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';

/** One stored batch. */
export interface StoredBatch {
  /** Its partition (from the subject): the writer of its series is `p<partition>`. */
  readonly partition: number;
  readonly seq: number;
  readonly data: Uint8Array;
  /** When JetStream stored it. */
  readonly storedMs: number;
}

/** What the stream holds now. */
export interface StreamExtent {
  /** `limits` keeps batches after their ack; `workqueue` (Hourglass 0.1) does not. */
  readonly retention: string;
  readonly messages: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** When its oldest batch was stored; undefined when empty. */
  readonly firstMs: number | undefined;
  readonly lastMs: number | undefined;
}

export async function streamExtent(jsm: JetStreamManager, stream: string): Promise<StreamExtent> {
  const { state, config } = await jsm.streams.info(stream);
  const ms = (ts: string) => (state.messages === 0 ? undefined : Date.parse(ts));
  return { retention: config.retention, messages: state.messages, firstSeq: state.first_seq, lastSeq: state.last_seq, firstMs: ms(state.first_ts), lastMs: ms(state.last_ts) };
}

/** The partition of a batch subject `<stream>.batches.<p>`; undefined for anything else. */
export function partitionOfSubject(stream: string, subject: string): number | undefined {
  const prefix = `${stream}.batches.`;
  if (!subject.startsWith(prefix)) return undefined;
  const p = subject.slice(prefix.length);
  return /^\d{1,4}$/.test(p) ? Number(p) : undefined;
}

/** Batches pulled at a time. */
const PULL_BATCH = 512;

/**
 * The batches stored at or after `fromMs` with a sequence up to `throughSeq` (the stream's last
 * when the replay began: what comes later is the live workers' alone), in stream order.
 * `lastMs`: when the batch `throughSeq` was stored; nothing to read when it is before `fromMs`.
 */
export async function* readStoredBatches(js: JetStreamClient, stream: string, fromMs: number, throughSeq: number, lastMs: number | undefined): AsyncIterable<StoredBatch> {
  if (lastMs === undefined || lastMs < fromMs || throughSeq === 0) return;
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(fromMs).toISOString() });
  const messages = await consumer.consume({ max_messages: PULL_BATCH });
  try {
    for await (const m of messages) {
      const partition = partitionOfSubject(stream, m.subject);
      if (partition !== undefined) yield { partition, seq: m.seq, data: m.data, storedMs: Number(m.timestampNanos / 1_000_000n) };
      if (m.seq >= throughSeq) break;
    }
  } finally {
    messages.stop();
    await consumer.delete().catch(() => false);
  }
}
