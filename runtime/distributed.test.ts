/**
 * The distributed roles as separate processes over a real nats-server: two gateways, two rollup
 * workers (owning two partitions each), one query process, the SQLite store. Every statistic is
 * compared with values computed here, after faults: a worker SIGKILLed mid-stream, and
 * nats-server SIGKILLed mid-stream and restarted. Zero loss after the publish ack, zero double
 * counts. Longer NATS outages, and how soon data moves again after them: nats-outage.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactQuantile } from '../core/index.js';
import { eventually, getJson, metricValue, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';

const HOUR_SEC = Date.UTC(2026, 11, 1, 9) / 1000;
const KEYS = 12;

let nats: NatsServer;
let root: string;
const processes = new Set<HourglassProcess>();

/** What was sent per key, to compute the expected statistics independently. */
const sent = new Map<string, number[]>();
let sequence = 0;

function natsEnv(): Record<string, string> {
  return { NATS_URL: nats.url, NATS_PARTITIONS: '4', NATS_STREAM: 'HGTEST', FLUSH_INTERVAL_MS: '200', LOG_LEVEL: 'warn' };
}

async function role(name: string, env: Record<string, string>): Promise<HourglassProcess> {
  const p = await startHourglass(name, { ...natsEnv(), LOG_LEVEL: 'info', ...env });
  processes.add(p);
  return p;
}

const storeDir = () => path.join(root, 'store');

let gateways: HourglassProcess[];
let workers: HourglassProcess[];
let query: HourglassProcess;

/** Sends `datagrams` datagrams of 10 lines, alternating gateways, recording every value. */
async function sendSome(datagrams: number): Promise<void> {
  for (let d = 0; d < datagrams; d++) {
    const lines: string[] = [];
    for (let i = 0; i < 10; i++) {
      const n = sequence++;
      const key = `dist.k${n % KEYS}`;
      const value = (n * 7919) % 1000 / 4;
      (sent.get(key) ?? sent.set(key, []).get(key) as number[]).push(value);
      lines.push(`${key}:${value}|ms|T${HOUR_SEC + (n % 3600)}`);
    }
    await sendUdp(gateways[d % gateways.length].statsdPort, lines.join('\n'));
  }
}

async function waitForGatewaysToReceive(lines: number): Promise<void> {
  await eventually(async () => {
    let total = 0;
    for (const g of gateways) total += await metricValue(g.httpPort, /hourglass_lines_received_total\{transport="udp"\} (\d+)/);
    return total >= lines ? true : undefined;
  }, `${lines} lines received by the gateways`);
}

/** Waits until every key's count equals what was sent, then checks every statistic. */
async function expectExactStatistics(): Promise<void> {
  const date = new Date(HOUR_SEC * 1000).toISOString().slice(0, 10);
  const hour = new Date(HOUR_SEC * 1000).getUTCHours();
  for (const [key, values] of sent) {
    const url = (stat: string) => `http://127.0.0.1:${query.httpPort}/${key}/${stat}/${date}/${hour}`;
    await eventually(async () => {
      const r = await getJson(url('count'));
      if (r.status === 200 && (r.body.count as number) > values.length) throw new Error(`${key}: count ${r.body.count} > ${values.length} sent: double counted`);
      return r.status === 200 && r.body.count === values.length ? true : undefined;
    }, `${key} to count ${values.length}`, 30_000);
    const sum = values.reduce((a, b) => a + b, 0);
    const expected: Record<string, number> = {
      sum,
      min: Math.min(...values),
      max: Math.max(...values),
      average: sum / values.length,
      median: exactQuantile(values, null, 0.5),
      p99: exactQuantile(values, null, 0.99),
    };
    for (const [stat, value] of Object.entries(expected)) {
      const r = await getJson(url(stat));
      expect(r.body.value, `${key} ${stat}`).toBeCloseTo(value, 9);
      expect(r.body.exact).toBe(true);
    }
  }
}

/** Every batch applied is also acknowledged: each worker's partitions drain to nothing pending. */
async function expectAllAcknowledged(): Promise<void> {
  await eventually(async () => {
    let pending = 0;
    let partitions = 0;
    for (const w of workers) {
      const text = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
      for (const m of text.matchAll(/^hourglass_consumer_pending_messages\{partition="\d+"\} (\d+)$/gm)) {
        partitions++;
        pending += Number(m[1]);
      }
    }
    return partitions === 4 && pending === 0 ? true : undefined;
  }, 'every batch to be acknowledged on all 4 partitions', 20_000);
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-distributed-'));
  nats = await startNatsServer();
  gateways = [await role('gateway', { DATA_DIR: path.join(root, 'gw1'), GATEWAY_ID: 'gw1' }), await role('gateway', { DATA_DIR: path.join(root, 'gw2'), GATEWAY_ID: 'gw2' })];
  workers = [await role('rollup', { DATA_DIR: storeDir(), ROLLUP_PARTITIONS: '0,1' }), await role('rollup', { DATA_DIR: storeDir(), ROLLUP_PARTITIONS: '2,3' })];
  query = await role('query', { DATA_DIR: storeDir() });
}, 60_000);

afterAll(async () => {
  await Promise.all([...processes].map((p) => p.stop('SIGKILL')));
  await nats?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('distributed: 2 gateways, 2 rollup workers, NATS JetStream', () => {
  it('every statistic is exact, and every batch is acknowledged', async () => {
    await sendSome(200);
    await waitForGatewaysToReceive(2000);
    await expectExactStatistics();
    await expectAllAcknowledged();
  });

  it('a rollup worker SIGKILLed mid-stream and restarted: no loss, no double count', async () => {
    const before = sequence;
    const sending = sendSome(300);
    await eventually(async () => (sequence > before + 1000 ? true : undefined), 'load to flow');
    await workers[0].stop('SIGKILL');
    await sending;
    workers[0] = await role('rollup', { DATA_DIR: storeDir(), ROLLUP_PARTITIONS: '0,1' });
    await sendSome(50);
    await waitForGatewaysToReceive(sequence);
    await expectExactStatistics();
  }, 60_000);

  it('nats-server SIGKILLed mid-stream and restarted: the gateways spool and replay', async () => {
    const before = sequence;
    const sending = sendSome(300);
    await eventually(async () => (sequence > before + 1000 ? true : undefined), 'load to flow');
    await nats.process.stop('SIGKILL');
    await sending;
    await sendSome(100);
    await waitForGatewaysToReceive(sequence);
    // with NATS down, batches wait in the gateways' spools
    await eventually(async () => {
      let spooled = 0;
      for (const g of gateways) spooled += await metricValue(g.httpPort, /hourglass_spool_batches (\d+)/);
      return spooled > 0 ? true : undefined;
    }, 'batches in the spool', 20_000);
    await nats.restart();
    await expectExactStatistics();
  }, 90_000);

  it('a worker killed between its store write and its ack: the redelivery is not counted twice', async () => {
    expect(await workers[0].stop('SIGTERM')).toBe(0);
    const crashing = await role('rollup', { DATA_DIR: storeDir(), ROLLUP_PARTITIONS: '0,1', FAILPOINT: 'exit-after-store-write' });
    await sendSome(100);
    await crashing.exited; // it wrote, then died before acknowledging
    workers[0] = await role('rollup', { DATA_DIR: storeDir(), ROLLUP_PARTITIONS: '0,1' });
    await waitForGatewaysToReceive(sequence);
    await expectExactStatistics();
    // the consumer restarts after the store's watermark (jetstream-source.ts), not at the ack floor:
    // what was written but not acknowledged is not even read again
    expect(await metricValue(workers[0].httpPort, /hourglass_batches_redelivered_total (\d+)/)).toBe(0);
  }, 60_000);

  it('a poison batch goes to the dead-letter stream and blocks nothing', async () => {
    const nc = await connect({ servers: nats.url });
    const { jetstream } = await import('@nats-io/jetstream');
    await jetstream(nc).publish('HGTEST.batches.0', new TextEncoder().encode('not a batch'));
    await nc.close();
    await sendSome(50);
    await waitForGatewaysToReceive(sequence);
    await expectExactStatistics();
    await eventually(async () => ((await metricValue(workers[0].httpPort, /hourglass_batches_dead_lettered_total\{reason="undecodable"\} (\d+)/)) === 1 ? true : undefined), 'the dead letter to be counted');
  }, 60_000);
});
