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

/** Creates the batch stream and its dead-letter stream, or updates them to this configuration. */
export async function ensureStreams(jsm: JetStreamManager, nats: StreamSettings): Promise<void> {
  const batches: Partial<StreamConfig> & { name: string } = {
    name: nats.stream,
    subjects: [`${nats.stream}.batches.*`],
    storage: 'file' as StreamConfig['storage'],
    // work queue: a batch leaves the stream once the rollup acknowledged it (after its store write)
    retention: 'workqueue' as StreamConfig['retention'],
    max_age: nats.maxAgeSec * NS_PER_SEC,
    max_bytes: nats.maxBytes,
    duplicate_window: nats.duplicateWindowSec * NS_PER_SEC,
    num_replicas: nats.replicas,
    discard: 'new' as StreamConfig['discard'],
  };
  const dead: Partial<StreamConfig> & { name: string } = {
    name: deadLetterStream(nats.stream),
    subjects: [`${nats.stream}.dead.>`],
    storage: 'file' as StreamConfig['storage'],
    max_age: nats.maxAgeSec * NS_PER_SEC,
    num_replicas: nats.replicas,
  };
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
