/**
 * Rollup workers with identical settings share the partitions by themselves (SPEC §5), as
 * separate processes over a real nats-server, with the SQLite store: two gateways, three workers
 * started the same way (no ROLLUP_PARTITIONS), load sent the whole time while one worker is
 * SIGKILLed, another added and a third stopped with SIGTERM. Every statistic is then compared with
 * values computed here: no loss, no double count through every handover. The killed worker's
 * partitions must be taken over within 15 s with the default LEASE_TTL_MS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactQuantile } from '../core/index.js';
import { eventually, getJson, metricValue, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';

const HOUR_SEC = Date.UTC(2026, 11, 2, 9) / 1000;
const KEYS = 24;
const PARTITIONS = 6;
const TAKEOVER_LIMIT_MS = 15_000;

let nats: NatsServer;
let root: string;
const processes = new Set<HourglassProcess>();
const sent = new Map<string, number[]>();
let sequence = 0;

/** The same settings for every worker: only the HTTP port (0, picked by each) differs. */
const workerEnv = () => ({ NATS_URL: nats.url, NATS_PARTITIONS: String(PARTITIONS), NATS_STREAM: 'HGSHARE', FLUSH_INTERVAL_MS: '200', DATA_DIR: path.join(root, 'store'), LOG_LEVEL: 'info' });

async function role(name: string, env: Record<string, string>): Promise<HourglassProcess> {
  const p = await startHourglass(name, env);
  processes.add(p);
  return p;
}

let gateways: HourglassProcess[];
let query: HourglassProcess;

async function sendSome(datagrams: number): Promise<void> {
  for (let d = 0; d < datagrams; d++) {
    const lines: string[] = [];
    for (let i = 0; i < 10; i++) {
      const n = sequence++;
      const key = `share.k${n % KEYS}`;
      const value = ((n * 7919) % 1000) / 4;
      (sent.get(key) ?? (sent.set(key, []).get(key) as number[])).push(value);
      lines.push(`${key}:${value}|ms|T${HOUR_SEC + (n % 3600)}`);
    }
    await sendUdp(gateways[d % gateways.length].statsdPort, lines.join('\n'));
  }
}

/** Load the whole time: a few datagrams every 50 ms until stopped. */
function keepSending(): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await sendSome(4);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

const owned = (w: HourglassProcess) => metricValue(w.httpPort, /^hourglass_rollup_partitions_owned (\d+)$/m);

async function ownedBy(workers: HourglassProcess[]): Promise<number[]> {
  return Promise.all(workers.map(owned));
}

/** Waits until these workers hold every partition between them, within one of each other. */
async function expectShared(workers: HourglassProcess[], what: string, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  await eventually(
    async () => {
      const counts = await ownedBy(workers);
      const total = counts.reduce((a, b) => a + b, 0);
      return total === PARTITIONS && Math.max(...counts) - Math.min(...counts) <= 1 ? true : undefined;
    },
    what,
    { timeoutMs, pollMs: 100 },
  );
  return Date.now() - started;
}

async function waitForGatewaysToReceive(lines: number): Promise<void> {
  await eventually(async () => {
    let total = 0;
    for (const g of gateways) total += await metricValue(g.httpPort, /hourglass_lines_received_total\{transport="udp"\} (\d+)/);
    return total >= lines ? true : undefined;
  }, `${lines} lines received by the gateways`);
}

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

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-shared-'));
  nats = await startNatsServer();
  const gw = (id: string) => role('gateway', { NATS_URL: nats.url, NATS_PARTITIONS: String(PARTITIONS), NATS_STREAM: 'HGSHARE', FLUSH_INTERVAL_MS: '200', DATA_DIR: path.join(root, id), GATEWAY_ID: id });
  gateways = [await gw('gw1'), await gw('gw2')];
  query = await role('query', { DATA_DIR: path.join(root, 'store') });
}, 60_000);

afterAll(async () => {
  await Promise.all([...processes].map((p) => p.stop('SIGKILL')));
  await nats?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('rollup workers with identical settings share the partitions', () => {
  it('three workers, one killed, one added, one stopped, load throughout: every statistic exact; takeover within 15 s', async () => {
    const load = keepSending();
    try {
      const workers = [await role('rollup', workerEnv()), await role('rollup', workerEnv()), await role('rollup', workerEnv())];
      await expectShared(workers, 'three workers to hold 2 partitions each');
      expect(await ownedBy(workers)).toEqual([2, 2, 2]);

      // kill -9: its leases expire, the two others take its partitions
      const [killed, second, third] = workers;
      const killedAt = Date.now();
      await killed.stop('SIGKILL');
      await expectShared([second, third], 'the survivors to take the killed worker\'s partitions', TAKEOVER_LIMIT_MS + 5000);
      const takeoverMs = Date.now() - killedAt;
      expect(takeoverMs, 'takeover of a SIGKILLed worker\'s partitions').toBeLessThan(TAKEOVER_LIMIT_MS);
      expect(await ownedBy([second, third])).toEqual([3, 3]);
      expect(await metricValue(second.httpPort, /hourglass_rollup_handovers_total\{direction="acquired"\} (\d+)/)).toBeGreaterThanOrEqual(3);

      // a worker joins: it takes its share, the others give theirs back gracefully
      const fourth = await role('rollup', workerEnv());
      await expectShared([second, third, fourth], 'the new worker to take its share');
      expect(await owned(fourth)).toBe(2);

      // SIGTERM: it writes, acknowledges and deletes its leases; the others take them at once
      const stoppedAt = Date.now();
      expect(await second.stop('SIGTERM')).toBe(0);
      await expectShared([third, fourth], 'the remaining workers to take the stopped worker\'s partitions');
      // graceful: well before its leases could have expired
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      expect(await ownedBy([third, fourth])).toEqual([3, 3]);
    } finally {
      await load.stop();
    }
    await sendSome(20);
    await waitForGatewaysToReceive(sequence);
    await expectExactStatistics();
  }, 180_000);
});
