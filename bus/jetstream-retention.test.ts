/**
 * The batch stream keeps batches after their ack (limits retention) and the rollup's consumer
 * still resumes exactly after what was applied; an older work-queue stream is migrated when empty
 * (keeping its sequence) and refused while it holds batches. Against a real nats-server.
 */
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';
import { PartitionSource } from './jetstream-source.js';
import { StreamRetentionError, batchSubject, ensureStreams, type StreamSettings } from './jetstream-streams.js';
import { createBusMetrics } from './metrics.js';

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await nats?.dispose();
});

const settings = (stream: string): StreamSettings => ({ url: nats.url, stream, partitions: 2, maxAgeSec: 3600, maxBytes: 1024 ** 3, duplicateWindowSec: 60, replicas: 1 });

async function publish(stream: string, n: number): Promise<number[]> {
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push((await js.publish(batchSubject(stream, 0), new Uint8Array([i]))).seq);
  return seqs;
}

/** Reads `n` messages from a started source, acknowledging those `ack` says. */
async function take(source: PartitionSource, n: number, ack: (seq: number) => boolean): Promise<number[]> {
  const seqs: number[] = [];
  for await (const m of source.messages()) {
    seqs.push(m.seq);
    if (ack(m.seq)) m.ack();
    if (seqs.length === n) break;
  }
  return seqs;
}

describe('the batch stream', () => {
  it('keeps acknowledged batches (limits retention, discard old)', async () => {
    await ensureStreams(jsm, settings('KEEP'));
    const { config } = await jsm.streams.info('KEEP');
    expect(config.retention).toBe('limits');
    expect(config.discard).toBe('old');
    const seqs = await publish('KEEP', 3);
    const c = await jsm.consumers.add('KEEP', { durable_name: 'x', ack_policy: AckPolicy.Explicit });
    const consumer = await jetstream(nc).consumers.get('KEEP', c.name);
    for (let i = 0; i < 3; i++) (await consumer.next())?.ack();
    await expect.poll(async () => (await jsm.consumers.info('KEEP', 'x')).ack_floor.stream_seq).toBe(seqs[2]);
    expect((await jsm.streams.info('KEEP')).state.messages).toBe(3);
  });

  it('a rollup consumer resumes after the store watermark or its ack floor, whichever is higher', async () => {
    await ensureStreams(jsm, settings('RESUME'));
    const seqs = await publish('RESUME', 10);
    const metrics = createBusMetrics(new Registry());
    const source = () => new PartitionSource(jetstream(nc), jsm, { stream: 'RESUME', partition: 0, metrics, lagIntervalMs: 60_000, nc, logger: pino({ level: 'silent' }), nowMs: Date.now });
    // first start: nothing applied, every batch; the first 4 acknowledged (written)
    let s = source();
    await s.start(0);
    expect(await take(s, 10, (seq) => seq <= seqs[3])).toEqual(seqs);
    s.stop();
    await expect.poll(async () => (await jsm.consumers.info('RESUME', 'rollup-p0')).ack_floor.stream_seq).toBe(seqs[3]);
    // restart with a store watermark below the ack floor: after the ack floor
    s = source();
    await s.start(seqs[1]);
    expect(await take(s, 6, () => false)).toEqual(seqs.slice(4));
    s.stop();
    // killed between the store write and the ack: the watermark is ahead of the ack floor
    s = source();
    await s.start(seqs[7]);
    expect(await take(s, 2, () => false)).toEqual(seqs.slice(8));
    s.stop();
  });
});

describe('a work-queue stream of Hourglass 0.1', () => {
  async function workQueue(name: string): Promise<void> {
    await jsm.streams.add({ name, subjects: [`${name}.batches.*`], retention: 'workqueue' as never, storage: 'file' as never });
  }

  it('holding batches: refused, saying what to do', async () => {
    await workQueue('OLDFULL');
    await publish('OLDFULL', 2);
    const err = await ensureStreams(jsm, settings('OLDFULL')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamRetentionError);
    expect((err as Error).message).toMatch(/work-queue retention .* still holds 2 batches.*drain it/);
    expect((await jsm.streams.info('OLDFULL')).config.retention).toBe('workqueue');
  });

  it('empty: recreated with limits retention, its sequence continuing', async () => {
    await workQueue('OLDEMPTY');
    const seqs = await publish('OLDEMPTY', 5);
    await jsm.streams.purge('OLDEMPTY'); // what the old workers' acks did
    await ensureStreams(jsm, settings('OLDEMPTY'));
    const info = await jsm.streams.info('OLDEMPTY');
    expect(info.config.retention).toBe('limits');
    expect(await publish('OLDEMPTY', 1)).toEqual([seqs[4] + 1]);
    // a second start finds it done
    await ensureStreams(jsm, settings('OLDEMPTY'));
    expect((await jsm.streams.info('OLDEMPTY')).state.messages).toBe(1);
  });
});
