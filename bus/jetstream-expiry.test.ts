/**
 * Batches the stream removes (NATS_MAX_BYTES here) before the partition's worker applied them
 * are counted exactly when that worker reads on; a quiet partition whose sequence gaps are filled
 * by other partitions' batches counts none. Real nats-server, the real publisher and source.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchOf } from '../test-support/batches.js';
import { eventually } from '../test-support/eventually.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';
import { RESET_REASONS, parseTrackerState } from './continuity.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import { PartitionSource, continuityBucket } from './jetstream-source.js';
import { batchSubject, connectNats, ensureStreams, partitionOf } from './jetstream-streams.js';
import { createBusMetrics, createNatsMetrics, type BusMetrics } from './metrics.js';
import { Spool } from './spool.js';

const H = 1_795_381_200;
const logger = pino({ level: 'silent' });
/** Small enough that a few hundred batches push the oldest out. */
const MAX_BYTES = 32 * 1024;

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connectNats(nats.url, 'expiry-test');
  jsm = await jetstreamManager(nc);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-expiry-'));
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await nats?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A metric name of each of the two partitions. */
const nameOf = (partition: number) => {
  for (let i = 0; ; i++) if (partitionOf(`key${i}`, 2) === partition) return `key${i}`;
};

async function setup(stream: string) {
  await ensureStreams(jsm, { url: nats.url, stream, partitions: 2, maxAgeSec: 3600, maxBytes: MAX_BYTES, duplicateWindowSec: 60, replicas: 1 });
  const registry = new Registry();
  const metrics = { ...createBusMetrics(registry), ...createNatsMetrics(registry) };
  const publisher = new JetStreamPublisher({ stream, partitions: 2, idPrefix: `gw.${stream}`, publishTimeoutMs: 2000, maxInFlight: 8, nowMs: Date.now }, new Spool(path.join(dir, stream), 1024 * 1024), metrics, logger);
  publisher.connected(jetstream(nc));
  /** `n` batches of `values` values each to partition `p`, one after the other, each acknowledged. */
  const publish = async (p: number, n: number, values = 3) => {
    const line = `${nameOf(p)}:${Array.from({ length: values }, (_, i) => i + 1).join(':')}|ms`;
    for (let i = 0; i < n; i++) await publisher.publishDurable(batchOf(line, H).series, values, undefined);
  };
  const source = (metricsOf: BusMetrics) => new PartitionSource(jetstream(nc), jsm, { stream, partition: 1, metrics: metricsOf, lagIntervalMs: 50, nc, logger, nowMs: Date.now });
  /** Reads and acknowledges `n` batches; returns the last one's sequence. */
  const apply = async (s: PartitionSource, n: number) => {
    let last = 0;
    let read = 0;
    if (n > 0) {
      for await (const m of s.messages()) {
        m.ack();
        last = m.seq;
        if (++read === n) break;
      }
    }
    return last;
  };
  /** Waits until the partition's tracking is saved through the stream's last batch. */
  const saved = async () => {
    const seq = (await jsm.streams.info(stream)).state.last_seq;
    const kv = await new Kvm(jetstream(nc)).open(continuityBucket(stream));
    await eventually(async () => ((parseTrackerState((await kv.get('p1'))?.value)?.seq ?? 0) >= seq ? true : undefined), `tracking saved through ${seq}`);
  };
  const partitionCount = async (p: number) => (await jsm.streams.info(stream, { subjects_filter: batchSubject(stream, p) })).state.subjects?.[batchSubject(stream, p)] ?? 0;
  return { metrics, publisher, publish, source, apply, saved, partitionCount };
}

const count = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((n, v) => n + v.value, 0);

describe('batches removed from the stream before a worker applied them', () => {
  it('partition 1 stopped while the byte limit removed its batches: each counted, with its values', async () => {
    const { metrics, publish, source, apply, saved, partitionCount } = await setup('EXPIRY');
    await publish(1, 5);
    await publish(0, 5);
    let s = source(metrics);
    await s.start(0);
    const applied = await apply(s, 5);
    await saved();
    s.stop();
    // the worker is down: 20 batches of partition 1, then enough of partition 0 to push them out
    await publish(1, 20, 4);
    await publish(0, 400);
    await publish(1, 3);
    // the setup did what it says: of partition 1 only the last 3 remain
    expect(await partitionCount(1)).toBe(3);
    expect(await count(metrics.batchesExpiredUnapplied)).toBe(0);
    s = source(metrics);
    await s.start(applied);
    await apply(s, 3);
    expect(await count(metrics.batchesExpiredUnapplied)).toBe(20);
    expect(await count(metrics.valuesExpiredUnapplied)).toBe(20 * 4);
    expect(await count(metrics.continuityResets)).toBe(0);
    s.stop();
  }, 60_000);

  it('a quiet partition whose gaps other partitions filled, its own applied batches removed too: none counted', async () => {
    const { metrics, publish, source, apply, saved, partitionCount } = await setup('QUIET');
    await publish(1, 2);
    let s = source(metrics);
    await s.start(0);
    const applied = await apply(s, 2);
    await saved();
    // running through a flood of partition 0 that removes everything partition 1 had
    await publish(0, 400);
    expect(await partitionCount(1)).toBe(0);
    s.stop();
    await publish(0, 50);
    s = source(metrics);
    await s.start(applied);
    await publish(1, 1);
    const next = await apply(s, 1);
    expect(next).toBeGreaterThan(applied + 400); // the gap in its sequences: other partitions' batches
    expect(await count(metrics.batchesExpiredUnapplied)).toBe(0);
    expect(await count(metrics.valuesExpiredUnapplied)).toBe(0);
    for (const reason of RESET_REASONS) expect((await metrics.continuityResets.get()).values.find((v) => v.labels.reason === reason)?.value).toBe(0);
    s.stop();
  }, 60_000);
});
