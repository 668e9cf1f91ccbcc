/**
 * The command as a user runs it: the built bin/hourglass.js in a child process (`npm test` builds
 * dist/ first), the rollup in its worker thread, real sockets, real signals.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, eventually, getJson, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';

const HOUR_SEC = Date.UTC(2026, 10, 22, 21) / 1000;
const DATE = '2026-11-22';
const started = new Set<HourglassProcess>();
let dataDir: string;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-cli-'));
});
afterEach(async () => {
  await Promise.all([...started].map((p) => p.stop('SIGKILL')));
  started.clear();
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function runSync(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 20_000 });
}

async function start(flushIntervalMs = 100): Promise<HourglassProcess> {
  const p = await startHourglass('all', { DATA_DIR: dataDir, FLUSH_INTERVAL_MS: String(flushIntervalMs) });
  started.add(p);
  return p;
}

const query = (httpPort: number, key: string, stat: string) => getJson(`http://127.0.0.1:${httpPort}/${encodeURIComponent(key)}/${stat}/${DATE}/21`);

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

  it('a bad mapping file exits 2 naming its problems', () => {
    const file = path.join(dataDir, 'bad-mapping.yml');
    fs.writeFileSync(file, 'mappings:\n  - match: "a.**"\n    name: x\n');
    const r = runSync(['all'], { STATSD_MAPPING_CONFIG: file, DATA_DIR: dataDir });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/STATSD_MAPPING_CONFIG=.*mappings\[0\]\.match/);
  });

  it('SIGHUP reloads the mapping file; a bad one keeps the old mapping', async () => {
    const file = path.join(dataDir, 'mapping.yml');
    fs.writeFileSync(file, 'mappings:\n  - match: "hup.*"\n    name: "before_$1"\n');
    const p = await startHourglass('all', { DATA_DIR: dataDir, STATSD_MAPPING_CONFIG: file });
    started.add(p);
    const exposed = (pattern: RegExp) => async () => (pattern.test(await (await fetch(`http://127.0.0.1:${p.prometheusPort}/metrics`)).text()) ? true : undefined);
    await sendUdp(p.statsdPort, 'hup.a:1|c');
    await eventually(exposed(/^before_a 1$/m), 'before_a');
    fs.writeFileSync(file, 'mappings:\n  - match: "hup.*"\n    name: "after_$1"\n');
    process.kill(p.child.pid as number, 'SIGHUP');
    // the reload is not observable but by its effect: keep sending until the new name shows
    await eventually(async () => {
      await sendUdp(p.statsdPort, 'hup.b:1|c');
      return exposed(/^after_b \d+$/m)();
    }, 'after_b');
    fs.writeFileSync(file, 'mappings: [ broken');
    process.kill(p.child.pid as number, 'SIGHUP');
    await eventually(async () => {
      await sendUdp(p.statsdPort, 'hup.c:1|c');
      return exposed(/^after_c \d+$/m)();
    }, 'after_c still mapped by the old file');
    expect(p.child.exitCode).toBeNull();
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
    expect(await first.stop('SIGTERM')).toBe(0);

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
    await second.stop('SIGKILL');
    const third = await start();
    expect((await query(third.httpPort, 'cli.latency', 'sum')).body).toMatchObject({ value: 100, count: 4 });
    expect(await third.stop('SIGTERM')).toBe(0);
  });

  it('the query role alone serves what the store holds', async () => {
    const q = await startHourglass('query', { DATA_DIR: dataDir });
    started.add(q);
    expect((await query(q.httpPort, 'cli.latency', 'count')).status).toBe(200);
  });
});
