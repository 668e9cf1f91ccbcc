/**
 * The JetStream side of the bus against a real nats-server: the partition function, the
 * publisher (partitioned subjects, deterministic ids, duplicates, the spool while NATS is away,
 * durable publishes) and the partition source (order, acks, redelivery to the next reader).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { batchOf } from '../test-support/batches.js';
import { eventually } from '../test-support/eventually.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';
import { decodeBatch } from './batch-codec.js';
import { BusUnavailableError, type BusMessage } from './contract.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import { PartitionSource } from './jetstream-source.js';
import { batchSubject, connectNats, ensureStreams, partitionOf, type StreamSettings } from './jetstream-streams.js';
import { createBusMetrics, createNatsMetrics } from './metrics.js';
import { Spool } from './spool.js';

const H = 1_795_381_200;
const logger = pino({ level: 'silent' });

describe('partitionOf', () => {
  it('is stable, in range, and spreads names over the partitions', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) {
      const p = partitionOf(`api.endpoint${i}.latency`, 8);
      expect(p).toBe(partitionOf(`api.endpoint${i}.latency`, 8));
      expect(Number.isInteger(p) && p >= 0 && p < 8).toBe(true);
      counts[p]++;
    }
    // FNV-1a over 8000 names: every partition within 20 % of an even share
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(200);
    expect(partitionOf('x', 1)).toBe(0);
    // every series of a name shares its partition (one writer per series): tags play no part
    expect(partitionOf('api.checkout', 16)).toBe(partitionOf('api.checkout', 16));
  });
});

describe('JetStream publisher and partition source (real nats-server)', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let dir: string;
  let stream = 0;
  const settingsOf = (name: string): StreamSettings => ({ url: nats.url, stream: name, partitions: 4, maxAgeSec: 3600, maxBytes: 64 * 1024 * 1024, duplicateWindowSec: 600, replicas: 1 });

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connectNats(nats.url, 'bus-test');
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-bus-'));
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A stream of its own per test, and a publisher on it. */
  async function setup() {
    const settings = settingsOf(`BUS${++stream}`);
    await ensureStreams(jsm, settings);
    const registry = new Registry();
    const metrics = { ...createBusMetrics(registry), ...createNatsMetrics(registry) };
    const spool = new Spool(path.join(dir, `spool${stream}`), 1024 * 1024);
    const publisher = new JetStreamPublisher(
      { stream: settings.stream, partitions: settings.partitions, idPrefix: `gw.${stream}`, publishTimeoutMs: 2000, maxInFlight: 8, nowMs: () => new ManualClock(7).nowMs() },
      spool,
      metrics,
      logger,
    );
    return { settings, registry, spool, publisher };
  }

  async function subjectsOf(name: string): Promise<Record<string, number>> {
    const info = await jsm.streams.info(name, { subjects_filter: '>' });
    return info.state.subjects ?? {};
  }

  it('splits a batch by partition, one message each, with ids derived from the gateway and batch', async () => {
    const { settings, publisher } = await setup();
    publisher.connected(js);
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const series = batchOf(names.map((n) => `${n}:1|ms`).join('\n'), H).series;
    expect(publisher.publish(series, series.length, true)).toBeUndefined();
    await publisher.close();
    const expected: Record<string, number> = {};
    for (const n of names) expected[batchSubject(settings.stream, partitionOf(n, 4))] = 1;
    expect(await subjectsOf(settings.stream)).toEqual(expected);
    // a message holds exactly the series of its partition
    for (const subject of Object.keys(expected)) {
      const m = await jsm.streams.getMessage(settings.stream, { last_by_subj: subject });
      const p = Number(subject.split('.').pop());
      expect(m?.header?.get('Nats-Msg-Id')).toBe(`gw.${stream}.0.${p}`);
      expect(decodeBatch(m?.data as Uint8Array).series.map((s) => partitionOf(s.name, 4))).toEqual(expect.arrayContaining([p]));
    }
  });

  it('durable publishes resolve on the ack; the same idempotency id twice is a duplicate the stream drops', async () => {
    const { settings, registry, publisher } = await setup();
    publisher.connected(js);
    const series = batchOf('k1:1|ms\nk2:2|ms', H).series;
    await publisher.publishDurable(series, 2, 'req-1');
    await publisher.publishDurable(series, 2, 'req-1');
    const info = await jsm.streams.info(settings.stream);
    expect(info.state.messages).toBe(new Set(['k1', 'k2'].map((n) => partitionOf(n, 4))).size);
    expect(await registry.getSingleMetricAsString('hourglass_batches_duplicate_total')).toMatch(/ [12]$/m);
  });

  it('while NATS is away batches go to the spool (durable ones too), and are replayed in order once it is back', async () => {
    const { settings, spool, publisher } = await setup();
    // never connected: everything spools
    for (let i = 0; i < 5; i++) publisher.publish(batchOf(`order:${i}|ms`, H).series, 1, true);
    await publisher.publishDurable(batchOf('order:5|ms', H).series, 1, undefined);
    await eventually(async () => (spool.count === 6 ? true : undefined), 'six batches in the spool');
    publisher.connected(js);
    await eventually(async () => (spool.count === 0 ? true : undefined), 'the spool replayed');
    const source = new PartitionSource(js, jsm, { stream: settings.stream, partition: partitionOf('order', 4), metrics: createBusMetrics(new Registry()), lagIntervalMs: 100, nc, logger, nowMs: Date.now });
    await source.start();
    const values: number[] = [];
    for await (const m of source.messages()) {
      values.push(decodeBatch(m.data).series[0].values[0]);
      m.ack();
      if (values.length === 6) break;
    }
    source.stop();
    expect(values).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a durable publish with NATS away and the spool full is refused (BusUnavailableError), nothing half-kept', async () => {
    const settings = settingsOf(`BUS${++stream}`);
    const registry = new Registry();
    const spool = new Spool(path.join(dir, `tiny${stream}`), 1024 * 1024);
    const publisher = new JetStreamPublisher(
      { stream: settings.stream, partitions: 4, idPrefix: 'gw.full', publishTimeoutMs: 500, maxInFlight: 8, nowMs: () => 0 },
      spool,
      { ...createBusMetrics(registry), ...createNatsMetrics(registry) },
      logger,
    );
    const big = batchOf(Array.from({ length: 40_000 }, (_, i) => `full:${i}|ms`).join('\n'), H).series;
    let refused: unknown;
    for (let i = 0; i < 10 && refused === undefined; i++) await publisher.publishDurable(big, 40_000, undefined).catch((err: unknown) => (refused = err));
    expect(refused).toBeInstanceOf(BusUnavailableError);
    expect((refused as BusUnavailableError).reason).toBe('spool_full');
  });

  it('the partition source delivers in stream order; what was not acknowledged goes to the next reader', async () => {
    const { settings, publisher } = await setup();
    publisher.connected(js);
    for (let i = 0; i < 10; i++) await publisher.publishDurable(batchOf(`seq.k:${i}|ms`, H).series, 1, undefined);
    const partition = partitionOf('seq.k', 4);
    const read = async (count: number, ackFirst: number): Promise<number[]> => {
      const source = new PartitionSource(js, jsm, { stream: settings.stream, partition, metrics: createBusMetrics(new Registry()), lagIntervalMs: 100, nc, logger, nowMs: Date.now });
      await source.start();
      const seen: BusMessage[] = [];
      for await (const m of source.messages()) {
        seen.push(m);
        if (seen.length === count) break;
      }
      for (const m of seen.slice(0, ackFirst)) m.ack();
      // acks are sent before the consumer is deleted by the next reader's start
      await nc.flush();
      source.stop();
      return seen.map((m) => decodeBatch(m.data).series[0].values[0]);
    };
    expect(await read(6, 4)).toEqual([0, 1, 2, 3, 4, 5]);
    // a new reader (a restarted worker) starts at the first unacknowledged batch
    expect(await read(6, 6)).toEqual([4, 5, 6, 7, 8, 9]);
    const seqs: number[] = [];
    const source = new PartitionSource(js, jsm, { stream: settings.stream, partition, metrics: createBusMetrics(new Registry()), lagIntervalMs: 100, nc, logger, nowMs: Date.now });
    await source.start();
    // sequences grow: the driver's exactly-once bookkeeping relies on it
    void (async () => {
      for await (const m of source.messages()) seqs.push(m.seq);
    })();
    await publisher.publishDurable(batchOf('seq.k:10|ms', H).series, 1, undefined);
    await eventually(async () => (seqs.length === 1 ? true : undefined), 'the new batch delivered');
    source.stop();
    expect(seqs[0]).toBeGreaterThan(10);
  });
});
