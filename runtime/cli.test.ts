/**
 * The command as a user runs it: the built bin/hourglass.js in a child process (`npm test` builds
 * dist/ first), the rollup in its worker thread, real sockets, real signals.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'hourglass.js');
const HOUR_SEC = Date.UTC(2026, 10, 22, 21) / 1000;
const DATE = '2026-11-22';
const children = new Set<ChildProcess>();
let dataDir: string;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-cli-'));
});
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function runSync(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 });
}

interface Started {
  child: ChildProcess;
  statsdPort: number;
  httpPort: number;
  exited: Promise<number | null>;
}

/** Starts `hourglass all` on free ports and waits for its "listening" log line. */
async function start(flushIntervalMs = 100): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'all'], {
    env: { PATH: process.env.PATH, STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', DATA_DIR: dataDir, FLUSH_INTERVAL_MS: String(flushIntervalMs), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stderr: string[] = [];
  child.stderr?.on('data', (d) => stderr.push(String(d)));
  const listening = new Promise<{ statsd: string; http: string }>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string; statsd: string; http: string };
      if (entry.msg === 'hourglass listening') resolve(entry);
    });
    void exited.then((code) => reject(new Error(`hourglass exited with ${code} before listening: ${stderr.join('')}`)));
  });
  const { statsd, http } = await listening;
  return { child, statsdPort: Number(statsd.split(':').pop()), httpPort: Number(http.split(':').pop()), exited };
}

async function sendUdp(port: number, text: string): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => socket.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  socket.close();
}

async function query(httpPort: number, key: string, stat: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/${encodeURIComponent(key)}/${stat}/${DATE}/21`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls until `check` returns a value, or fails after the deadline with the last error. */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const countOf = (httpPort: number, key: string) => async () => {
  const r = await query(httpPort, key, 'count');
  return r.status === 200 ? (r.body.count as number) : 0;
};

describe('hourglass command', () => {
  it('--help lists every variable and exits 0', () => {
    const r = runSync(['--help']);
    expect(r.status).toBe(0);
    for (const name of ['STATSD_ADDRESS', 'HTTP_ADDRESS', 'DATA_DIR', 'FLUSH_INTERVAL_MS', 'NATS_URL', 'INFLUX_URL', 'INFLUX_API', 'LOG_LEVEL']) expect(r.stdout).toContain(name);
    expect(r.stdout).toMatch(/gateway.*\n.*rollup.*\n.*query/);
  });

  it('a bad configuration exits 2 naming every bad variable', () => {
    const r = runSync(['all'], { STATSD_ADDRESS: 'localhost', FLUSH_INTERVAL_MS: 'soon', LOG_LEVEL: 'chatty', DATA_DIR: dataDir });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/STATSD_ADDRESS="localhost"/);
    expect(r.stderr).toMatch(/FLUSH_INTERVAL_MS="soon"/);
    expect(r.stderr).toMatch(/LOG_LEVEL="chatty"/);
  });

  it('an unknown option or a missing role exits 2 with the usage', () => {
    expect(runSync(['all', '--flush-every', '5']).status).toBe(2);
    const r = runSync([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/name one role/);
  });

  it('ingests, answers, flushes on SIGTERM and keeps everything after a restart', async () => {
    // a long flush interval: what SIGTERM finds unflushed must still reach the store
    const first = await start(60_000);
    await sendUdp(first.statsdPort, `cli.latency:10|ms|T${HOUR_SEC}\ncli.latency:20|ms|T${HOUR_SEC}\nnot a line\ncli.latency:40|ms|T${HOUR_SEC}`);
    // the gateway counted the datagram before we stop it
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${first.httpPort}/metrics`)).text();
      return /hourglass_lines_received_total\{transport="udp"\} 4/.test(text) ? true : undefined;
    }, 'the lines to be counted');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await start();
    expect(await query(second.httpPort, 'cli.latency', 'median')).toEqual({
      status: 200,
      body: { key: 'cli.latency', stat: 'median', date: DATE, hour: 21, value: 20, count: 3, exact: true, complete: true },
    });
    await sendUdp(second.statsdPort, `cli.latency:30|ms|T${HOUR_SEC}`);
    await eventually(async () => ((await countOf(second.httpPort, 'cli.latency')()) === 4 ? true : undefined), 'count 4');
    expect((await query(second.httpPort, 'cli.latency', 'median')).body.value).toBe(25);
    const metrics = await (await fetch(`http://127.0.0.1:${second.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/hourglass_store_rows_written_total [1-9]/);

    // kill -9 after a flush: what was flushed survives
    second.child.kill('SIGKILL');
    await second.exited;
    const third = await start();
    expect((await query(third.httpPort, 'cli.latency', 'sum')).body).toMatchObject({ value: 100, count: 4 });
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  });

  it('the query role alone serves what the store holds', async () => {
    const child = spawn(process.execPath, [BIN, 'query', '--http-address', '127.0.0.1:0', '--data-dir', dataDir], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const http = await new Promise<string>((resolve) => {
      readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg: string; http?: { port: number } };
        if (entry.msg === 'hourglass query listening' && entry.http) resolve(String(entry.http.port));
      });
    });
    expect((await query(Number(http), 'cli.latency', 'count')).status).toBe(200);
  });
});
