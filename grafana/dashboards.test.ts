/**
 * The provisioned Grafana files, checked without Grafana (it cannot be installed here): every
 * file parses, every panel names a provisioned data source, and every query is run for real:
 * the InfluxQL against influxd filled by the real pipeline (gateway -> NATS JetStream -> two
 * rollup workers -> InfluxDB through the 1.x API -> query), the PromQL against Prometheus
 * scraping those processes. A query must answer without error and with data; the response-time
 * panels must show exactly the statistics of what was sent. The test causes the rare events the
 * health dashboard shows (rejected lines, a spool, a dead letter, failed and refused store
 * writes, 404/400/503 answers) so that those panels are checked with data too.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactQuantile } from '../core/index.js';
import { encodeTagValue } from '../store/influx-line-protocol.js';
import { eventually, getJson, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startInfluxd, startNatsServer, startPrometheus, type Influxd, type NatsServer, type Prometheus } from '../test-support/servers.js';
import {
  allPanels,
  GRAFANA_DIR,
  interpolate,
  listFiles,
  loadDashboards,
  loadYaml,
  PROVISIONING_DIR,
  provisionedDataSources,
  variableQuery,
  type BuiltIns,
  type Dashboard,
  type Panel,
  type Target,
  type VariableValue,
} from './dashboard-model.js';

const dashboards = loadDashboards();
const dataSources = provisionedDataSources();
const INFLUX_UID = 'hourglass-influxdb';
const PROM_UID = 'hourglass-prometheus';

/** Panel types these dashboards may use (all in Grafana 10 and 11 core). */
const PANEL_TYPES = new Set(['row', 'text', 'timeseries', 'stat', 'table']);

const queryPanels = (d: Dashboard) => allPanels(d).filter((p) => p.type !== 'row' && p.type !== 'text');
const targetsOf = (uid: string) =>
  dashboards.flatMap((d) => queryPanels(d).flatMap((p) => (p.targets ?? []).filter((t) => (t.datasource ?? p.datasource)?.uid === uid).map((t) => ({ d, p, t }))));

// ---------------------------------------------------------------------------------- the files

function pyYaml(file: string): unknown | undefined {
  const r = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return JSON.parse(r.stdout) as unknown;
}

describe('Grafana files', () => {
  const yamlFiles = ['datasources', 'dashboards'].flatMap((dir) => listFiles(path.join(PROVISIONING_DIR, dir), /\.ya?ml$/));

  it('there are provisioning files for data sources and dashboards, and two dashboards', () => {
    expect(yamlFiles.map((f) => path.relative(GRAFANA_DIR, f))).toEqual(expect.arrayContaining(['provisioning/datasources/hourglass.yaml', 'provisioning/dashboards/hourglass.yaml']));
    expect(dashboards.map((d) => d.title).sort()).toEqual(['Hourglass: pipeline health', 'Hourglass: response times']);
  });

  it.each(yamlFiles.map((f) => [path.relative(GRAFANA_DIR, f), f]))('%s is plain YAML and reads the same with PyYAML', (_, file) => {
    const ours = loadYaml(file);
    const theirs = pyYaml(file);
    if (theirs === undefined) throw new Error('python3 with PyYAML is needed to cross-check the YAML files: apt-get install python3-yaml (docker-compose depends on it)');
    expect(ours).toEqual(theirs);
  });

  it('data sources: InfluxDB over InfluxQL on database hourglass, Prometheus with its scrape interval, unique uids', () => {
    expect(new Set(dataSources.map((s) => s.uid)).size).toBe(dataSources.length);
    const influx = dataSources.find((s) => s.uid === INFLUX_UID);
    const prom = dataSources.find((s) => s.uid === PROM_UID);
    expect(influx).toMatchObject({ type: 'influxdb', url: 'http://influxdb:8086', jsonData: { version: 'InfluxQL', dbName: 'hourglass', httpHeaderName1: 'Authorization' } });
    expect(prom).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', jsonData: { timeInterval: '5s' } });
  });

  it('the dashboard provider is a file provider over an absolute folder', () => {
    const doc = loadYaml(path.join(PROVISIONING_DIR, 'dashboards', 'hourglass.yaml')) as { apiVersion: number; providers: { type: string; options: { path: string } }[] };
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers).toHaveLength(1);
    expect(doc.providers[0].type).toBe('file');
    expect(doc.providers[0].options.path).toMatch(/^\//);
  });

  it.each(dashboards.map((d) => [path.basename(d.file), d]))('%s has the Grafana 10/11 dashboard shape', (_, d) => {
    const dash = d as Dashboard;
    expect(dash.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    // 37: Grafana 10.0 ... 39: Grafana 10.4 and 11
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(37);
    expect(dash.schemaVersion).toBeLessThanOrEqual(39);
    const panels = allPanels(dash);
    expect(new Set(panels.map((p) => p.id)).size, 'panel ids unique').toBe(panels.length);
    for (const p of panels) {
      expect(PANEL_TYPES.has(p.type), `${p.title}: panel type ${p.type}`).toBe(true);
      expect(p.title.length, 'every panel has a title').toBeGreaterThan(0);
      const { x, y, w, h } = p.gridPos;
      expect(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`).toBe(true);
    }
    // no two panels cover the same grid cell
    const cells = new Map<string, string>();
    for (const p of panels) {
      for (let cy = p.gridPos.y; cy < p.gridPos.y + p.gridPos.h; cy++) {
        for (let cx = p.gridPos.x; cx < p.gridPos.x + p.gridPos.w; cx++) {
          const other = cells.get(`${cx},${cy}`);
          expect(other, `${p.title} overlaps ${other}`).toBeUndefined();
          cells.set(`${cx},${cy}`, p.title);
        }
      }
    }
    for (const p of queryPanels(dash)) {
      const targets = p.targets ?? [];
      expect(targets.length, `${p.title}: targets`).toBeGreaterThan(0);
      expect(new Set(targets.map((t) => t.refId)).size, `${p.title}: refIds unique`).toBe(targets.length);
      expect(p.description?.length ?? 0, `${p.title}: a description says what is shown`).toBeGreaterThan(20);
    }
  });

  it('every panel, target and query variable uses a provisioned data source of its type', () => {
    const known = new Map(dataSources.map((s) => [s.uid, s.type]));
    const refs: [string, { type: string; uid: string } | undefined][] = [];
    for (const d of dashboards) {
      for (const p of queryPanels(d)) {
        refs.push([`${d.title} / ${p.title}`, p.datasource]);
        for (const t of p.targets ?? []) refs.push([`${d.title} / ${p.title} / ${t.refId}`, t.datasource ?? p.datasource]);
      }
      for (const v of d.templating.list.filter((v) => v.type === 'query')) refs.push([`${d.title} / $${v.name}`, v.datasource]);
    }
    expect(refs.length).toBeGreaterThan(20);
    for (const [where, ref] of refs) {
      expect(ref, `${where}: data source`).toBeDefined();
      expect(known.get(ref?.uid ?? ''), `${where}: uid ${ref?.uid} provisioned`).toBe(ref?.type);
    }
    // an InfluxQL target is raw text (the tests run exactly that), a Prometheus target an expr
    for (const { p, t } of targetsOf(INFLUX_UID)) expect(t.rawQuery === true && typeof t.query === 'string', `${p.title} ${t.refId}`).toBe(true);
    for (const { p, t } of targetsOf(PROM_UID)) expect(typeof t.expr === 'string' && t.expr.length > 0, `${p.title} ${t.refId}`).toBe(true);
  });

  it('no InfluxQL function makes a median or percentile: they are read from rollup_stats, hour by hour', () => {
    // percentile()/median() over per-writer rows would be a fake median: they need the raw values or
    // sketches, which the rollup merges and writes to rollup_stats
    for (const { p, t } of targetsOf(INFLUX_UID)) expect(t.query, p.title).not.toMatch(/\b(median|percentile|mean)\s*\(/i);
    const rt = dashboards.find((d) => d.uid === 'hourglass-response-times') as Dashboard;
    const quantilePanels = allPanels(rt).filter((p) => (p.targets ?? []).some((t) => /"(median|p9\d)"/.test(t.query ?? '')));
    expect(quantilePanels.map((p) => p.title).sort()).toEqual(['Median and p99 per hour by tag set: $name', 'Median and p99 per hour: $name']);
    for (const p of quantilePanels) {
      for (const t of p.targets ?? []) {
        expect(t.query).toMatch(/FROM "rollup_stats"/);
        // one point per hour: never a GROUP BY time, which would aggregate medians
        expect(t.query).not.toMatch(/GROUP BY time/);
      }
    }
    expect(allPanels(rt).some((p) => p.type === 'text' && /rollup_stats/.test(p.options?.content ?? ''))).toBe(true);
  });
});

// -------------------------------------------------------------------- against the real pipeline

const STREAM = 'HGGRAFANA';
/** influxd refuses points past this many values of one tag: the refused-point event. */
const MAX_VALUES_PER_TAG = 16;
const HOUR_SEC = 3600;
const currentHourSec = Math.floor(Date.now() / 1000 / HOUR_SEC) * HOUR_SEC;
/** Two closed hours, both inside the response-times dashboard's default range (now-24h/h .. now). */
const HOURS = [currentHourSec - 2 * HOUR_SEC, currentHourSec - HOUR_SEC];
const RANGE_FROM_MS = (currentHourSec - 24 * HOUR_SEC) * 1000;

interface Sample {
  readonly key: string;
  readonly hourSec: number;
  readonly tagset: string;
  readonly value: number;
  readonly weight: number;
}

/** Known timers: a plain key, a hostile one (space, slash, percent), tag sets, a sample rate. */
const KEYS = ['grafana.checkout.latency', 'grafana.search.latency', 'grafana.odd name/100%'];
const TAGSETS: [string, string][] = [
  ['', '%none'],
  ['|#env:prod', 'env:prod'],
  ['|#env:dev', 'env:dev'],
];
const samples: Sample[] = [];

let nats: NatsServer;
let influx: Influxd;
let prometheus: Prometheus;
let root: string;
let gateway: HourglassProcess;
let workers: HourglassProcess[];
let query: HourglassProcess;
const processes: HourglassProcess[] = [];
let startedMs: number;
let loadgenExit: number | null = null;
let loadgenRejected = NaN;
let loadgenReceived = NaN;

async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The sum of every sample of `name` (all label sets) in a role's /metrics. */
async function metricSum(port: number, name: string): Promise<number> {
  const text = await metricsText(port);
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

async function sumOver(roles: readonly HourglassProcess[], name: string): Promise<number> {
  let sum = 0;
  for (const r of roles) sum += await metricSum(r.httpPort, name);
  return sum;
}

let outageSequence = 0;
/** A few lines of a key no assertion depends on, to keep the pipeline busy during faults. */
async function sendOutageTraffic(): Promise<void> {
  const lines = Array.from({ length: 5 }, () => `grafana.outage:${outageSequence++ % 100}|ms`);
  await sendUdp(gateway.statsdPort, lines.join('\n'));
}

const dateOf = (hourSec: number) => new Date(hourSec * 1000).toISOString().slice(0, 10);
const hourOf = (hourSec: number) => new Date(hourSec * 1000).getUTCHours();
const apiUrl = (key: string, stat: string, hourSec: number) => `http://127.0.0.1:${query.httpPort}/${encodeURIComponent(key)}/${stat}/${dateOf(hourSec)}/${hourOf(hourSec)}`;

/** Samples of a key sent without `|T`, stored in this hour or the last (the test may cross an hour). */
async function storedCount(key: string): Promise<number> {
  const nowHourSec = Math.floor(Date.now() / 1000 / HOUR_SEC) * HOUR_SEC;
  let count = 0;
  for (const hourSec of [nowHourSec - HOUR_SEC, nowHourSec]) {
    const r = await getJson(apiUrl(key, 'count', hourSec));
    if (r.status === 200) count += r.body.count as number;
    else if (r.status !== 404) throw new Error(`${key}: HTTP ${r.status}`);
  }
  return count;
}

/**
 * Grafana's built-ins for this test's Prometheus panels: 1 s steps over the whole run, and a data
 * source timeInterval of 2 s (Prometheus scrapes every second), so $__rate_interval is 8 s: a
 * scrape delayed by a loaded machine does not leave a rate without its two samples.
 */
function promBuiltIns(toMs: number): BuiltIns {
  return { fromMs: startedMs, toMs, intervalSec: 1, scrapeIntervalSec: 2 };
}

/**
 * True once a rate over the dashboards' window has seen `selector` increase. Checked with a
 * window 1 s shorter than the panels', on 1 s steps, so the panels' own 1 s steps cannot miss it.
 * A labelled series is born at its first increment, which no rate sees: its event must happen
 * again after a scrape, which the callers do by repeating it until this holds.
 */
async function rateSeen(selector: string): Promise<boolean> {
  const windowSec = Number(interpolate('$__rate_interval', 'promql', {}, promBuiltIns(Date.now())).slice(0, -1)) - 1;
  return (await promScalar(`max_over_time(sum(rate(${selector}[${windowSec}s]))[10m:1s])`)) > 0;
}

/** True once every sample of the last 3 s (at least two) of `selector` satisfies `condition`. */
async function heldFor3s(selector: string, condition: string): Promise<boolean> {
  return (await promScalar(`count_over_time(${selector}[3s])`)) >= 2 && (await promScalar(`count_over_time((${selector} ${condition})[3s:])`)) === (await promScalar(`count_over_time(${selector}[3s:])`));
}

async function promInstant(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

async function promScalar(expr: string): Promise<number> {
  const r = await promInstant(expr);
  return r.length === 1 ? Number(r[0].value[1]) : NaN;
}

function runChild(file: string, env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  startedMs = Date.now();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-grafana-'));
  [nats, influx] = await Promise.all([startNatsServer(), startInfluxd({ maxValuesPerTag: MAX_VALUES_PER_TAG })]);
  // One partition per worker keeps the setup small; several partitions per worker (the compose
  // layout) are covered by runtime/distributed.test.ts.
  const env = { NATS_URL: nats.url, NATS_STREAM: STREAM, NATS_PARTITIONS: '2', FLUSH_INTERVAL_MS: '200', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'hourglass', LOG_LEVEL: 'warn' };
  const role = async (name: string, extra: Record<string, string>) => {
    const p = await startHourglass(name, { ...env, LOG_LEVEL: 'info', ...extra });
    processes.push(p);
    return p;
  };
  gateway = await role('gateway', { DATA_DIR: path.join(root, 'gateway'), GATEWAY_ID: 'gateway-1' });
  workers = [await role('rollup', { DATA_DIR: path.join(root, 'rollup-1'), ROLLUP_PARTITIONS: '0' }), await role('rollup', { DATA_DIR: path.join(root, 'rollup-2'), ROLLUP_PARTITIONS: '1' })];
  query = await role('query', { DATA_DIR: path.join(root, 'query') });
  prometheus = await startPrometheus([gateway, ...workers, query].map((p) => `127.0.0.1:${p.httpPort}`), 1000);
  // A first scrape of every role before any traffic, so that rates see every increase.
  await eventually(async () => ((await promInstant('up == 1')).length === 4 ? true : undefined), 'a first scrape of every role', 20_000);

  // 1. Known timers in two closed hours, with tags and a sample rate.
  let n = 0;
  for (const key of KEYS) {
    for (const hourSec of HOURS) {
      const lines: string[] = [];
      for (let i = 0; i < 60; i++, n++) {
        const [suffix, tagset] = TAGSETS[n % TAGSETS.length];
        const value = ((n * 7919) % 997) / 4 + (key.length % 7);
        const sampled = n % 5 === 0;
        samples.push({ key, hourSec, tagset, value, weight: sampled ? 2 : 1 });
        lines.push(`${key}:${value}|ms${sampled ? '|@0.5' : ''}${suffix}|T${hourSec + (i * 59) % HOUR_SEC}`);
        if (lines.length === 10) await sendUdp(gateway.statsdPort, lines.splice(0).join('\n'));
      }
    }
  }
  // 2. Rejected lines (bad value, negative timer, no name).
  let badLines = 0;
  await eventually(async () => {
    await sendUdp(gateway.statsdPort, 'grafana.bad:abc|ms\ngrafana.bad:-1|ms\n:1|c');
    badLines += 3;
    await eventually(async () => ((await metricSum(gateway.httpPort, 'hourglass_lines_rejected_total')) === badLines ? true : undefined), 'the bad lines to be rejected');
    return (await rateSeen('hourglass_lines_rejected_total{reason="negative_timer"}')) && (await rateSeen('hourglass_lines_rejected_total{reason="bad_value"}')) ? true : undefined;
  }, 'Prometheus to see lines rejected', 30_000);
  // 3. The compose load generator: every line it sends must be accepted.
  const receivedBefore = await metricSum(gateway.httpPort, 'hourglass_lines_received_total');
  loadgenExit = await runChild(path.join(GRAFANA_DIR, '..', 'compose', 'loadgen.mjs'), { STATSD_TARGETS: `127.0.0.1:${gateway.statsdPort}`, LOADGEN_LINES_PER_SEC: '5000', LOADGEN_MAX_LINES: '600' });
  loadgenReceived = await eventually(async () => {
    const received = (await metricSum(gateway.httpPort, 'hourglass_lines_received_total')) - receivedBefore;
    return received >= 600 ? received : undefined;
  }, 'the gateway to receive the load generator lines');
  loadgenRejected = (await metricSum(gateway.httpPort, 'hourglass_lines_rejected_total')) - badLines;
  // Everything known is in the store before the faults begin.
  for (const key of KEYS) {
    for (const hourSec of HOURS) {
      const count = samples.filter((s) => s.key === key && s.hourSec === hourSec).reduce((a, s) => a + s.weight, 0);
      await eventually(async () => ((await getJson(apiUrl(key, 'count', hourSec))).body.count === count ? true : undefined), `${key} to count ${count}`, 30_000);
    }
  }

  // 4. A poison batch: dead-lettered by the owner of partition 0.
  const nc = await connect({ servers: nats.url });
  await jetstream(nc).publish(`${STREAM}.batches.0`, new TextEncoder().encode('not a batch'));
  await nc.close();
  await eventually(async () => ((await sumOver(workers, 'hourglass_batches_dead_lettered_total')) === 1 ? true : undefined), 'the poison batch to be dead-lettered');

  // 5. NATS down: the gateway spools (and Prometheus sees it), then replays.
  const gw = `instance="127.0.0.1:${gateway.httpPort}"`;
  await nats.process.stop('SIGTERM');
  await eventually(async () => {
    await sendOutageTraffic();
    return (await heldFor3s(`hourglass_spool_batches{${gw}}`, '> 0')) && (await heldFor3s(`hourglass_nats_connected{${gw}}`, '== 0')) && (await rateSeen('hourglass_batches_spooled_total')) ? true : undefined;
  }, 'Prometheus to see the spool grow while NATS is down', 30_000);
  await nats.restart();
  await eventually(async () => ((await metricSum(gateway.httpPort, 'hourglass_batches_replayed_total')) > 0 && (await metricSum(gateway.httpPort, 'hourglass_spool_batches')) === 0 ? true : undefined), 'the spool to be replayed', 30_000);
  await eventually(async () => ((await rateSeen('hourglass_batches_replayed_total')) && (await heldFor3s(`hourglass_nats_connected{${gw}}`, '== 1')) ? true : undefined), 'Prometheus to see the replay', 30_000);
  // Every outage line stored: the worker now holds grafana.outage in memory, so while influxd is
  // down it applies more of them and fails at the write, which is counted.
  await eventually(async () => ((await storedCount('grafana.outage')) === outageSequence ? true : undefined), 'the outage lines to be stored', 30_000);

  // 6. influxd down: failed writes (retried) and a 503 from the query API.
  await influx.process.stop('SIGKILL');
  await eventually(async () => {
    await sendOutageTraffic();
    expect((await fetch(apiUrl(KEYS[0], 'count', HOURS[0]))).status).toBe(503);
    return (await rateSeen('hourglass_store_write_errors_total')) && (await rateSeen('hourglass_query_duration_seconds_count{status="503"}')) ? true : undefined;
  }, 'Prometheus to see failed store writes and 503 answers while influxd is down', 30_000);
  await influx.restart();

  // 7. Points influxd refuses for good: new names until the tag "name" is past its limit.
  let overflow = 0;
  for (; (await sumOver(workers, 'hourglass_store_points_rejected_total')) === 0; overflow++) {
    if (overflow === 60) throw new Error('influxd never refused a point');
    const key = `grafana.overflow.${overflow}`;
    await sendUdp(gateway.statsdPort, `${key}:1|ms`);
    await eventually(
      async () => ((await storedCount(key)) === 1 || (await sumOver(workers, 'hourglass_store_points_rejected_total')) > 0 ? true : undefined),
      `${key} to be written or refused`,
      20_000,
    );
  }
  // keep sending refused names while Prometheus scrapes, until its rate shows them
  await eventually(async () => {
    await sendUdp(gateway.statsdPort, `grafana.overflow.${overflow++}:1|ms`);
    return (await rateSeen('hourglass_store_points_rejected_total')) ? true : undefined;
  }, 'Prometheus to see influxd refuse points', 30_000);

  // 8. Query API traffic: every stat, a 404 and a 400, repeated until rates have seen them.
  const queries = async () => {
    for (const stat of ['average', 'min', 'max', 'median', 'count', 'sum', 'p90', 'p95', 'p99']) expect((await fetch(apiUrl(KEYS[0], stat, HOURS[1]))).status).toBe(200);
    expect((await fetch(apiUrl('grafana.never.sent', 'median', HOURS[1]))).status).toBe(404);
    expect((await fetch(apiUrl(KEYS[0], 'mode', HOURS[1]))).status).toBe(400);
  };
  await eventually(async () => {
    await queries();
    return (await rateSeen('hourglass_query_duration_seconds_count{status="400"}')) && (await rateSeen('hourglass_query_duration_seconds_count{status="404"}')) && (await rateSeen('hourglass_query_duration_seconds_count{stat="median",status="200"}')) ? true : undefined;
  }, 'Prometheus to see the queries in a rate', 30_000);

  // Prometheus has scraped every process at least twice, and after the last event.
  const roles = [gateway, ...workers, query];
  await eventually(async () => {
    for (const r of roles) {
      if (!((await promScalar(`count_over_time(up{instance="127.0.0.1:${r.httpPort}"}[1h])`)) >= 2)) return undefined;
      if ((await promScalar(`up{instance="127.0.0.1:${r.httpPort}"}`)) !== 1) return undefined;
    }
    for (const name of ['hourglass_query_duration_seconds_count', 'hourglass_store_points_rejected_total', 'hourglass_batches_replayed_total', 'hourglass_lines_rejected_total']) {
      if ((await promScalar(`sum(${name})`)) !== (await sumOver(roles, name))) return undefined;
    }
    return true;
  }, 'Prometheus to scrape every role after the last event', 30_000);
}, 240_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await Promise.all([nats?.dispose(), influx?.dispose(), prometheus?.dispose()]);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

// ------------------------------------------------------------------------ InfluxQL, response times

interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

async function influxql(q: string): Promise<InfluxSeries[]> {
  const res = await fetch(`${influx.url}/query?${new URLSearchParams({ db: 'hourglass', epoch: 'ms', q })}`);
  const body = (await res.json()) as { error?: string; results?: { error?: string; series?: InfluxSeries[] }[] };
  const error = body.error ?? body.results?.[0]?.error;
  if (!res.ok || error !== undefined) throw new Error(`InfluxDB refused ${JSON.stringify(q)}: ${res.status} ${error}`);
  return body.results?.[0]?.series ?? [];
}

const responseTimes = dashboards.find((d) => d.uid === 'hourglass-response-times') as Dashboard;
const storedName = (key: string) => encodeTagValue(key);

function influxBuiltIns(): BuiltIns {
  return { fromMs: RANGE_FROM_MS, toMs: Date.now(), intervalSec: 60, scrapeIntervalSec: 5 };
}

/** Every stored tag set chosen in the multi-valued Tag set variable, unless `tagsets` says which. */
function influxVars(key: string, resolution = '1h', tagsets: readonly string[] = TAGSETS.map(([, stored]) => stored)): Record<string, VariableValue> {
  return { name: { value: storedName(key) }, resolution: { value: resolution }, tagset: { value: tagsets, multi: true } };
}

function panel(d: Dashboard, title: string): Panel {
  const p = allPanels(d).find((x) => x.title === title);
  if (p === undefined) throw new Error(`${d.title}: no panel ${title}`);
  return p;
}

async function runPanel(title: string, key: string, resolution = '1h', tagsets?: readonly string[]): Promise<InfluxSeries[]> {
  const t = (panel(responseTimes, title).targets as Target[])[0];
  return influxql(interpolate(t.query as string, 'influxql', influxVars(key, resolution, tagsets), influxBuiltIns()));
}

/** Expected statistics of the samples `select` picks, grouped by `bucketOf`. */
function expected(select: (s: Sample) => boolean, bucketOf: (s: Sample) => string | number) {
  const out = new Map<string | number, { count: number; sum: number; min: number; max: number; n: number }>();
  for (const s of samples.filter(select)) {
    const b = bucketOf(s);
    const e = out.get(b) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity, n: 0 };
    e.count += s.weight;
    e.sum += s.value * s.weight;
    e.min = Math.min(e.min, s.value);
    e.max = Math.max(e.max, s.value);
    e.n += 1;
    out.set(b, e);
  }
  return out;
}

const column = (s: InfluxSeries, row: unknown[], name: string) => row[s.columns.indexOf(name)] as number;

describe('response-times dashboard (InfluxQL) on influxd filled by the pipeline', () => {
  it('every template variable query runs; $name lists every key sent, in stored form', async () => {
    const list = responseTimes.templating.list;
    expect(list.map((v) => v.name).sort()).toEqual(['name', 'resolution', 'tagset']);
    for (const v of list.filter((x) => x.type === 'query')) {
      const series = await influxql(interpolate(variableQuery(v), 'influxql', influxVars(KEYS[2]), influxBuiltIns()));
      const values = series.flatMap((s) => s.values.map((row) => String(row[1])));
      expect(values.length, `$${v.name}`).toBeGreaterThan(0);
      if (v.name === 'name') {
        for (const key of KEYS) expect(values).toContain(storedName(key));
        expect(values).toContain('grafana.odd name/100%25');
        expect(values).toContain('demo.api.checkout.latency'); // the load generator's
        expect(values).not.toContain('demo.api.requests'); // a counter: not a value metric
      }
      // the tag sets of the chosen name (here the hostile one), stored form
      if (v.name === 'tagset') expect(values.sort()).toEqual(TAGSETS.map(([, stored]) => stored).sort());
    }
  });

  it('every panel query runs, for every key and bucket, and returns data', async () => {
    const targets = allPanels(responseTimes).flatMap((p) => (p.targets ?? []).map((t) => ({ p, t })));
    expect(targets.length).toBeGreaterThanOrEqual(7);
    for (const { p, t } of targets) {
      for (const key of KEYS) {
        for (const resolution of ['1h', '6h', '1d']) {
          const q = interpolate(t.query as string, 'influxql', influxVars(key, resolution), influxBuiltIns());
          const series = await influxql(q);
          const numbers = series.flatMap((s) => s.values.flatMap((row) => row.slice(1).filter((v) => typeof v === 'number')));
          expect(numbers.length, `${p.title} (${key}, ${resolution}) returned no data:\n${q}`).toBeGreaterThan(0);
        }
      }
    }
  });

  it('average, min, max, count and received per bucket are exact, over every writer and tag set', async () => {
    for (const key of KEYS) {
      for (const [resolution, bucketSec] of [['1h', 3600], ['6h', 6 * 3600], ['1d', 86400]] as const) {
        const want = expected((s) => s.key === key, (s) => Math.floor(s.hourSec / bucketSec) * bucketSec * 1000);
        const buckets = [...want.keys()].sort((a, b) => Number(a) - Number(b));
        const [avg] = await runPanel('Average per $resolution: $name', key, resolution);
        const [spread] = await runPanel('Min, average, max per $resolution: $name', key, resolution);
        const [counts] = await runPanel('Samples per $resolution: $name', key, resolution);
        for (const s of [avg, spread, counts]) expect(s.values.map((row) => row[0]), `${key} ${resolution}: buckets`).toEqual(buckets);
        buckets.forEach((bucket, i) => {
          const e = want.get(bucket) as { count: number; sum: number; min: number; max: number; n: number };
          const where = `${key} ${resolution} ${new Date(bucket as number).toISOString()}`;
          expect(column(avg, avg.values[i], 'average'), where).toBeCloseTo(e.sum / e.count, 9);
          expect(column(spread, spread.values[i], 'average'), where).toBeCloseTo(e.sum / e.count, 9);
          expect(column(spread, spread.values[i], 'min'), where).toBe(e.min);
          expect(column(spread, spread.values[i], 'max'), where).toBe(e.max);
          expect(column(counts, counts.values[i], 'count'), where).toBe(e.count);
          expect(column(counts, counts.values[i], 'received'), where).toBe(e.n);
        });
      }
    }
  });

  it('the per-tag-set average is exact for each stored tag set (%none: no tags)', async () => {
    for (const key of KEYS) {
      const series = await runPanel('Average per $resolution by tag set: $name', key);
      expect(series.map((s) => s.tags?.tagset).sort()).toEqual(TAGSETS.map(([, stored]) => stored).sort());
      for (const s of series) {
        const want = expected((x) => x.key === key && x.tagset === s.tags?.tagset, (x) => x.hourSec * 1000);
        expect(s.values.map((row) => row[0])).toEqual([...want.keys()].sort((a, b) => Number(a) - Number(b)));
        for (const row of s.values) {
          const e = want.get(row[0] as number) as { sum: number; count: number };
          expect(column(s, row, 'average'), `${key} ${s.tags?.tagset}`).toBeCloseTo(e.sum / e.count, 9);
        }
      }
    }
  });

  it('the table of every value metric is exact over the time range', async () => {
    const series = await runPanel('Every value metric over the time range', KEYS[0]);
    for (const key of KEYS) {
      const s = series.find((x) => x.tags?.name === storedName(key));
      expect(s, key).toBeDefined();
      const e = expected((x) => x.key === key, () => 'all').get('all') as { count: number; sum: number; min: number; max: number };
      const row = (s as InfluxSeries).values[0];
      expect(column(s as InfluxSeries, row, 'count')).toBe(e.count);
      expect(column(s as InfluxSeries, row, 'average')).toBeCloseTo(e.sum / e.count, 9);
      expect(column(s as InfluxSeries, row, 'min')).toBe(e.min);
      expect(column(s as InfluxSeries, row, 'max')).toBe(e.max);
    }
  });

  it('median and p99 per hour are the query API answers for each key and hour, and the exact quantiles of what was sent', async () => {
    const exactOf = (picked: Sample[], q: number) => exactQuantile(picked.map((s) => s.value), picked.map((s) => s.weight), q);
    for (const key of KEYS) {
      // the Bucket variable does not change them: one point per hour
      for (const resolution of ['1h', '1d']) {
        const series = await runPanel('Median and p99 per hour: $name', key, resolution);
        expect(series).toHaveLength(1);
        const [s] = series;
        expect(s.values.map((row) => row[0]), `${key}: one point per hour sent`).toEqual(HOURS.map((h) => h * 1000));
        for (const row of s.values) {
          const hourSec = (row[0] as number) / 1000;
          const where = `${key} ${new Date(hourSec * 1000).toISOString()}`;
          const picked = samples.filter((x) => x.key === key && x.hourSec === hourSec);
          for (const [stat, q] of [['median', 0.5], ['p99', 0.99]] as const) {
            const api = await getJson(apiUrl(key, stat, hourSec));
            expect(api.status, where).toBe(200);
            expect(api.body.exact, where).toBe(true);
            expect(column(s, row, stat), `${where} ${stat} = query API`).toBe(api.body.value);
            expect(column(s, row, stat), `${where} ${stat} = exact quantile of the samples`).toBe(exactOf(picked, q));
          }
        }
      }
    }
  });

  it('median and p99 by tag set are the query API answers with ?tag= and ?type=, and %none the exact quantiles of the lines without tags', async () => {
    for (const key of KEYS) {
      const series = await runPanel('Median and p99 per hour by tag set: $name', key);
      expect(series.map((s) => `${s.tags?.tagset} ${s.tags?.type}`).sort()).toEqual(TAGSETS.map(([, stored]) => `${stored} ms`).sort());
      for (const s of series) {
        const tagset = s.tags?.tagset as string;
        expect(s.values.map((row) => row[0])).toEqual(HOURS.map((h) => h * 1000));
        for (const row of s.values) {
          const hourSec = (row[0] as number) / 1000;
          const picked = samples.filter((x) => x.key === key && x.hourSec === hourSec && x.tagset === tagset);
          for (const [stat, q] of [['median', 0.5], ['p99', 0.99]] as const) {
            const where = `${key} ${tagset} ${new Date(hourSec * 1000).toISOString()} ${stat}`;
            expect(column(s, row, stat), where).toBe(exactQuantile(picked.map((x) => x.value), picked.map((x) => x.weight), q));
            if (tagset === '%none') continue; // no ?tag= selects the lines without tags alone
            const api = await getJson(`${apiUrl(key, stat, hourSec)}?tag=${encodeURIComponent(tagset)}&type=ms`);
            expect(api.status, where).toBe(200);
            expect(column(s, row, stat), `${where} = query API`).toBe(api.body.value);
          }
        }
      }
      // one tag set chosen: only its series
      const one = await runPanel('Median and p99 per hour by tag set: $name', key, '1h', ['env:prod']);
      expect(one.map((s) => s.tags?.tagset)).toEqual(['env:prod']);
    }
  });

  it('the last write and the writers watermarks are those of this run', async () => {
    const [last] = await runPanel('Last rollup write', KEYS[0]);
    expect(last.values[0][1] as number).toBeGreaterThanOrEqual(startedMs);
    expect(last.values[0][1] as number).toBeLessThanOrEqual(Date.now());
    const writers = await runPanel('Rollup writers: watermark', KEYS[0]);
    expect(writers.length).toBeGreaterThan(0);
    for (const s of writers) {
      expect(s.tags?.writer).toMatch(/^p[0-7]$/);
      expect(s.values[0][1] as number).toBeGreaterThan(0);
    }
  });
});

// --------------------------------------------------------------------- PromQL, pipeline health

const health = dashboards.find((d) => d.uid === 'hourglass-pipeline-health') as Dashboard;
const promTargets = targetsOf(PROM_UID);

interface PromSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

async function promRange(expr: string, fromMs: number, toMs: number, stepSec: number): Promise<PromSeries[]> {
  const params = new URLSearchParams({ query: expr, start: String(fromMs / 1000), end: String(toMs / 1000), step: String(stepSec) });
  const res = await fetch(`${prometheus.url}/api/v1/query_range?${params}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSeries[] } };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${JSON.stringify(expr)}: ${body.error}`);
  return body.data?.result ?? [];
}

/** Each panel's expressions as Grafana sends them over this test's whole run, 1 s steps. */
async function runPromTarget(t: Target): Promise<{ expr: string; series: PromSeries[] }> {
  const toMs = Date.now();
  const builtIns = promBuiltIns(toMs);
  const expr = interpolate(t.expr as string, 'promql', {}, builtIns);
  return { expr, series: await promRange(expr, builtIns.fromMs, toMs, builtIns.intervalSec) };
}

const finiteValues = (series: PromSeries[]) => series.flatMap((s) => s.values.map(([, v]) => Number(v)).filter(Number.isFinite));

/** Panels the test made non-zero on purpose: [panel title, refId, legend label that must show > 0 (or undefined)]. */
const CAUSED: [string, string, string | undefined][] = [
  ['Lines received', 'A', undefined],
  ['Lines received by transport', 'A', 'udp'],
  ['Lines rejected by reason', 'A', 'negative_timer'],
  ['Lines rejected by reason', 'A', 'bad_value'],
  ['Batches published, spooled, replayed', 'A', undefined],
  ['Batches published, spooled, replayed', 'B', undefined],
  ['Batches published, spooled, replayed', 'C', undefined],
  ['Spool size per gateway (batches)', 'A', undefined],
  ['Spool size per gateway (bytes)', 'A', undefined],
  ['Dead-lettered batches (since process start)', 'A', 'undecodable'],
  ['Store errors', 'A', undefined],
  ['Store errors', 'B', undefined],
  ['Store rows written', 'A', undefined],
  ['Batches applied and redelivered', 'A', undefined],
  ['Queries by status', 'A', '200'],
  ['Queries by status', 'A', '404'],
  ['Queries by status', 'A', '400'],
  ['Queries by status', 'A', '503'],
  ['Query latency by stat', 'B', 'median'],
  ['Store write latency', 'B', undefined],
  ['Publish latency (to JetStream ack)', 'B', undefined],
];

describe('pipeline-health dashboard (PromQL) on Prometheus scraping the roles', () => {
  it('every metric name the dashboards use is exported by a running role', async () => {
    const exported = (await Promise.all([gateway, ...workers, query].map((r) => metricsText(r.httpPort)))).join('\n');
    const names = new Set(promTargets.flatMap(({ t }) => [...(t.expr as string).matchAll(/\b(?:hourglass|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])));
    expect(names.size).toBeGreaterThanOrEqual(20);
    for (const name of names) expect(exported, `${name} is not in any role's /metrics`).toMatch(new RegExp(`^${name}(\\{| )`, 'm'));
  });

  it('every expression runs and returns finite data', async () => {
    expect(promTargets.length).toBeGreaterThanOrEqual(25);
    for (const { p, t } of promTargets) {
      const { expr, series } = await runPromTarget(t);
      expect(series.length, `${p.title} ${t.refId}: no series for ${expr}`).toBeGreaterThan(0);
      expect(finiteValues(series).length, `${p.title} ${t.refId}: no finite value for ${expr}`).toBeGreaterThan(0);
    }
  });

  it.each(CAUSED)('%s (%s, %s) shows the event this test caused', async (title, refId, label) => {
    const t = (panel(health, title).targets as Target[]).find((x) => x.refId === refId) as Target;
    const { expr, series } = await runPromTarget(t);
    const picked = label === undefined ? series : series.filter((s) => Object.values(s.metric).includes(label));
    expect(picked.length, `${expr}: no series labelled ${label}`).toBeGreaterThan(0);
    expect(Math.max(...finiteValues(picked)), expr).toBeGreaterThan(0);
  });

  it('the gateway-only panels show the gateway alone, connected and disconnected over the NATS outage', async () => {
    const t = (panel(health, 'NATS connected per gateway').targets as Target[])[0];
    const { series } = await runPromTarget(t);
    expect(series.map((s) => s.metric.instance)).toEqual([`127.0.0.1:${gateway.httpPort}`]);
    expect(new Set(finiteValues(series))).toEqual(new Set([0, 1]));
    const lag = await runPromTarget((panel(health, 'Consumer lag by partition').targets as Target[])[0]);
    expect(lag.series.map((s) => s.metric.partition).sort()).toEqual(['0', '1']);
  });

  it('the compose load generator sent only valid lines', () => {
    expect(loadgenExit).toBe(0);
    expect(loadgenReceived).toBeGreaterThanOrEqual(600);
    expect(loadgenRejected).toBe(0);
  });
});
