/**
 * The distributed roles over a real nats-server and a real influxd (the 1.x API, INFLUX_API=v1):
 * 2 gateways -> JetStream -> 2 rollup workers -> InfluxDB -> query. Every statistic compared with
 * values computed here, after influxd is down for 30 s and around a point influxd refuses.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactQuantile } from '../core/index.js';
import { eventually, getJson, metricValue, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startInfluxd, startNatsServer, type Influxd, type NatsServer } from '../test-support/servers.js';

const HOUR_SEC = Date.UTC(2026, 11, 2, 14) / 1000;
const DATE = '2026-12-02';
const HOUR = 14;
/** influxd refuses a point carrying a 21st value of one tag: the poison of the last test. */
const MAX_VALUES_PER_TAG = 20;

let nats: NatsServer;
let influx: Influxd;
let root: string;
const processes = new Set<HourglassProcess>();
const sent = new Map<string, number[]>();
let sequence = 0;
let gateways: HourglassProcess[];
let workers: HourglassProcess[];
let query: HourglassProcess;

function env(): Record<string, string> {
  return { NATS_URL: nats.url, NATS_PARTITIONS: '2', NATS_STREAM: 'HGINFLUX', FLUSH_INTERVAL_MS: '200', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'hourglass', LOG_LEVEL: 'info' };
}

async function role(name: string, extra: Record<string, string>): Promise<HourglassProcess> {
  const p = await startHourglass(name, { ...env(), ...extra });
  processes.add(p);
  return p;
}

/** Sends `lines` timer lines over `keys` keys, recording every value. */
async function send(keys: readonly string[], lines: number): Promise<void> {
  for (let start = 0; start < lines; start += 10) {
    const batch: string[] = [];
    for (let i = start; i < Math.min(lines, start + 10); i++) {
      const n = sequence++;
      const key = keys[n % keys.length];
      const value = ((n * 7919) % 500) / 2;
      (sent.get(key) ?? (sent.set(key, []).get(key) as number[])).push(value);
      batch.push(`${key}:${value}|ms|T${HOUR_SEC + (n % 3600)}`);
    }
    await sendUdp(gateways[(start / 10) % gateways.length].statsdPort, batch.join('\n'));
  }
  await eventually(async () => {
    let received = 0;
    for (const g of gateways) received += await metricValue(g.httpPort, /hourglass_lines_received_total\{transport="udp"\} (\d+)/);
    return received >= sequence ? true : undefined;
  }, 'the gateways to receive every line');
}

async function expectExact(keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    const values = sent.get(key) as number[];
    const url = (stat: string) => `http://127.0.0.1:${query.httpPort}/${key}/${stat}/${DATE}/${HOUR}`;
    await eventually(async () => {
      const r = await getJson(url('count'));
      if (r.status === 200 && (r.body.count as number) > values.length) throw new Error(`${key}: counted ${r.body.count}, sent ${values.length}`);
      return r.status === 200 && r.body.count === values.length ? true : undefined;
    }, `${key} to count ${values.length}`, 40_000);
    const sum = values.reduce((a, b) => a + b, 0);
    for (const [stat, value] of Object.entries({ sum, min: Math.min(...values), max: Math.max(...values), median: exactQuantile(values, null, 0.5), p95: exactQuantile(values, null, 0.95) })) {
      expect((await getJson(url(stat))).body.value, `${key} ${stat}`).toBeCloseTo(value, 9);
    }
  }
}

const KEYS = ['flux.a', 'flux.b', 'flux.c', 'flux.d'];

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-influx-'));
  [nats, influx] = await Promise.all([startNatsServer(), startInfluxd({ maxValuesPerTag: MAX_VALUES_PER_TAG })]);
  gateways = [await role('gateway', { DATA_DIR: path.join(root, 'gw1'), GATEWAY_ID: 'gw1' }), await role('gateway', { DATA_DIR: path.join(root, 'gw2'), GATEWAY_ID: 'gw2' })];
  workers = [await role('rollup', { DATA_DIR: path.join(root, 'w0'), ROLLUP_PARTITIONS: '0' }), await role('rollup', { DATA_DIR: path.join(root, 'w1'), ROLLUP_PARTITIONS: '1' })];
  query = await role('query', { DATA_DIR: path.join(root, 'q') });
}, 60_000);

afterAll(async () => {
  await Promise.all([...processes].map((p) => p.stop('SIGKILL')));
  await Promise.all([nats?.dispose(), influx?.dispose()]);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('distributed over InfluxDB (1.x API)', () => {
  it('every statistic is exact', async () => {
    await send(KEYS, 2000);
    await expectExact(KEYS);
  });

  it('the query API answers 503 with Retry-After while influxd is down, and nothing is lost over 30 s down', async () => {
    await influx.process.stop('SIGKILL');
    const res = await fetch(`http://127.0.0.1:${query.httpPort}/flux.a/count/${DATE}/${HOUR}`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const downUntil = Date.now() + 30_000;
    while (Date.now() < downUntil) {
      await send(KEYS, 200);
      await new Promise((r) => setTimeout(r, 2000));
    }
    await eventually(async () => ((await metricValue(workers[0].httpPort, /hourglass_store_write_errors_total (\d+)/)) > 0 ? true : undefined), 'the failed writes to be counted');
    await influx.restart();
    await expectExact(KEYS);
  }, 90_000);

  it('a point influxd refuses for good is dead-lettered and blocks no other key', async () => {
    // fill the tag "name" of measurement rollup up to influxd's limit (it checks each write
    // against the count before it, so fill first, then overflow in a later write)
    const filling = Array.from({ length: MAX_VALUES_PER_TAG - KEYS.length }, (_, i) => `flux.fill${i}`);
    await send([...KEYS, ...filling], 1000);
    await expectExact([...KEYS, ...filling]);
    await send([...KEYS, 'flux.poison.a', 'flux.poison.b'], 600);
    await eventually(async () => {
      let rejected = 0;
      for (const w of workers) rejected += await metricValue(w.httpPort, /hourglass_store_points_rejected_total (\d+)/);
      return rejected > 0 ? true : undefined;
    }, 'influxd to refuse the names past its limit');
    // the other keys go on, exact
    await send(KEYS, 400);
    await expectExact(KEYS);
    expect((await getJson(`http://127.0.0.1:${query.httpPort}/flux.poison.a/count/${DATE}/${HOUR}`)).status).toBe(404);
  }, 90_000);
});
