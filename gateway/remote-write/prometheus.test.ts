/**
 * A real Prometheus (Debian's 2.42, remote write 1.0) scrapes an exporter this test serves and
 * moves (prom-client: a counter, a gauge, a histogram, with restarts), and remote-writes to a
 * Fastify app with the plugin and a recording sink. What arrives is compared with the raw
 * samples Prometheus itself answers for the same series (a range selector over its HTTP API).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test-support/eventually.js';
import { startPrometheus, type Prometheus } from '../../test-support/servers.js';
import { hourStartSec } from '../../core/index.js';
import { registerRemoteWrite } from './index.js';
import { RecordingSink } from './recording-sink.js';

const SCRAPE_MS = 250;
const WAIT_MS = 30_000;

let exporterServer: http.Server;
let gateway: FastifyInstance;
let prometheus: Prometheus | undefined;
let tags: string; // instance and job, as Prometheus labels them
const sink = new RecordingSink();
const gatewayRegistry = new Registry();

const exporter = new Registry();
const jobs = new Counter({ name: 'rwtest_jobs_total', help: 'jobs', registers: [exporter] });
const depth = new Gauge({ name: 'rwtest_queue_depth', help: 'depth', registers: [exporter] });
const latency = new Histogram({ name: 'rwtest_latency_seconds', help: 'latency', buckets: [0.1, 0.5, 1], registers: [exporter] });

/** Raw samples Prometheus holds for one series: `[timestampMs, value]`, oldest first. */
async function promSamples(selector: string): Promise<[number, number][]> {
  const url = `${prometheus?.url}/api/v1/query?query=${encodeURIComponent(`${selector}[1h]`)}`;
  const body = (await (await fetch(url)).json()) as { data: { result: { values: [number, string][] }[] } };
  const series = body.data.result;
  if (series.length !== 1) return [];
  return series[0].values.map(([t, v]) => [Math.round(t * 1000), Number(v)]);
}

/** Reset-aware increases between consecutive samples, zero increases left out (the reference). */
function increases(samples: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < samples.length; i++) {
    const [t, v] = samples[i];
    const previous = samples[i - 1][1];
    const increase = v >= previous ? v - previous : v;
    if (increase !== 0) out.push([hourStartSec(Math.floor(t / 1000)), increase]);
  }
  return out;
}

const total = (pairs: readonly [number, number][]) => pairs.reduce((sum, [, v]) => sum + v, 0);

/** Waits until Prometheus has scraped the exporter `times` more times with values as they are now. */
async function scrapedTwiceMore(): Promise<void> {
  const before = (await promSamples('rwtest_queue_depth')).length;
  const want = depth.get().then((g) => g.values[0].value);
  await eventually(async () => {
    const s = await promSamples('rwtest_queue_depth');
    return s.length >= before + 2 && s[s.length - 1][1] === (await want) ? true : undefined;
  }, 'Prometheus scraping the moved values', WAIT_MS);
}

beforeAll(async () => {
  jobs.inc(5); // the first sample Prometheus sees is not 0: it must be a baseline, not an increase
  depth.set(4);
  exporterServer = http.createServer(async (req, res) => {
    res.setHeader('Content-Type', exporter.contentType);
    res.end(await exporter.metrics());
  });
  await new Promise<void>((resolve) => exporterServer.listen(0, '127.0.0.1', resolve));
  const exporterAddress = `127.0.0.1:${(exporterServer.address() as AddressInfo).port}`;
  tags = `instance:${exporterAddress},job:exporter`;

  gateway = Fastify();
  await registerRemoteWrite(gateway, { maxBodyBytes: 4_194_304, sink, registry: gatewayRegistry });
  await gateway.listen({ host: '127.0.0.1', port: 0 });
  const gatewayPort = (gateway.server.address() as AddressInfo).port;

  prometheus = await startPrometheus([exporterAddress], SCRAPE_MS, { jobName: 'exporter', remoteWriteUrl: `http://127.0.0.1:${gatewayPort}/api/v1/write` });
}, 60_000);

afterAll(async () => {
  await prometheus?.dispose();
  await gateway?.close();
  await new Promise((resolve) => exporterServer?.close(resolve));
});

describe('a real Prometheus remote-writing what it scrapes', () => {
  it('delivers gauge values, counter increases and histogram count/sum equal to what Prometheus holds', async () => {
    await scrapedTwiceMore();
    jobs.inc(7);
    depth.set(9);
    for (const v of [0.05, 0.3, 0.7, 2]) latency.observe(v);
    await scrapedTwiceMore();
    jobs.reset(); // the exporter restarted: Prometheus sees the counter drop
    latency.reset();
    jobs.inc(4);
    depth.set(2);
    for (const v of [0.2, 0.04]) latency.observe(v);
    await scrapedTwiceMore();
    jobs.inc(1);
    latency.observe(0.6);
    depth.set(3);
    await scrapedTwiceMore();

    // What Prometheus holds now; the values stay still from here, so its later scrapes only repeat them.
    const gauge = await promSamples('rwtest_queue_depth');
    const counter = await promSamples('rwtest_jobs_total');
    const count = await promSamples('rwtest_latency_seconds_count');
    const sum = await promSamples('rwtest_latency_seconds_sum');
    const inf = await promSamples('rwtest_latency_seconds_bucket{le="+Inf"}');
    const half = await promSamples('rwtest_latency_seconds_bucket{le="0.5"}');
    expect(counter.some(([, v], i) => i > 0 && v < counter[i - 1][1])).toBe(true); // the restart is in there

    // Remote write lags the scrapes: wait for as many gauge values as Prometheus holds.
    await eventually(async () => (sink.total('rwtest_queue_depth', tags).count >= gauge.length ? true : undefined), `${gauge.length} gauge values remote-written`, WAIT_MS);

    const arrivedGauge = sink.samples.filter((s) => s.name === 'rwtest_queue_depth' && s.tags === tags);
    expect(arrivedGauge.slice(0, gauge.length).map((s) => [s.hourSec, s.value])).toEqual(gauge.map(([t, v]) => [hourStartSec(Math.floor(t / 1000)), v]));
    expect(arrivedGauge.every((s) => s.type === 'g')).toBe(true);

    const arrivedCounter = sink.samples.filter((s) => s.name === 'rwtest_jobs_total' && s.tags === tags);
    expect(arrivedCounter.every((s) => s.type === 'c')).toBe(true);
    expect(arrivedCounter.map((s) => [s.hourSec, s.value])).toEqual(increases(counter));
    expect(total(increases(counter))).toBe(7 + 4 + 1); // 5 was the baseline

    const histogram = sink.histogramTotal('rwtest_latency_seconds', tags);
    expect(histogram.count).toBe(total(increases(count)));
    expect(histogram.sum).toBeCloseTo(total(increases(sum)), 9);
    expect(histogram.buckets.get(Infinity)).toBe(total(increases(inf)));
    expect(histogram.buckets.get(0.5)).toBe(total(increases(half)));
    expect(histogram.count).toBe(4 + 2 + 1);
    expect(sink.samples.some((s) => s.name.startsWith('rwtest_latency_seconds'))).toBe(false);

    const skipped = await gatewayRegistry.getSingleMetric('hourglass_remote_write_requests_total')?.get();
    expect(skipped?.values.find((v) => v.labels.status === '204')?.value).toBeGreaterThan(0);
    expect(skipped?.values.find((v) => v.labels.status === '400')?.value).toBe(0);
  }, 120_000);
});
