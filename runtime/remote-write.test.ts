/**
 * End to end, all real: a Prometheus (Debian's 2.42, remote write 1.0) scrapes an exporter this
 * test moves (prom-client: a counter with a restart, a gauge, a histogram), and remote-writes to
 * an embedded Hourglass's `POST /api/v1/write`; the hourly statistics the query API answers must
 * equal what Prometheus itself holds for the same series over the same hour (SPEC §3.2): gauge
 * count/sum/min/max, counter increase, histogram count and sum, and the bucket-estimated median.
 * The sample timestamps are Prometheus's own (wall clock), so every hour the run touched is checked.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import snappy from 'snappy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch, histogramsOf } from '../bus/index.js';
import { SECONDS_PER_HOUR, bucketQuantile, hourStartSec } from '../core/index.js';
import { encodeWriteRequestV1 } from '../gateway/remote-write/schema.js';
import { eventually } from '../test-support/eventually.js';
import { startNatsServer, startPrometheus, type Prometheus } from '../test-support/servers.js';
import { parseConfig } from './config.js';
import { startEmbedded, type RunningHourglass } from './embedded.js';
import { startGatewayRole } from './gateway-role.js';

const SCRAPE_MS = 250;
const WAIT_MS = 30_000;
const BUCKETS = [0.1, 0.5, 1];

let dir: string;
let hourglass: RunningHourglass;
let exporterServer: http.Server;
let prometheus: Prometheus | undefined;

const exporter = new Registry();
const jobs = new Counter({ name: 'rwe2e_jobs_total', help: 'jobs', registers: [exporter] });
const depth = new Gauge({ name: 'rwe2e_queue_depth', help: 'depth', registers: [exporter] });
const latency = new Histogram({ name: 'rwe2e_latency_seconds', help: 'latency', buckets: BUCKETS, registers: [exporter] });

type Samples = [timestampMs: number, value: number][];

/** Raw samples Prometheus holds for one series, oldest first (a range selector, no functions). */
async function promSamples(selector: string): Promise<Samples> {
  const url = `${prometheus?.url}/api/v1/query?query=${encodeURIComponent(`${selector}[1h]`)}`;
  const body = (await (await fetch(url)).json()) as { data: { result: { values: [number, string][] }[] } };
  const series = body.data.result;
  if (series.length !== 1) return [];
  return series[0].values.map(([t, v]) => [Math.round(t * 1000), Number(v)]);
}

const hourOf = (timestampMs: number) => hourStartSec(Math.floor(timestampMs / 1000));

/** Per hour: the reset-aware increases between consecutive samples (a drop is a restart), zeros left out. */
function increasesByHour(samples: Samples): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (let i = 1; i < samples.length; i++) {
    const [t, v] = samples[i];
    const previous = samples[i - 1][1];
    const increase = v >= previous ? v - previous : v;
    if (increase === 0) continue;
    const hour = hourOf(t);
    out.set(hour, [...(out.get(hour) ?? []), increase]);
  }
  return out;
}

const total = (values: readonly number[] | undefined) => (values ?? []).reduce((a, b) => a + b, 0);

async function query(key: string, stat: string, hourSec: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const d = new Date(hourSec * 1000);
  const res = await fetch(`http://127.0.0.1:${hourglass.httpPort}/${key}/${stat}/${d.toISOString().slice(0, 10)}/${d.getUTCHours()}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Waits until Prometheus holds two more scrapes with the values the exporter shows now. */
async function scrapedTwiceMore(): Promise<void> {
  const before = (await promSamples('rwe2e_queue_depth')).length;
  const want = (await depth.get()).values[0].value;
  await eventually(async () => {
    const s = await promSamples('rwe2e_queue_depth');
    return s.length >= before + 2 && s[s.length - 1][1] === want ? true : undefined;
  }, 'Prometheus scraping the moved values', WAIT_MS);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-rw-e2e-'));
  // the system clock: Prometheus stamps samples with the wall clock, and each lands in its own hour
  const config = parseConfig('all', { STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', DATA_DIR: dir, FLUSH_INTERVAL_MS: '100', LOG_LEVEL: 'silent' });
  hourglass = await startEmbedded({ config, rollupThread: false });

  jobs.inc(5); // the first sample Prometheus sees is not 0: it is a baseline, not an increase
  depth.set(4);
  exporterServer = http.createServer(async (_req, res) => {
    res.setHeader('Content-Type', exporter.contentType);
    res.end(await exporter.metrics());
  });
  await new Promise<void>((resolve) => exporterServer.listen(0, '127.0.0.1', resolve));
  const exporterAddress = `127.0.0.1:${(exporterServer.address() as AddressInfo).port}`;
  prometheus = await startPrometheus([exporterAddress], SCRAPE_MS, { jobName: 'exporter', remoteWriteUrl: `http://127.0.0.1:${hourglass.httpPort}/api/v1/write` });
}, 60_000);

afterAll(async () => {
  await prometheus?.dispose();
  exporterServer?.closeAllConnections();
  await new Promise((resolve) => exporterServer?.close(resolve));
  await hourglass?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus remote write into an embedded Hourglass', () => {
  it('answers the hourly statistics Prometheus holds for the same series', async () => {
    await scrapedTwiceMore();
    jobs.inc(7);
    depth.set(9);
    for (const v of [0.05, 0.3, 0.7, 2, 0.45]) latency.observe(v);
    await scrapedTwiceMore();
    jobs.reset(); // the exporter restarted: Prometheus sees the counter drop
    latency.reset();
    jobs.inc(4);
    depth.set(2);
    for (const v of [0.2, 0.04, 0.9]) latency.observe(v);
    await scrapedTwiceMore();
    jobs.inc(1);
    latency.observe(0.6);
    depth.set(3);
    await scrapedTwiceMore();

    // The exporter goes away: Prometheus's scrapes fail (stale markers, skipped by Hourglass), so
    // what it holds stops growing and can be compared whole.
    exporterServer.closeAllConnections();
    await new Promise((resolve) => exporterServer.close(resolve));
    await eventually(async () => {
      const up = await promSamples('up{job="exporter"}');
      return up.length > 0 && up[up.length - 1][1] === 0 ? true : undefined;
    }, 'Prometheus seeing the exporter down', WAIT_MS);

    const gauge = await promSamples('rwe2e_queue_depth');
    const counter = await promSamples('rwe2e_jobs_total');
    const count = await promSamples('rwe2e_latency_seconds_count');
    const sum = await promSamples('rwe2e_latency_seconds_sum');
    const buckets = await Promise.all([...BUCKETS.map(String), '+Inf'].map((le) => promSamples(`rwe2e_latency_seconds_bucket{le="${le}"}`)));
    expect(counter.some(([, v], i) => i > 0 && v < counter[i - 1][1])).toBe(true); // the restart is in there
    expect(total([...increasesByHour(count).values()].flat())).toBe(5 + 3 + 1);

    const hours = [...new Set(gauge.map(([t]) => hourOf(t)))];
    expect(hours.length).toBeGreaterThan(0);
    expect(hours.every((h) => h <= hourOf(Date.now()) && h >= hourOf(Date.now()) - SECONDS_PER_HOUR)).toBe(true);

    for (const hour of hours) {
      const values = gauge.filter(([t]) => hourOf(t) === hour).map(([, v]) => v);
      // remote write lags the scrapes: wait until every gauge sample of the hour has arrived
      await eventually(async () => ((await query('rwe2e_queue_depth', 'count', hour)).body.value === values.length ? true : undefined), `${values.length} gauge samples in Hourglass`, WAIT_MS);
      expect((await query('rwe2e_queue_depth', 'sum', hour)).body).toMatchObject({ value: total(values), exact: true });
      expect((await query('rwe2e_queue_depth', 'min', hour)).body.value).toBe(Math.min(...values));
      expect((await query('rwe2e_queue_depth', 'max', hour)).body.value).toBe(Math.max(...values));

      const increases = increasesByHour(counter).get(hour);
      if (increases !== undefined) {
        await eventually(async () => ((await query('rwe2e_jobs_total', 'sum', hour)).body.value === total(increases) ? true : undefined), 'the counter increase in Hourglass', WAIT_MS);
        expect((await query('rwe2e_jobs_total', 'count', hour)).body.value).toBe(increases.length);
      }

      const observations = total(increasesByHour(count).get(hour));
      if (observations === 0) continue;
      await eventually(async () => ((await query('rwe2e_latency_seconds', 'count', hour)).body.value === observations ? true : undefined), 'the histogram count in Hourglass', WAIT_MS);
      const histogramSum = await query('rwe2e_latency_seconds', 'sum', hour);
      expect(histogramSum.body.value as number).toBeCloseTo(total(increasesByHour(sum).get(hour)), 9);
      // the median from the hour's bucket increases, as Prometheus's raw bucket samples give them
      const cumulative = buckets.map((b) => total(increasesByHour(b).get(hour)));
      const median = await query('rwe2e_latency_seconds', 'median', hour);
      expect(median.body).toMatchObject({ exact: false, count: observations });
      expect(median.body).not.toHaveProperty('relative_error');
      expect(median.body.value as number).toBeCloseTo(bucketQuantile(0.5, [...BUCKETS, Infinity], cumulative), 12);
      expect((await query('rwe2e_latency_seconds', 'max', hour)).status).toBe(400);
    }

    const metrics = await (await fetch(`http://127.0.0.1:${hourglass.httpPort}/metrics`)).text();
    expect(Number(/hourglass_remote_write_requests_total\{status="204"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/hourglass_remote_write_requests_total\{status="400"\} 0\n/);
    // the stale markers of the exporter's series reach us with the next remote-write send, which
    // the comparisons above may beat
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${hourglass.httpPort}/metrics`)).text();
      return Number(/hourglass_remote_write_samples_skipped_total\{reason="stale_marker"\} (\d+)/.exec(text)?.[1]) > 0 ? true : undefined;
    }, 'the stale markers skipped', WAIT_MS);
  }, 120_000);
});

describe('the gateway role', () => {
  it('takes POST /api/v1/write on its HTTP listener and publishes the values to JetStream as batches', async () => {
    const nats = await startNatsServer();
    const gwDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-rw-gw-'));
    const config = parseConfig('gateway', { STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', DATA_DIR: gwDir, NATS_URL: nats.url, NATS_STREAM: 'HGRW', NATS_PARTITIONS: '1', FLUSH_INTERVAL_MS: '100', LOG_LEVEL: 'silent' });
    const gateway = await startGatewayRole(config, pino({ level: 'silent' }));
    const nc = await connect({ servers: nats.url });
    try {
      const t = Date.UTC(2026, 10, 22, 21, 30);
      const labels = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
      const scrape = (at: number, count: number, sum: number, le1: number) =>
        snappy.compressSync(
          Buffer.from(
            encodeWriteRequestV1({
              timeseries: [
                { labels: labels({ __name__: 'queue_depth', job: 'api' }), samples: [{ value: 3 + count, timestamp: at }] },
                { labels: labels({ __name__: 'rpc_seconds_bucket', le: '1', job: 'api' }), samples: [{ value: le1, timestamp: at }] },
                { labels: labels({ __name__: 'rpc_seconds_bucket', le: '+Inf', job: 'api' }), samples: [{ value: count, timestamp: at }] },
                { labels: labels({ __name__: 'rpc_seconds_sum', job: 'api' }), samples: [{ value: sum, timestamp: at }] },
                { labels: labels({ __name__: 'rpc_seconds_count', job: 'api' }), samples: [{ value: count, timestamp: at }] },
              ],
            }),
          ),
        );
      const post = (body: Buffer) =>
        fetch(`http://127.0.0.1:${gateway.httpPort}/api/v1/write`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' } });
      // the publisher connects in the background: a request before that goes to the spool, and is published from it
      expect((await post(scrape(t, 2, 1.5, 1))).status).toBe(204);
      expect((await post(scrape(t + 15_000, 5, 4.5, 3))).status).toBe(204);

      const jsm = await jetstreamManager(nc);
      const series = await eventually(async () => {
        const info = await jsm.streams.info('HGRW').catch(() => undefined);
        if (info === undefined || info.state.messages === 0) return undefined;
        const all = [];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const message = await jsm.streams.getMessage('HGRW', { seq });
          if (message !== null) all.push(...decodeBatch(message.data).series);
        }
        return all.some((s) => s.histogram === true) ? all : undefined;
      }, 'the remote-written values on the JetStream stream', WAIT_MS);
      const depthValues = series.filter((s) => s.name === 'queue_depth').flatMap((s) => Array.from(s.values));
      expect(depthValues).toEqual([5, 8]);
      const increments = series.filter((s) => s.histogram === true).flatMap((s) => histogramsOf(s.values));
      expect(increments.map((h) => ({ count: h.count, sum: h.sum, upperBounds: Array.from(h.upperBounds), counts: Array.from(h.counts) }))).toEqual([{ count: 3, sum: 3, upperBounds: [1, Infinity], counts: [2, 3] }]);
      expect(series.find((s) => s.histogram === true)).toMatchObject({ name: 'rpc_seconds', tags: 'job:api', type: 'h', hourSec: hourOf(t) });
    } finally {
      await nc.close();
      await gateway.close();
      await nats.dispose();
      fs.rmSync(gwDir, { recursive: true, force: true });
    }
  }, 60_000);
});
