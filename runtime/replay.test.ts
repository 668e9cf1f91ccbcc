/**
 * `hourglass replay` as an operator runs it, against the real roles and a real nats-server:
 * ingest through a gateway and a rollup worker, lose hours from the store (SQLite: delete them;
 * InfluxDB: a new, empty database on a real influxd), run `hourglass replay` as a child process,
 * and every statistic of every type is back exactly. Twice changes nothing; live ingestion goes
 * on meanwhile; a range the stream no longer holds is refused with exit 2 and the reason.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECONDS_PER_HOUR, exactQuantile, hourStartSec } from '../core/index.js';
import { SQLITE_FILE } from '../store/index.js';
import { BIN, eventually, getJson, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startInfluxd, startNatsServer, type Influxd, type NatsServer } from '../test-support/servers.js';

/** Two closed hours, old enough for replay (their end 10 minutes past at least). */
const H1 = hourStartSec(Date.now() / 1000) - 3 * SECONDS_PER_HOUR;
const H2 = H1 + SECONDS_PER_HOUR;
const HOURS = [H1, H2];
const STATS = ['count', 'sum', 'min', 'max', 'average', 'median', 'p90', 'p95', 'p99'] as const;
const iso = (sec: number) => new Date(sec * 1000).toISOString().replace('.000Z', 'Z');
const dateOf = (sec: number) => iso(sec).slice(0, 10);
const hourOf = (sec: number) => new Date(sec * 1000).getUTCHours();

let nats: NatsServer;
let root: string;
const processes = new Set<HourglassProcess>();

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-replay-'));
  nats = await startNatsServer();
}, 30_000);

afterAll(async () => {
  await Promise.all([...processes].map((p) => p.stop('SIGKILL')));
  await nats?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

async function role(name: string, env: Record<string, string>): Promise<HourglassProcess> {
  const p = await startHourglass(name, { NATS_URL: nats.url, NATS_PARTITIONS: '3', FLUSH_INTERVAL_MS: '200', LOG_LEVEL: 'info', ...env });
  processes.add(p);
  return p;
}

/** `hourglass replay` as a child process: its exit code and output. */
function replay(env: Record<string, string>, args: readonly string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [BIN, 'replay', ...args], { env: { PATH: process.env.PATH, NATS_URL: nats.url, NATS_PARTITIONS: '3', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr, stdout })));
}

/** What was sent, to check the statistics independently of the code under test. */
interface Sent {
  readonly timers: Map<string, number[]>;
  lines: string[];
}

/** Lines of every type over both hours, with sample rates, tags, gauge deltas and set members; a key past the exact limit. */
function workload(prefix: string): Sent {
  const timers = new Map<string, number[]>();
  const lines: string[] = [];
  let n = 0;
  for (const h of HOURS) {
    for (let i = 0; i < 600; i++) {
      n++;
      const t = h + (i * 6) % SECONDS_PER_HOUR;
      const key = `${prefix}.t${i % 4}`;
      const v = ((n * 7919) % 1000) / 8;
      (timers.get(`${key}@${h}`) ?? timers.set(`${key}@${h}`, []).get(`${key}@${h}`) as number[]).push(v);
      lines.push(`${key}:${v}|ms|#route:r${i % 2}|T${t}`);
      if (i % 3 === 0) lines.push(`${prefix}.c:${(i % 7) + 1}|c|@0.1|T${t}`);
      if (i % 5 === 0) lines.push(`${prefix}.g:${i % 2 === 0 ? '+' : '-'}${i % 9}|g|T${t}`);
      if (i === 0) lines.push(`${prefix}.g:50|g|T${t}`);
      if (i % 4 === 0) lines.push(`${prefix}.s:m${i % 37}|s|T${t}`);
      if (i % 10 === 0) lines.push(`${prefix}.h:${v}|h|@0.5|T${t}`);
    }
  }
  // past EXACT_SAMPLE_LIMIT: medians and percentiles from the sketch, which must come out the same
  for (let l = 0; l < 120; l++) {
    const values = Array.from({ length: 100 }, (_, j) => ((l * 100 + j) * 37) % 5000 / 10);
    lines.push(`${prefix}.big:${values.join(':')}|ms|T${H2 + l * 20}`);
  }
  return { timers, lines };
}

const KEYS = (prefix: string) => [...[0, 1, 2, 3].map((i) => `${prefix}.t${i}`), `${prefix}.c`, `${prefix}.g`, `${prefix}.s`, `${prefix}.h`, `${prefix}.big`];

async function post(gateway: HourglassProcess, lines: readonly string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 500) {
    const res = await fetch(`http://127.0.0.1:${gateway.httpPort}/ingest`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: lines.slice(i, i + 500).join('\n') });
    expect(res.status).toBe(204);
  }
}

/** Every statistic of every key and hour, as the query API answers it (status and body). */
async function snapshot(query: HourglassProcess, keys: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const h of HOURS) {
    for (const key of keys) {
      // a set answers its count (distinct members) only
      for (const stat of key.endsWith('.s') ? ['count'] : STATS) {
        const r = await getJson(`http://127.0.0.1:${query.httpPort}/${key}/${stat}/${dateOf(h)}/${hourOf(h)}`);
        out[`${key} ${stat} ${iso(h)}`] = { status: r.status, ...r.body };
      }
    }
  }
  return out;
}

/** Every statistic of every key answered with a value (the big key has no data in the first hour): a snapshot of 404s would compare equal too. */
function expectAnswered(snap: Record<string, unknown>): void {
  const unanswered = Object.entries(snap).filter(([id, v]) => (v as { status: number }).status !== 200 && !(id.includes('.big ') && id.endsWith(iso(H1))));
  expect(unanswered).toEqual([]);
}

/** Timers checked against what was sent: count, sum, min, max, median, p95 (exact below 10,000 values). */
async function expectTimersExact(query: HourglassProcess, sent: Sent): Promise<void> {
  for (const [id, values] of sent.timers) {
    const [key, h] = [id.split('@')[0], Number(id.split('@')[1])];
    const url = (stat: string) => `http://127.0.0.1:${query.httpPort}/${key}/${stat}/${dateOf(h)}/${hourOf(h)}`;
    const expected = { count: values.length, sum: values.reduce((a, b) => a + b, 0), min: Math.min(...values), max: Math.max(...values), median: exactQuantile(values, null, 0.5), p95: exactQuantile(values, null, 0.95) };
    for (const [stat, value] of Object.entries(expected)) expect((await getJson(url(stat))).body.value, `${id} ${stat}`).toBeCloseTo(value, 9);
  }
}

async function awaitCounts(query: HourglassProcess, prefix: string, sent: Sent): Promise<void> {
  await eventually(async () => {
    for (const [id, values] of sent.timers) {
      const [key, h] = [id.split('@')[0], Number(id.split('@')[1])];
      const r = await getJson(`http://127.0.0.1:${query.httpPort}/${key}/count/${dateOf(h)}/${hourOf(h)}`);
      if (r.status !== 200 || r.body.count !== values.length) return undefined;
    }
    const big = await getJson(`http://127.0.0.1:${query.httpPort}/${prefix}.big/count/${dateOf(H2)}/${hourOf(H2)}`);
    return big.body.count === 12_000 ? true : undefined;
  }, 'every line to be counted', 60_000);
}

/** The current hour's live key: what the gateway received outside the replayed range. */
async function liveCount(query: HourglassProcess, key: string): Promise<number> {
  const now = Date.now() / 1000;
  const r = await getJson(`http://127.0.0.1:${query.httpPort}/${key}/count/${dateOf(now)}/${hourOf(now)}`);
  return r.status === 200 ? (r.body.count as number) : 0;
}

describe('hourglass replay (SQLite store)', () => {
  const stream = 'HGREPLAY';
  const store = () => path.join(root, 'sqlite-store');
  let gateway: HourglassProcess;
  let query: HourglassProcess;
  let before: Record<string, unknown>;
  const sent = workload('rp');
  const env = () => ({ NATS_STREAM: stream, DATA_DIR: store() });

  beforeAll(async () => {
    gateway = await role('gateway', { NATS_STREAM: stream, DATA_DIR: path.join(root, 'gw'), GATEWAY_ID: 'gw' });
    await role('rollup', env());
    query = await role('query', env());
    await post(gateway, sent.lines);
    await awaitCounts(query, 'rp', sent);
    before = await snapshot(query, KEYS('rp'));
    expectAnswered(before);
  }, 120_000);

  it('an hour wiped from the store is rebuilt: every statistic exactly as before', async () => {
    await expectTimersExact(query, sent);
    const db = new Database(path.join(store(), SQLITE_FILE));
    db.prepare('DELETE FROM rollup WHERE hour = ?').run(H1);
    db.prepare('DELETE FROM rollup_raw WHERE hour = ?').run(H1);
    db.close();
    expect((await getJson(`http://127.0.0.1:${query.httpPort}/rp.t0/count/${dateOf(H1)}/${hourOf(H1)}`)).status).toBe(404);

    const r = await replay(env(), ['--from', iso(H1).slice(0, 13), '--to', iso(H2 + SECONDS_PER_HOUR)]);
    expect(r.code, r.stderr).toBe(0);
    // not a terminal here: plain progress lines with hours done, batches read, rate and time left
    expect(r.stderr).toMatch(/^replay: hours 2\/2, \d+ batches read, \d+ batches\/s, 100%, 0 s left$/m);
    expect(await snapshot(query, KEYS('rp'))).toEqual(before);
    await expectTimersExact(query, sent);
  }, 60_000);

  it('twice changes nothing, and live ingestion goes on meanwhile', async () => {
    const running = replay(env(), ['--from', iso(H1), '--to', iso(H2 + SECONDS_PER_HOUR)]);
    let live = 0;
    for (let i = 0; i < 20; i++) {
      await post(gateway, Array.from({ length: 50 }, (_, j) => `rp.live:${i + j}|ms`));
      live += 50;
    }
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    await eventually(async () => ((await liveCount(query, 'rp.live')) === live ? true : undefined), `the live key to count ${live}`, 30_000);
    expect(await snapshot(query, KEYS('rp'))).toEqual(before);
  }, 60_000);

  it('a range the stream no longer holds is refused with exit 2 and the reason', async () => {
    // what NATS_MAX_AGE_SEC or NATS_MAX_BYTES do over days: the oldest batches are gone
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(stream);
    await jsm.streams.purge(stream, { seq: state.last_seq });
    await nc.close();
    const r = await replay(env(), ['--from', iso(H1), '--to', iso(H2)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused: stream HGREPLAY no longer holds the start of the range: its oldest batch was stored at .*NATS_MAX_AGE_SEC/);
    // nothing was deleted
    expect(await snapshot(query, KEYS('rp'))).toEqual(before);
  }, 30_000);

  it('bad options exit 2 naming each problem', async () => {
    const r = await replay(env(), ['--from', '2026-02-30T10', '--to', iso(hourStartSec(Date.now() / 1000) + SECONDS_PER_HOUR), '--early-sec', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--from "2026-02-30T10": not a real date/);
    expect(r.stderr).toMatch(/--to .*: the hours before it must be closed/);
    expect(r.stderr).toMatch(/--early-sec "x": expected a whole number/);
    const missing = await replay({ NATS_STREAM: stream }, []);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from: required[\s\S]*--to: required/);
  });
});

describe('hourglass replay (InfluxDB 1.x, real influxd): into an empty database', () => {
  const stream = 'HGREPLAYFLUX';
  let influx: Influxd;
  const sent = workload('rx');
  const influxEnv = (database: string) => ({ NATS_STREAM: stream, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: database, DATA_DIR: path.join(root, `flux-${database}`) });

  beforeAll(async () => {
    influx = await startInfluxd();
  }, 30_000);
  afterAll(async () => {
    await influx?.dispose();
  });

  it('every statistic equals the live database\'s', async () => {
    const gateway = await role('gateway', { NATS_STREAM: stream, DATA_DIR: path.join(root, 'gwx'), GATEWAY_ID: 'gwx' });
    await role('rollup', influxEnv('hg_live'));
    const live = await role('query', influxEnv('hg_live'));
    await post(gateway, sent.lines);
    await awaitCounts(live, 'rx', sent);
    await expectTimersExact(live, sent);
    const expected = await snapshot(live, KEYS('rx'));
    expectAnswered(expected);

    const r = await replay(influxEnv('hg_rebuilt'), ['--from', iso(H1), '--to', iso(H2 + SECONDS_PER_HOUR)]);
    expect(r.code, r.stderr).toBe(0);
    const rebuilt = await role('query', influxEnv('hg_rebuilt'));
    expect(await snapshot(rebuilt, KEYS('rx'))).toEqual(expected);
    await expectTimersExact(rebuilt, sent);
  }, 120_000);
});
