/**
 * The JetStream side of the bus contract, shared by gateways (publish) and rollup workers
 * (consume): stream and subject names, partitioning, and creating or updating the streams.
 */
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The stream layout and limits (NATS_* settings). */
export interface StreamSettings {
  readonly url: string;
  readonly stream: string;
  readonly partitions: number;
  readonly maxAgeSec: number;
  readonly maxBytes: number;
  readonly duplicateWindowSec: number;
  readonly replicas: number;
}

/**
 * Connects and keeps reconnecting forever (nats.js gives up after about 20 s by default). Pings
 * every 5 s, 3 unanswered mean the connection is dead: through a network outage (no TCP reset) the
 * client otherwise keeps the old socket for up to 4 minutes (nats.js's default: a ping every 2
 * minutes, 2 out), and once the network is back that socket resumes only at TCP's next
 * retransmission, which backs off to 2 minutes; a client that gave the socket up redials every
 * second instead (SPEC §5: moving again within 10 s).
 */
export function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: true, timeout: 5000, pingInterval: 5000, maxPingOut: 3 });
}

export const batchSubject = (stream: string, partition: number) => `${stream}.batches.${partition}`;
export const deadLetterSubject = (stream: string, reason: string) => `${stream}.dead.${reason}`;
export const deadLetterStream = (stream: string) => `${stream}-DEAD`;

/**
 * The partition of a metric name: FNV-1a over its UTF-16 code units. A name always lands in one
 * partition, so each series has exactly one writer (the worker owning that partition).
 */
export function partitionOf(name: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

const NS_PER_SEC = 1_000_000_000;

/**
 * The batch stream is a work queue (Hourglass 0.1: a batch left it once acknowledged) and holds
 * batches, so it cannot be turned into the limits stream that replay needs: JetStream cannot
 * change a stream's retention in place. Raised at start with what the operator must do.
 */
export class StreamRetentionError extends Error {
  override readonly name = 'StreamRetentionError';
  readonly code = 'HG_ERR_STREAM_RETENTION';
}

/**
 * Creates the batch stream and its dead-letter stream, or updates them to this configuration.
 *
 * The batch stream keeps batches by age and size (limits retention) rather than deleting them on
 * acknowledgement, so `hourglass replay` can rebuild hours from it; the rollup workers' durable
 * consumers and the store watermark still say what was applied. When full, the oldest batches
 * go (discard old): a full stream must never refuse new ones.
 *
 * An older work-queue stream: an empty one is recreated with limits retention and the same next
 * sequence (a purge to `last_seq + 1` on the new, empty stream), because the store's watermarks
 * and rows hold sequences of the old one and a restart from 1 would skip batches as applied.
 * One still holding batches is refused (StreamRetentionError): drain it first.
 */
export async function ensureStreams(jsm: JetStreamManager, nats: StreamSettings): Promise<void> {
  const batches: Partial<StreamConfig> & { name: string } = {
    name: nats.stream,
    subjects: [`${nats.stream}.batches.*`],
    storage: 'file' as StreamConfig['storage'],
    retention: 'limits' as StreamConfig['retention'],
    max_age: nats.maxAgeSec * NS_PER_SEC,
    max_bytes: nats.maxBytes,
    duplicate_window: nats.duplicateWindowSec * NS_PER_SEC,
    num_replicas: nats.replicas,
    discard: 'old' as StreamConfig['discard'],
  };
  const dead: Partial<StreamConfig> & { name: string } = {
    name: deadLetterStream(nats.stream),
    subjects: [`${nats.stream}.dead.>`],
    storage: 'file' as StreamConfig['storage'],
    max_age: nats.maxAgeSec * NS_PER_SEC,
    num_replicas: nats.replicas,
  };
  await migrateWorkQueue(jsm, nats.stream, batches);
  for (const config of [batches, dead]) {
    try {
      await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, config);
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
      await jsm.streams.add(config);
    }
  }
}

async function migrateWorkQueue(jsm: JetStreamManager, name: string, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const info = await jsm.streams.info(name).catch((err: Error) => {
    if (/stream not found/i.test(err.message)) return undefined;
    throw err;
  });
  if (info === undefined || info.config.retention !== 'workqueue') return;
  if (info.state.messages > 0) {
    throw new StreamRetentionError(
      `stream ${name} has work-queue retention (made by Hourglass 0.1) and still holds ${info.state.messages} batches; ` +
        'JetStream cannot change a stream\'s retention in place. Stop the gateways, let the previous version\'s rollup workers ' +
        `drain it (hourglass_consumer_pending_messages 0, or \`nats stream info ${name}\` showing 0 messages), then start this ` +
        'version: it recreates the empty stream with limits retention, keeping its sequence (README "Rebuilding from the bus").',
    );
  }
  const nextSeq = info.state.last_seq + 1;
  await jsm.streams.delete(name);
  await jsm.streams.add(config);
  // an empty stream purged up to a sequence past its end starts there
  await jsm.streams.purge(name, { seq: nextSeq });
}
