/**
 * `hourglass agent` as a user runs it (the built bin/hourglass.js; `npm test` builds dist/ first):
 * its settings, --help, and exactly once through SIGKILL and restart while a writer appends at a
 * steady rate.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../runtime/config.js';
import { eventually } from '../test-support/eventually.js';
import { BIN, metricValue, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { startIngestServer, type IngestServer } from '../test-support/ingest-server.js';

let dir: string;
let server: IngestServer;
const started = new Set<HourglassProcess>();

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-agent-proc-'));
  server = await startIngestServer();
});
afterEach(async () => {
  await Promise.all([...started].map((p) => p.stop('SIGKILL')));
  started.clear();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseConfig('agent', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('agent settings', () => {
  it('AGENT_FILES and AGENT_GATEWAY_URL are required for the agent role only', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^AGENT_FILES: required/), expect.stringMatching(/^AGENT_GATEWAY_URL: required/)]);
    expect(() => parseConfig('all', {})).not.toThrow();
    const c = parseConfig('agent', { AGENT_FILES: '/var/log/a/*.log, /var/log/b.log', AGENT_GATEWAY_URL: 'http://gw:8080' });
    expect(c.agent).toMatchObject({ files: ['/var/log/a/*.log', '/var/log/b.log'], format: { kind: 'statsd' }, gatewayUrl: 'http://gw:8080' });
  });

  it.each([
    ['AGENT_FILES', ' , ', /AGENT_FILES=" , ": expected one or more globs/],
    ['AGENT_FORMAT', 'xml(', /AGENT_FORMAT="xml\(": expected statsd, json or a regular expression/],
    ['AGENT_FORMAT', '(?<key>\\S+)', /AGENT_FORMAT=.*needs the named group \(\?<value>\.\.\.\)/],
    ['AGENT_FORMAT', '\\S+', /AGENT_FORMAT=.*named groups \(\?<key>\.\.\.\) and \(\?<value>\.\.\.\)/],
    ['AGENT_GATEWAY_URL', 'nats://gw:4222', /AGENT_GATEWAY_URL="nats:\/\/gw:4222": expected a http: or https: URL/],
  ])('refuses %s=%j', (name, value, message) => {
    const env = { AGENT_FILES: '/tmp/x.log', AGENT_GATEWAY_URL: 'http://gw:8080', [name]: value };
    expect(problemsOf(env)).toEqual([expect.stringMatching(message)]);
  });

  it('--help lists the agent options; bad settings exit 2 naming each', () => {
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const name of ['AGENT_FILES', 'AGENT_FORMAT', 'AGENT_GATEWAY_URL', '--agent-files', 'agent ']) expect(help.stdout).toContain(name);
    const bad = spawnSync(process.execPath, [BIN, 'agent'], { encoding: 'utf8', env: { PATH: process.env.PATH, AGENT_FORMAT: '(?<key>x', AGENT_GATEWAY_URL: 'ftp://x' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/AGENT_FILES: required/);
    expect(bad.stderr).toMatch(/AGENT_FORMAT="\(\?<key>x"/);
    expect(bad.stderr).toMatch(/AGENT_GATEWAY_URL="ftp:\/\/x"/);
  });
});

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Appends one line every `periodMs` through an open descriptor, as an application does; records each write's latency. */
function steadyWriter(file: string, periodMs: number) {
  const fd = fs.openSync(file, 'a');
  const latenciesMs: number[] = [];
  const written: string[] = [];
  let failures = 0;
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const line = `steady:${i}|ms|#seq:${i}\n`;
      const t0 = performance.now();
      try {
        fs.writeSync(fd, line);
        written.push(line.slice(0, -1));
      } catch {
        failures++;
      }
      latenciesMs.push(performance.now() - t0);
      await delay(periodMs);
    }
    fs.closeSync(fd);
  })();
  return {
    written,
    latenciesMs,
    failures: () => failures,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

const figures = (label: string, latencies: number[]) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return `${label}: ${sorted.length} appends, p50 ${percentile(sorted, 0.5).toFixed(3)} ms, p99 ${percentile(sorted, 0.99).toFixed(3)} ms, max ${sorted[sorted.length - 1].toFixed(3)} ms`;
};

describe('hourglass agent process', () => {
  it('killed after an acknowledged send and before its offset is saved, then SIGKILLed again: every line exactly once, the writer never held up', async () => {
    const startSec = Math.floor(Date.now() / 1000);
    const file = path.join(dir, 'app.log');
    const env = { AGENT_FILES: path.join(dir, '*.log'), AGENT_GATEWAY_URL: server.url, DATA_DIR: path.join(dir, 'data'), FLUSH_INTERVAL_MS: '50' };

    // Baseline: the writer alone.
    const baseline = steadyWriter(path.join(dir, 'baseline.txt'), 2);
    await eventually(async () => (baseline.latenciesMs.length >= 300 ? true : undefined), 'baseline appends');
    await baseline.stop();

    const writer = steadyWriter(file, 2);
    // 1: the failpoint kills the agent right after the first 2xx, before the offset moves.
    const first = await startHourglass('agent', { ...env, FAILPOINT: 'agent-exit-after-send' });
    started.add(first);
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(server.kept.length).toBe(1);

    // 2: restarted; the same range goes again with the same key, and is counted once.
    const second = await startHourglass('agent', env);
    started.add(second);
    await eventually(async () => (server.stats.repeatedKeys >= 1 ? true : undefined), 'the pending range resent with its key');
    await eventually(async () => (server.items().length > writer.written.length / 2 ? true : undefined), 'the agent catching up');
    // 3: SIGKILL at an arbitrary moment while lines keep coming.
    await second.stop('SIGKILL');
    started.delete(second);
    const third = await startHourglass('agent', env);
    started.add(third);
    // The writer goes on for another 100 lines after the last restart.
    const atRestart = writer.written.length;
    await eventually(async () => (writer.written.length >= atRestart + 100 ? true : undefined), '100 more lines written');
    await writer.stop();

    await eventually(async () => (server.items().length >= writer.written.length ? true : undefined), `all ${writer.written.length} lines delivered`, 20_000);
    await eventually(async () => ((await metricValue(third.httpPort, /^hourglass_agent_bytes_behind (\S+)$/m)) === 0 ? true : undefined), 'nothing behind');
    // Each line went stamped with the time the agent read it (`|T`, within this test's run).
    const nowSec = Math.ceil(Date.now() / 1000);
    const stamps = server.items().map((item) => Number(/\|T(\d+)$/.exec(item)?.[1]));
    expect(stamps.every((sec) => sec >= startSec && sec <= nowSec)).toBe(true);
    expect(server.items().map((item) => item.replace(/\|T\d+$/, '')).sort()).toEqual([...writer.written].sort());
    const health = await fetch(`http://127.0.0.1:${third.httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', gatewayReachable: true, filesFollowed: 1 });
    expect(await metricValue(third.httpPort, /^hourglass_agent_files_followed (\S+)$/m)).toBe(1);
    expect(await third.stop('SIGTERM')).toBe(0);
    expect(writer.failures()).toBe(0);
    // Figures, not assertions: timings on a shared machine prove nothing either way.
    console.log(`${figures('writer alone', baseline.latenciesMs)}\n${figures('writer with the agent following (killed and restarted twice)', writer.latenciesMs)}`);
  }, 60_000);
});
