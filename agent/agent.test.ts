/**
 * The agent in-process against real files in a temp folder and a real HTTP server that answers
 * as `POST /ingest` does (test-support/ingest-server.ts). What was written is compared with what
 * the server kept, counted once per Idempotency-Key. The agent stamps samples without a time of
 * their own with the time it read them; comparisons take that stamp off only when it lies within
 * the test's own run (see `unstamp`), and the tests under "read time" check it exactly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hourStartSec, systemClock, SECONDS_PER_HOUR, type Clock } from '../core/index.js';
import { eventually } from '../test-support/eventually.js';
import { startIngestServer, type IngestServer } from '../test-support/ingest-server.js';
import { seededRandom } from '../test-support/random.js';
import { AGENT_DEFAULTS, Agent, createAgentMetrics, parseAgentFormat, type AgentOptions } from './index.js';

let dir: string;
let server: IngestServer;
const running = new Set<Agent>();
/** When this test began (unix seconds): read times stamped by a system-clock agent are at or after it. */
let testStartSec: number;

beforeEach(async () => {
  testStartSec = Math.floor(Date.now() / 1000);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-agent-'));
  fs.mkdirSync(path.join(dir, 'logs'));
  server = await startIngestServer({ retryAfterSec: 1 });
});
afterEach(async () => {
  for (const a of running) await a.stop();
  running.clear();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const logFile = (name = 'app.log') => path.join(dir, 'logs', name);

function makeAgent(overrides: Partial<AgentOptions> = {}) {
  const registry = new Registry();
  const patterns = overrides.patterns ?? [path.join(dir, 'logs', '*.log')];
  const metrics = createAgentMetrics(registry, patterns);
  const sleeps: number[] = [];
  const agent = new Agent({
    ...AGENT_DEFAULTS,
    patterns,
    format: { kind: 'statsd' },
    gatewayUrl: server.url,
    dataDir: path.join(dir, 'data'),
    maxLineBytes: 8192,
    maxBatchLines: 1000,
    pollIntervalMs: 30,
    rotatedGraceMs: 150,
    backoff: { initialMs: 20, maxMs: 160 },
    requestTimeoutMs: 2_000,
    random: seededRandom(7),
    // Time injected: every wait is recorded; waits longer than 50 ms are cut short so a test does
    // not sit out a Retry-After, while the agent's choice of delay is still visible.
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      await delay(Math.min(ms, 50), undefined, { signal }).catch(() => undefined);
    },
    clock: systemClock,
    metrics,
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
  running.add(agent);
  return { agent, registry, sleeps };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? NaN;
}

const lines = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}:${from + i}|ms`);

/** True when the file holds a complete line after `offset`. */
function unreadLine(file: string, offset: number): boolean {
  try {
    return fs.readFileSync(file).subarray(offset).includes(10);
  } catch {
    return false;
  }
}

/**
 * An item without the read-time stamp the agent added: a trailing `|T<s>` or a JSON `timestamp`
 * is taken off only when it lies within this test's run, so a missing stamp, a stamp from
 * elsewhere, or a time the line carried itself stays visible in the comparison.
 */
function unstamp(item: string): string {
  const nowSec = Math.ceil(Date.now() / 1000);
  const inRun = (sec: number) => sec >= testStartSec && sec <= nowSec;
  if (item.startsWith('{')) {
    const object = JSON.parse(item) as { timestamp?: unknown };
    if (typeof object.timestamp !== 'number' || !inRun(object.timestamp)) return item;
    delete object.timestamp;
    return JSON.stringify(object);
  }
  const stamp = /\|T(\d+)$/.exec(item);
  return stamp !== null && inRun(Number(stamp[1])) ? item.slice(0, stamp.index) : item;
}

/** What the server kept, read-time stamps taken off. */
const delivered = () => server.items().map(unstamp);

/** Waits until the server holds exactly `expected` (as a multiset) and checks nothing is doubled. */
async function expectDelivered(expected: readonly string[], timeoutMs = 10_000) {
  const want = [...expected].sort();
  await eventually(async () => (server.items().length >= want.length ? true : undefined), `${want.length} items delivered (have ${server.items().length})`, timeoutMs);
  // Compared once every running agent has read its files to the end and holds nothing pending,
  // so a duplicate sent late would be in the list too.
  await eventually(async () => ([...running].every((a) => a.files().every((f) => f.rotated || !unreadLine(f.path, f.offset))) ? true : undefined), 'agents idle', timeoutMs);
  expect(delivered().sort()).toEqual(want);
}

describe('agent formats', () => {
  it('statsd: valid lines are sent stamped with their read time, invalid ones counted by reason and skipped', async () => {
    const good = ['api.checkout:118|ms', 'api.checkout:120|ms|#route:pay', 'jobs:1|c', 'temp:21.5|g'];
    fs.writeFileSync(logFile(), ['api.checkout:118|ms', 'not a metric', 'api.checkout:120|ms|#route:pay', 'x:-1|ms', 'jobs:1|c', 'y:0x10|ms', 'temp:21.5|g', ''].join('\n'));
    const { agent, registry } = makeAgent();
    await agent.start();
    await expectDelivered(good);
    expect(server.items().every((item) => /\|T\d+$/.test(item))).toBe(true);
    expect(server.kept.every((k) => k.contentType === 'text/plain')).toBe(true);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'missing_value' })).toBe(1);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'negative_timer' })).toBe(1);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'bad_value' })).toBe(1);
    expect(await metric(registry, 'hourglass_agent_lines_read_total')).toBe(7);
    expect(await metric(registry, 'hourglass_agent_lines_sent_total')).toBe(4);
  });

  it('json: one object per line, sent as application/json arrays', async () => {
    const objects = [
      { key: 'api.checkout', value: 118, type: 'ms', tags: { route: 'pay' } },
      { key: 'api.checkout', value: [120, 130], rate: 0.5 },
      { key: 'queue.depth', value: 7, type: 'g', timestamp: 1795381200 },
    ];
    fs.writeFileSync(logFile(), [JSON.stringify(objects[0]), '{"key":', JSON.stringify(objects[1]), '[1,2]', '{"value":1}', JSON.stringify(objects[2]), ''].join('\n'));
    const { agent, registry } = makeAgent({ format: { kind: 'json' } });
    await agent.start();
    await expectDelivered(objects.map((o) => JSON.stringify(o)));
    // Every object has a time: its own (queue.depth, kept as written) or the read time.
    expect(server.items().map((item) => typeof (JSON.parse(item) as { timestamp?: unknown }).timestamp)).toEqual(['number', 'number', 'number']);
    expect(server.kept.every((k) => k.contentType === 'application/json')).toBe(true);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'bad_json' })).toBe(1);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'bad_object' })).toBe(1);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'bad_name' })).toBe(1);
  });

  it('regex: an nginx access log with $request_time becomes timer samples in the log unit', async () => {
    // log_format timing '$msec $request_method $uri $status $request_time';
    const format = parseAgentFormat(String.raw`^(?<ts>\d+\.\d+) \S+ (?<key>\S+) \d+ (?<value>\d+\.\d+)$`);
    fs.writeFileSync(
      logFile('access.log'),
      ['1795381200.123 GET /pay 200 0.118', '1795381201.5 POST /cart 201 0.042', 'garbage line', '1795381202.000 GET /a:b 200 0.010', '1795381203.9 GET /pay 200 1.250', ''].join('\n'),
    );
    const { agent, registry } = makeAgent({ format });
    await agent.start();
    await expectDelivered(['/pay:0.118|ms|T1795381200', '/cart:0.042|ms|T1795381201', '/pay:1.250|ms|T1795381203']);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'no_match' })).toBe(1);
    // `/a:b` would change the StatsD line's meaning: refused, never sent.
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'bad_name' })).toBe(1);
  });

  it('regex: Apache %D (microseconds) without a timestamp group', async () => {
    // LogFormat "%U %>s %D" timing
    const format = parseAgentFormat(String.raw`^(?<key>/\S*) \d{3} (?<value>\d+)$`);
    fs.writeFileSync(logFile('apache.log'), '/login 200 118000\n/login 302 42000\n');
    const { agent } = makeAgent({ format });
    await agent.start();
    await expectDelivered(['/login:118000|ms', '/login:42000|ms']);
  });
});

describe('agent and log files', () => {
  it('a partial last line waits for its newline', async () => {
    fs.writeFileSync(logFile(), 'a:1|ms\nb:2');
    const { agent } = makeAgent();
    await agent.start();
    await expectDelivered(['a:1|ms']);
    // The agent polls every 30 ms; several polls pass while b waits.
    await eventually(async () => ((await fs.promises.stat(path.join(dir, 'data', 'agent-offsets.json'))).mtimeMs > 0 ? true : undefined), 'offsets saved');
    expect(delivered()).toEqual(['a:1|ms']);
    fs.appendFileSync(logFile(), '|ms\nc:3|ms\n');
    await expectDelivered(['a:1|ms', 'b:2|ms', 'c:3|ms']);
  });

  it('a line over MAX_LINE_BYTES is skipped and counted, even written in pieces', async () => {
    const { agent, registry } = makeAgent({ maxLineBytes: 100 });
    fs.writeFileSync(logFile(), 'a:1|ms\n');
    await agent.start();
    await expectDelivered(['a:1|ms']);
    // 200 KiB without a newline (several read chunks), then its newline and a good line.
    fs.appendFileSync(logFile(), `long:${'9'.repeat(200 * 1024)}`);
    fs.appendFileSync(logFile(), '|ms\nb:2|ms\n');
    await expectDelivered(['a:1|ms', 'b:2|ms']);
    expect(await metric(registry, 'hourglass_agent_lines_rejected_total', { reason: 'line_too_long' })).toBe(1);
  });

  it('rotation by rename (logrotate create): the old file is finished, then the new one', async () => {
    const { agent, registry } = makeAgent();
    const writer = fs.openSync(logFile(), 'a');
    fs.writeSync(writer, lines('old', 0, 50).join('\n') + '\n');
    await agent.start();
    await expectDelivered(lines('old', 0, 50));
    fs.renameSync(logFile(), logFile('app.log.1'));
    // The application writes a last few lines to its open descriptor before it reopens.
    fs.writeSync(writer, lines('old', 50, 60).join('\n') + '\n');
    fs.closeSync(writer);
    fs.writeFileSync(logFile(), lines('new', 0, 40).join('\n') + '\n');
    await expectDelivered([...lines('old', 0, 60), ...lines('new', 0, 40)]);
    expect(await metric(registry, 'hourglass_agent_file_events_total', { event: 'rotated' })).toBe(1);
    await eventually(async () => (agent.files().length === 1 ? true : undefined), 'the rotated file let go after its grace period');
  });

  it('copytruncate: lines read before the truncation are kept, the new content read from 0', async () => {
    const { agent, registry } = makeAgent();
    fs.writeFileSync(logFile(), lines('before', 0, 100).join('\n') + '\n');
    await agent.start();
    await expectDelivered(lines('before', 0, 100));
    fs.copyFileSync(logFile(), path.join(dir, 'logs', 'app.log.1'));
    fs.truncateSync(logFile(), 0);
    // Written back quickly, to more bytes than before: size alone would not show the truncation.
    fs.appendFileSync(logFile(), lines('after', 0, 300).join('\n') + '\n');
    await expectDelivered([...lines('before', 0, 100), ...lines('after', 0, 300)]);
    expect(await metric(registry, 'hourglass_agent_file_events_total', { event: 'truncated' })).toBe(1);
  });

  it('copytruncate while the gateway is down: the batch in hand is delivered, the unread rest counted as lost', async () => {
    const { agent, registry } = makeAgent({ maxBatchLines: 10 });
    fs.writeFileSync(logFile(), lines('before', 0, 20).join('\n') + '\n');
    await agent.start();
    await expectDelivered(lines('before', 0, 20));
    server.setMode('unavailable');
    const tail = lines('tail', 0, 50);
    fs.appendFileSync(logFile(), tail.join('\n') + '\n');
    await eventually(async () => (server.stats.refusedWhileDown > 0 ? true : undefined), 'a refused send');
    fs.truncateSync(logFile(), 0);
    fs.appendFileSync(logFile(), lines('after', 0, 5).join('\n') + '\n');
    server.setMode('ok');
    await expectDelivered([...lines('before', 0, 20), ...tail.slice(0, 10), ...lines('after', 0, 5)]);
    const lostBytes = tail.slice(10).reduce((n, l) => n + l.length + 1, 0);
    expect(await metric(registry, 'hourglass_agent_truncated_unread_bytes_total')).toBe(lostBytes);
  });

  it('deletion: what was written before is still delivered; a new file of that name is read from 0', async () => {
    const { agent, registry } = makeAgent();
    fs.writeFileSync(logFile(), '');
    await agent.start();
    expect(agent.files()).toHaveLength(1);
    server.setMode('unavailable');
    fs.appendFileSync(logFile(), lines('gone', 0, 20).join('\n') + '\n');
    await eventually(async () => (server.stats.refusedWhileDown > 0 ? true : undefined), 'a refused send');
    fs.unlinkSync(logFile());
    server.setMode('ok');
    await expectDelivered(lines('gone', 0, 20));
    await eventually(async () => (agent.files().length === 0 ? true : undefined), 'the deleted file let go');
    expect(await metric(registry, 'hourglass_agent_file_events_total', { event: 'deleted' })).toBe(1);
    fs.writeFileSync(logFile(), lines('again', 0, 5).join('\n') + '\n');
    await expectDelivered([...lines('gone', 0, 20), ...lines('again', 0, 5)]);
  });

  it('follows at most maxFiles at once; the others wait, counted, and are read once a place frees up', async () => {
    for (const n of ['a', 'b', 'c']) fs.writeFileSync(logFile(`${n}.log`), lines(n, 0, 5).join('\n') + '\n');
    const { agent, registry } = makeAgent({ maxFiles: 2 });
    await agent.start();
    expect(agent.files()).toHaveLength(2);
    expect(await metric(registry, 'hourglass_agent_files_refused_total')).toBeGreaterThanOrEqual(1);
    await eventually(async () => (server.items().length === 10 ? true : undefined), 'two files delivered');
    const waiting = ['a', 'b', 'c'].find((n) => !agent.files().some((f) => f.path.endsWith(`${n}.log`))) as string;
    const done = ['a', 'b', 'c'].filter((n) => n !== waiting);
    fs.unlinkSync(logFile(`${done[0]}.log`));
    await expectDelivered(['a', 'b', 'c'].flatMap((n) => lines(n, 0, 5)));
  });

  it('files that appear later are picked up; a file is read from its first byte', async () => {
    const { agent } = makeAgent();
    await agent.start();
    fs.writeFileSync(logFile('late.log'), lines('late', 0, 10).join('\n') + '\n');
    fs.writeFileSync(logFile('ignored.txt'), 'not:1|ms\n');
    await expectDelivered(lines('late', 0, 10));
  });
});

describe('agent restarts', () => {
  it('a file replaced while the agent was down is read from 0; one rotated while down is finished', async () => {
    fs.writeFileSync(logFile(), lines('first', 0, 30).join('\n') + '\n');
    fs.writeFileSync(logFile('other.log'), lines('other', 0, 10).join('\n') + '\n');
    const a = makeAgent();
    await a.agent.start();
    await expectDelivered([...lines('first', 0, 30), ...lines('other', 0, 10)]);
    await a.agent.stop();
    running.delete(a.agent);

    // Down: app.log deleted and written anew (its inode may well be reused); other.log gets more
    // lines and is rotated away to a name the glob does not match.
    fs.unlinkSync(logFile());
    fs.writeFileSync(logFile(), lines('second', 0, 30).join('\n') + '\n');
    fs.appendFileSync(logFile('other.log'), lines('other', 10, 15).join('\n') + '\n');
    fs.renameSync(logFile('other.log'), path.join(dir, 'logs', 'other.log.1'));

    const b = makeAgent();
    await b.agent.start();
    await expectDelivered([...lines('first', 0, 30), ...lines('other', 0, 15), ...lines('second', 0, 30)]);
  });

  it('copytruncate while the agent was down: the new content is read from 0', async () => {
    fs.writeFileSync(logFile(), lines('before', 0, 30).join('\n') + '\n');
    const a = makeAgent();
    await a.agent.start();
    await expectDelivered(lines('before', 0, 30));
    await a.agent.stop();
    running.delete(a.agent);
    fs.truncateSync(logFile(), 0);
    fs.appendFileSync(logFile(), lines('after', 0, 60).join('\n') + '\n');
    const b = makeAgent();
    await b.agent.start();
    await expectDelivered([...lines('before', 0, 30), ...lines('after', 0, 60)]);
  });
});

describe('agent and the gateway', () => {
  it('gateway down (503, closed connections, hangs) then up: backoff, Retry-After, nothing lost, nothing doubled', async () => {
    const { agent, registry, sleeps } = makeAgent({ requestTimeoutMs: 300, maxBatchLines: 100 });
    server.setMode('unavailable');
    const written: string[] = [];
    const write = (from: number, to: number) => {
      const l = lines('k', from, to);
      written.push(...l);
      fs.appendFileSync(logFile(), l.join('\n') + '\n');
    };
    write(0, 500);
    await agent.start();
    await eventually(async () => (server.stats.refusedWhileDown >= 3 ? true : undefined), 'three refused sends');
    write(500, 1000);
    // Retry-After: 1 is honoured: every wait after a 503 is at least 1000 ms.
    const waitsAfter503 = sleeps.filter((ms) => ms !== 30);
    expect(waitsAfter503.length).toBeGreaterThanOrEqual(2);
    expect(waitsAfter503.every((ms) => ms >= 1000)).toBe(true);

    server.setMode('close');
    const before = sleeps.length;
    // (A wait recorded just after the switch may still be a 503's Retry-After: left out.)
    const afterSwitch = () => sleeps.slice(before).filter((ms) => ms < 1000);
    await eventually(async () => (afterSwitch().length >= 4 ? true : undefined), 'retries against closed connections');
    // No Retry-After now: the backoff alone, past its third doubling so at its 160 ms cap, with
    // jitter in [cap/2, cap] (the doubling itself is checked in format.test.ts).
    const backoffWaits = afterSwitch().slice(0, 4);
    expect(backoffWaits.every((ms) => ms >= 80 && ms <= 160)).toBe(true);
    expect(new Set(backoffWaits).size).toBeGreaterThan(1);
    server.setMode('hang');
    await eventually(async () => ((await metric(registry, 'hourglass_agent_send_errors_total', { reason: 'timeout' })) >= 1 ? true : undefined), 'a timed-out send');
    expect(await metric(registry, 'hourglass_agent_send_errors_total', { reason: 'network' })).toBeGreaterThanOrEqual(1);
    expect(await metric(registry, 'hourglass_agent_bytes_behind')).toBeGreaterThan(0);
    // While down the agent holds one batch and reads nothing more: the file is the buffer.
    expect(server.items()).toHaveLength(0);
    expect(await metric(registry, 'hourglass_agent_lines_read_total')).toBe(100);

    server.setMode('ok');
    write(1000, 1200);
    await expectDelivered(written);
    expect(server.kept.every((k) => k.items.length <= 100)).toBe(true);
    expect(await metric(registry, 'hourglass_agent_send_retries_total')).toBeGreaterThan(3);
    await eventually(async () => ((await metric(registry, 'hourglass_agent_bytes_behind')) === 0 ? true : undefined), 'nothing behind');
  });

  it('400 with per-item errors: the valid items are kept, the refused ones counted, the offset moves on', async () => {
    const objects = [{ key: 'a', value: 1 }, { key: 'b', value: 2, type: 'zz' }, { key: 'c', value: 3, type: 'g' }];
    fs.writeFileSync(logFile(), objects.map((o) => JSON.stringify(o)).join('\n') + '\n');
    const { agent, registry } = makeAgent({ format: { kind: 'json' } });
    await agent.start();
    await expectDelivered([objects[0], objects[2]].map((o) => JSON.stringify(o)));
    expect(await metric(registry, 'hourglass_agent_lines_refused_by_gateway_total', { reason: 'unknown_type' })).toBe(1);
    expect(await metric(registry, 'hourglass_agent_lines_sent_total')).toBe(2);
    expect(await metric(registry, 'hourglass_agent_requests_total', { status: '400' })).toBe(1);
  });

  it('413: batches are cut smaller until the gateway takes them', async () => {
    await server.close();
    server = await startIngestServer({ maxBodyBytes: 40 * 1024 });
    const written = lines('big', 0, 20_000);
    fs.writeFileSync(logFile(), written.join('\n') + '\n');
    const { agent, registry } = makeAgent({ maxBatchBytes: 256 * 1024, maxBatchLines: 100_000 });
    await agent.start();
    await expectDelivered(written);
    expect(await metric(registry, 'hourglass_agent_requests_total', { status: '413' })).toBeGreaterThanOrEqual(1);
  });
});

/**
 * A clock that runs with real time (the rotation grace and the scan still see time pass) from a
 * fixed start 10 minutes into an hour, and can be jumped forward as a long outage would.
 */
function jumpingClock(startMs: number) {
  const t0 = Date.now();
  let jumpedMs = 0;
  const clock: Clock = { nowMs: () => startMs + (Date.now() - t0) + jumpedMs };
  return { clock, jump: (ms: number) => (jumpedMs += ms) };
}

/** The hours (unix seconds) of the `|T` stamps of the items kept, in order. */
const stampedHours = () => server.items().map((item) => hourStartSec(Number(/\|T(\d+)$/.exec(item)?.[1] ?? NaN)));

describe('read time', () => {
  /** 2026-11-22 21:00 UTC: the hour the lines are read in. Nothing in the lines says it. */
  const HOUR = Date.UTC(2026, 10, 22, 21) / 1000;

  it('a batch held through a gateway outage lands in the hour it was read, not the hour it was delivered', async () => {
    const { clock, jump } = jumpingClock((HOUR + 600) * 1000);
    const { agent } = makeAgent({ clock, maxBatchLines: 10 });
    server.setMode('unavailable');
    fs.writeFileSync(logFile(), lines('k', 0, 10).join('\n') + '\n');
    await agent.start();
    await eventually(async () => (server.stats.refusedWhileDown >= 2 ? true : undefined), 'the batch in hand refused twice');
    // Two hours pass while the gateway is down; more lines are written meanwhile.
    jump(2 * SECONDS_PER_HOUR * 1000);
    fs.appendFileSync(logFile(), lines('k', 10, 15).join('\n') + '\n');
    server.setMode('ok');
    await eventually(async () => (server.items().length >= 15 ? true : undefined), '15 items delivered');
    // The batch read before the outage keeps its hour; lines the agent reads only after it (the
    // file is the buffer while the gateway is down) carry the hour they were read in.
    expect(stampedHours()).toEqual([...new Array<number>(10).fill(HOUR), ...new Array<number>(5).fill(HOUR + 2 * SECONDS_PER_HOUR)]);
    expect(server.items().map((item) => item.replace(/\|T\d+$/, ''))).toEqual(lines('k', 0, 15));
  });

  it('a range resent after a restart keeps the read time it was first sent with', async () => {
    const first = jumpingClock((HOUR + 600) * 1000);
    const a = makeAgent({ clock: first.clock });
    server.setMode('unavailable');
    fs.writeFileSync(logFile(), lines('r', 0, 5).join('\n') + '\n');
    await a.agent.start();
    await eventually(async () => (server.stats.refusedWhileDown >= 1 ? true : undefined), 'a refused send');
    await a.agent.stop();
    running.delete(a.agent);

    // Restarted three hours later: the pending range goes again, stamped as at its first read.
    const b = makeAgent({ clock: jumpingClock((HOUR + 3 * SECONDS_PER_HOUR + 600) * 1000).clock });
    server.setMode('ok');
    await b.agent.start();
    await eventually(async () => (server.items().length >= 5 ? true : undefined), '5 items delivered');
    expect(stampedHours()).toEqual(new Array<number>(5).fill(HOUR));
  });

  it('json objects without timestamp get the read time; their own is kept', async () => {
    const { clock } = jumpingClock((HOUR + 600) * 1000);
    fs.writeFileSync(logFile(), ['{"key":"a","value":1}', '{"key":"b","value":2,"timestamp":1700000000}', ''].join('\n'));
    const { agent } = makeAgent({ clock, format: { kind: 'json' } });
    await agent.start();
    await eventually(async () => (server.items().length >= 2 ? true : undefined), '2 items delivered');
    const times = server.items().map((item) => (JSON.parse(item) as { timestamp: number }).timestamp);
    expect(hourStartSec(times[0])).toBe(HOUR);
    expect(times[1]).toBe(1700000000);
  });
});
