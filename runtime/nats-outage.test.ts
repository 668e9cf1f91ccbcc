/**
 * NATS unreachable, then answering again (SPEC §5: "gateways and rollup workers are moving data
 * again within 10 s of it answering"; issue 10 asks for outages of 5 s, 70 s and 3 minutes).
 * Real nats-server, two gateways, two rollup workers (two partitions each), one query process,
 * the SQLite store; the apps keep sending through every outage. After each restart:
 * - every partition acknowledges a new batch, and every key's count grows, within 10 s (the bound
 *   is the contract, so it is asserted as such, not as a performance figure);
 * - once the apps pause, every statistic is exact and every batch acknowledged (the workers'
 *   backlog gauge reaches 0 on all 4 partitions).
 * Outages alternate between SIGKILL and SIGTERM of nats-server. The outages run one after another in one setup (the 3-minute one dominates the wall time).
 * HOURGLASS_OUTAGE_SECONDS="5,5,5" runs other outages (to repeat the short one many times).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../bus/index.js';
import { exactQuantile } from '../core/index.js';
import { eventually, getJson, metricValue, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';

const OUTAGES_SEC = (process.env.HOURGLASS_OUTAGE_SECONDS ?? '5,70,180').split(',').map(Number);
/** SPEC §5. */
const RESUME_BOUND_MS = 10_000;
const HOUR_SEC = Date.UTC(2026, 11, 1, 9) / 1000;
const DATE = new Date(HOUR_SEC * 1000).toISOString().slice(0, 10);
const HOUR = new Date(HOUR_SEC * 1000).getUTCHours();
const STREAM = 'HGOUTAGE';
const PARTITIONS = 4;
const KEYS = 12;
/** The apps: one datagram of 10 lines every SEND_EVERY_MS, alternating gateways. */
const SEND_EVERY_MS = 100;

let nats: NatsServer;
let root: string;
let observer: NatsConnection;
let jsm: JetStreamManager;
const processes = new Set<HourglassProcess>();
let gateways: HourglassProcess[];
let workers: HourglassProcess[];
let query: HourglassProcess;

const sent = new Map<string, number[]>();
let sequence = 0;
let datagrams = 0;

// info: startHourglass waits for the "hourglass listening" line
async function role(name: string, env: Record<string, string>): Promise<HourglassProcess> {
  const p = await startHourglass(name, { NATS_URL: nats.url, NATS_PARTITIONS: String(PARTITIONS), NATS_STREAM: STREAM, FLUSH_INTERVAL_MS: '200', LOG_LEVEL: 'info', ...env });
  processes.add(p);
  return p;
}

async function sendDatagram(): Promise<void> {
  const lines: string[] = [];
  for (let i = 0; i < 10; i++) {
    const n = sequence++;
    const key = `outage.k${n % KEYS}`;
    const value = ((n * 7919) % 1000) / 4;
    (sent.get(key) ?? (sent.set(key, []).get(key) as number[])).push(value);
    lines.push(`${key}:${value}|ms|T${HOUR_SEC + (n % 3600)}`);
  }
  await sendUdp(gateways[datagrams++ % gateways.length].statsdPort, lines.join('\n'));
}

/** The apps, sending until the returned stop() is awaited. */
function startApps(): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await sendDatagram();
      await new Promise((r) => setTimeout(r, SEND_EVERY_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

const countUrl = (key: string, stat = 'count') => `http://127.0.0.1:${query.httpPort}/${key}/${stat}/${DATE}/${HOUR}`;

async function visibleCount(key: string): Promise<number> {
  const r = await getJson(countUrl(key));
  return r.status === 200 ? (r.body.count as number) : 0;
}

/** Each partition's ack floor (the last stream sequence acknowledged in order), as the server says. */
async function ackFloors(): Promise<number[]> {
  const floors: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) floors.push((await jsm.consumers.info(STREAM, `rollup-p${p}`)).ack_floor.stream_seq);
  return floors;
}

async function waitForGatewaysToReceive(lines: number): Promise<void> {
  await eventually(async () => {
    let total = 0;
    for (const g of gateways) total += await metricValue(g.httpPort, /hourglass_lines_received_total\{transport="udp"\} (\d+)/);
    return total >= lines ? true : undefined;
  }, `${lines} lines received by the gateways`);
}

async function expectExactStatistics(): Promise<void> {
  for (const [key, values] of sent) {
    await eventually(async () => {
      const count = await visibleCount(key);
      if (count > values.length) throw new Error(`${key}: count ${count} > ${values.length} sent: double counted`);
      return count === values.length ? true : undefined;
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
      const r = await getJson(countUrl(key, stat));
      expect(r.body.value, `${key} ${stat}`).toBeCloseTo(value, 9);
      expect(r.body.exact).toBe(true);
    }
  }
}

/** Every batch acknowledged: the workers' backlog gauge is 0 on every partition. */
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
    return partitions === PARTITIONS && pending === 0 ? true : undefined;
  }, `every batch to be acknowledged on all ${PARTITIONS} partitions`, 20_000);
}

beforeAll(async () => {
  // every partition must carry keys, or "every partition moving again" would not be checked
  expect(new Set(Array.from({ length: KEYS }, (_, i) => partitionOf(`outage.k${i}`, PARTITIONS))).size).toBe(PARTITIONS);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-outage-'));

  nats = await startNatsServer();
  const store = path.join(root, 'store');
  gateways = [await role('gateway', { DATA_DIR: path.join(root, 'gw1'), GATEWAY_ID: 'gw1' }), await role('gateway', { DATA_DIR: path.join(root, 'gw2'), GATEWAY_ID: 'gw2' })];
  workers = [await role('rollup', { DATA_DIR: store, ROLLUP_PARTITIONS: '0,1' }), await role('rollup', { DATA_DIR: store, ROLLUP_PARTITIONS: '2,3' })];
  query = await role('query', { DATA_DIR: store });
  observer = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  jsm = await jetstreamManager(observer, { timeout: 2000 });
}, 60_000);

afterAll(async () => {
  await observer?.close();
  await Promise.all([...processes].map((p) => p.stop('SIGKILL')));
  await nats?.dispose();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('NATS unreachable, then back: 2 gateways, 2 rollup workers', () => {
  // Alternately killed (acks and deliveries in flight are lost with it) and stopped cleanly.
  it.each(OUTAGES_SEC.map((s, i) => [s, i % 2 === 0 ? 'SIGKILL' : 'SIGTERM'] as const))('NATS down for %i s (%s): moving again within 10 s, nothing lost', async (outageSec, signal) => {
    const apps = startApps();
    try {
      // some data flowing and acknowledged before the outage
      await eventually(async () => ((await ackFloors()).every((f) => f > 0) ? true : undefined), 'every partition to acknowledge something');

      await nats.process.stop(signal);
      // The outage itself is the scenario: a fixed time, the apps sending all along.
      await new Promise((r) => setTimeout(r, outageSec * 1000));
      let spooled = 0;
      for (const g of gateways) spooled += await metricValue(g.httpPort, /hourglass_spool_batches (\d+)/);
      expect(spooled, 'batches waiting in the gateways spools').toBeGreaterThan(0);
      const countsBefore = new Map<string, number>();
      for (const key of sent.keys()) countsBefore.set(key, await visibleCount(key));

      await nats.restart();
      const answering = Date.now();
      // A batch past the stream's last sequence as first seen after the restart was published after
      // it (if a gateway published before that first look, the measure only gets stricter).
      const lastSeqAtRestart = await eventually(async () => (await jsm.streams.info(STREAM)).state.last_seq, 'the stream to answer', { timeoutMs: 30_000, pollMs: 50 });
      // First new acknowledgement on every partition (both workers), in order: the ack floor is
      // past every batch from before the restart, so none was left unacknowledged either.
      const ackedAfterMs = await eventually(
        async () => ((await ackFloors()).every((f) => f > lastSeqAtRestart) ? Date.now() - answering : undefined),
        'every partition to acknowledge a new batch',
        { timeoutMs: 60_000, pollMs: 100 },
      );
      // First new value visible through the query API, for every key (both gateways' spools replaying).
      const visibleAfterMs = await eventually(
        async () => {
          for (const [key, before] of countsBefore) if ((await visibleCount(key)) <= before) return undefined;
          return Date.now() - answering;
        },
        'every key to count more',
        { timeoutMs: 60_000, pollMs: 100 },
      );
      console.log(`outage ${outageSec} s: first new ack on every partition ${ackedAfterMs} ms, first new value of every key ${visibleAfterMs} ms after NATS answered`);
      expect(ackedAfterMs, 'ms from NATS answering to a new ack on every partition').toBeLessThanOrEqual(RESUME_BOUND_MS);
      expect(visibleAfterMs, 'ms from NATS answering to new values of every key').toBeLessThanOrEqual(RESUME_BOUND_MS);
    } finally {
      await apps.stop();
    }
    await waitForGatewaysToReceive(sequence);
    await expectExactStatistics();
    await expectAllAcknowledged();
    let spooled = 0;
    for (const g of gateways) spooled += await metricValue(g.httpPort, /hourglass_spool_batches (\d+)/);
    expect(spooled).toBe(0);
  }, (Math.max(...OUTAGES_SEC) + 150) * 1000);
});
