/**
 * The gateway's spool replay against a real nats-server that is SIGKILLed and restarted, or
 * paused (SIGSTOP), wired to the connection's status events as runtime/gateway-role.ts does.
 * A nats-server of its own: restarting it must not disturb the other bus tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { batchOf } from '../test-support/batches.js';
import { eventually } from '../test-support/eventually.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';
import { decodeBatch } from './batch-codec.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import { connectNats, ensureStreams, type StreamSettings } from './jetstream-streams.js';
import { createBusMetrics, createNatsMetrics } from './metrics.js';
import { Spool } from './spool.js';

const H = 1_795_381_200;
const logger = pino({ level: 'silent' });

describe('spool replay across NATS faults (real nats-server)', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let dir: string;
  let stream = 0;
  const publishers: JetStreamPublisher[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connectNats(nats.url, 'spool-replay-test');
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-spool-replay-'));
    // the gateway's wiring: every publisher hears of the link going and coming back
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') for (const p of publishers) p.disconnected();
        else if (status.type === 'reconnect') for (const p of publishers) p.connected(js);
      }
    })();
  }, 30_000);
  afterEach(() => {
    // a paused server would hold the next test's publishes
    const pid = nats.process.pid;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
  });
  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.close()));
    await nc?.close();
    await nats?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function setup(publishTimeoutMs: number) {
    const settings: StreamSettings = { url: nats.url, stream: `REPLAY${++stream}`, partitions: 1, maxAgeSec: 3600, maxBytes: 64 * 1024 * 1024, duplicateWindowSec: 600, replicas: 1 };
    await ensureStreams(jsm, settings);
    const spool = new Spool(path.join(dir, `spool${stream}`), 64 * 1024 * 1024);
    const registry = new Registry();
    const metrics = { ...createBusMetrics(registry), ...createNatsMetrics(registry) };
    // one partition: stream order is the order of publishing
    const publisher = new JetStreamPublisher({ stream: settings.stream, partitions: 1, idPrefix: `gw.${stream}`, publishTimeoutMs, maxInFlight: 8, nowMs: () => Date.now() }, spool, metrics, logger);
    publishers.push(publisher);
    publisher.connected(js);
    const linkUp = async () => (await metrics.natsConnected.get()).values[0]?.value === 1;
    return { settings, spool, publisher, linkUp };
  }

  /** The first value of each batch in the stream, in stream order. */
  async function valuesIn(name: string): Promise<number[]> {
    const info = await jsm.streams.info(name);
    const values: number[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(name, { seq });
      values.push(decodeBatch(m?.data as Uint8Array).series[0].values[0]);
    }
    return values;
  }

  it('a replay attempt made while nats-server was down does not hold the spool after the restart', async () => {
    // A long publish timeout: the attempt sent while the server is down (nats.js drops it when it
    // dials again) must be given up at the reconnect, not waited out.
    const { settings, spool, publisher, linkUp } = await setup(60_000);
    await publisher.publishDurable(batchOf('restart.k:0|ms', H).series, 1, undefined);
    await nats.process.stop('SIGKILL');
    await eventually(async () => ((await linkUp()) ? undefined : true), 'the publisher told that NATS is down');
    for (let i = 1; i <= 3; i++) await publisher.publishDurable(batchOf(`restart.k:${i}|ms`, H).series, 1, undefined);
    expect(spool.count).toBe(3);
    // the replay keeps trying through the last client while NATS is down: wait for one such try
    const sentBefore = nc.stats().outMsgs;
    await eventually(async () => (nc.stats().outMsgs > sentBefore ? true : undefined), 'a replay attempt while NATS is down');
    await nats.restart();
    await eventually(async () => (spool.count === 0 ? true : undefined), 'the spool drained after the restart', 20_000);
    expect(await valuesIn(settings.stream)).toEqual([0, 1, 2, 3]);
  }, 60_000);

  it('the replay keeps a window of publishes in flight, and the stream keeps the spool order', async () => {
    const { settings, spool, publisher } = await setup(20_000);
    publisher.disconnected();
    const batches = 100;
    for (let i = 0; i < batches; i++) await publisher.publishDurable(batchOf(`window.k:${i}|ms`, H).series, 1, undefined);
    expect(spool.count).toBe(batches);
    // a paused nats-server answers nothing: what the replay sends before its first ack is its window
    const pid = nats.process.pid as number;
    process.kill(pid, 'SIGSTOP');
    const sentBefore = nc.stats().outMsgs;
    publisher.connected(js);
    await eventually(async () => (nc.stats().outMsgs - sentBefore >= 16 ? true : undefined), 'the replay sending many spooled batches before the first ack');
    process.kill(pid, 'SIGCONT');
    await eventually(async () => (spool.count === 0 ? true : undefined), 'the spool drained', 20_000);
    expect(await valuesIn(settings.stream)).toEqual(Array.from({ length: batches }, (_, i) => i));
  }, 60_000);
});
