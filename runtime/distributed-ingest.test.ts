/**
 * POST /ingest in the distributed setup, over real nats-server (SPEC §3.1): a 2xx only once
 * JetStream acknowledged the data or the spool holds it, a retry through another gateway counted
 * once (the Idempotency-Key becomes the message id), and 503 with Retry-After when neither NATS
 * nor the spool can take it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, getJson, metricValue, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { freePort, startNatsServer, type NatsServer } from '../test-support/servers.js';

const HOUR_SEC = Date.UTC(2026, 11, 1, 9) / 1000;
const DATE = '2026-12-01';

let nats: NatsServer;
let root: string;
const processes = new Set<HourglassProcess>();

async function role(name: string, env: Record<string, string>): Promise<HourglassProcess> {
  const p = await startHourglass(name, { NATS_STREAM: 'HGINGEST', NATS_PARTITIONS: '2', FLUSH_INTERVAL_MS: '200', ...env });
  processes.add(p);
  return p;
}

let gateways: HourglassProcess[];
let rollup: HourglassProcess;
let query: HourglassProcess;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-dingest-'));
  nats = await startNatsServer();
  const env = { NATS_URL: nats.url };
  gateways = [await role('gateway', { ...env, DATA_DIR: path.join(root, 'gw1'), GATEWAY_ID: 'gw1' }), await role('gateway', { ...env, DATA_DIR: path.join(root, 'gw2'), GATEWAY_ID: 'gw2' })];
  rollup = await role('rollup', { ...env, DATA_DIR: path.join(root, 'store'), ROLLUP_PARTITIONS: '0,1' });
  query = await role('query', { DATA_DIR: path.join(root, 'store') });
}, 60_000);

afterAll(async () => {
  await Promise.all([...processes].map((p) => p.stop('SIGKILL')));
  await nats?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

const post = (g: HourglassProcess, body: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${g.httpPort}/ingest`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body });

async function countOf(key: string): Promise<number | undefined> {
  const r = await getJson(`http://127.0.0.1:${query.httpPort}/${key}/count/${DATE}/9`);
  return r.status === 200 ? (r.body.count as number) : undefined;
}

describe('POST /ingest, distributed', () => {
  it('a retry through another gateway with the same Idempotency-Key is counted once', async () => {
    const body = [1, 2, 3, 4].map((v) => `ding.a${v % 2}:${v}|ms|T${HOUR_SEC}`).join('\n');
    const key = { 'idempotency-key': 'batch-0001' };
    expect((await post(gateways[0], body, key)).status).toBe(204);
    expect((await post(gateways[1], body, key)).status).toBe(204);
    expect((await post(gateways[0], body, key)).status).toBe(204);
    await eventually(async () => ((await countOf('ding.a0')) === 2 && (await countOf('ding.a1')) === 2 ? true : undefined), 'both keys at 2');
    // the retries were JetStream duplicates (gw1 answered its own retry from memory)
    expect(await metricValue(gateways[1].httpPort, /hourglass_batches_duplicate_total (\d+)/)).toBeGreaterThan(0);
    // and stay counted once once the worker has taken everything the stream holds
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${rollup.httpPort}/metrics`)).text();
      const pending = [...text.matchAll(/^hourglass_consumer_pending_messages\{partition="\d"\} (\d+)$/gm)].map((m) => Number(m[1]));
      return pending.length === 2 && pending.every((n) => n === 0) ? true : undefined;
    }, 'the worker to hold nothing pending');
    expect(await countOf('ding.a0')).toBe(2);
    expect(await countOf('ding.a1')).toBe(2);
  });

  it('with NATS unreachable a 2xx means spooled, and it arrives once NATS is back; a full spool answers 503 with Retry-After', async () => {
    // a gateway whose NATS does not answer, with the smallest spool
    const deadPort = await freePort();
    const lonely = await role('gateway', { NATS_URL: `nats://127.0.0.1:${deadPort}`, DATA_DIR: path.join(root, 'gw3'), GATEWAY_ID: 'gw3', SPOOL_MAX_BYTES: String(1024 * 1024) });
    expect((await post(lonely, `ding.spooled:5|ms|T${HOUR_SEC}`)).status).toBe(204);
    expect(await metricValue(lonely.httpPort, /hourglass_spool_batches (\d+)/)).toBe(1);
    const big = Array.from({ length: 20_000 }, (_, i) => `ding.full:${i}|ms|T${HOUR_SEC}`).join('\n');
    let refused: Response | undefined;
    for (let i = 0; i < 20 && refused === undefined; i++) {
      const res = await post(lonely, big);
      if (res.status === 503) refused = res;
      else expect(res.status).toBe(204);
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('5');
    expect(((await refused?.json()) as { detail: string }).detail).toMatch(/spool is full/);
    await lonely.stop('SIGKILL');

    // the same spool, now with a reachable NATS: the spooled request reaches the store
    const back = await role('gateway', { NATS_URL: nats.url, DATA_DIR: path.join(root, 'gw3'), GATEWAY_ID: 'gw3' });
    await eventually(async () => ((await countOf('ding.spooled')) === 1 ? true : undefined), 'the spooled request in the store', 20_000);
    await eventually(async () => ((await metricValue(back.httpPort, /hourglass_spool_batches (\d+)/)) === 0 ? true : undefined), 'the spool drained', 20_000);
  }, 90_000);
});
