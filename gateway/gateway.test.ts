/**
 * The gateway's sockets, end to end through the embedded runtime: real UDP and TCP on port 0, an
 * injected clock, answers read back through the query API and /metrics.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { parseConfig } from '../runtime/config.js';
import { startEmbedded, type RunningHourglass } from '../runtime/embedded.js';
import { eventually } from '../test-support/eventually.js';

const H21_MS = Date.UTC(2026, 10, 22, 21);
const clock = new ManualClock(H21_MS + 30 * 60_000);
let dir: string;
let hg: RunningHourglass;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-gateway-'));
  const config = parseConfig('all', { STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', DATA_DIR: dir, MAX_LINE_BYTES: '100', LOG_LEVEL: 'silent' });
  hg = await startEmbedded({ config, clock, rollupThread: false });
});
afterAll(async () => {
  await hg.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function sendUdp(payload: string | Buffer): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => socket.send(payload, hg.statsdPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  socket.close();
}

/** Sends chunks over one TCP connection; resolves when the gateway has closed or ended it. */
async function sendTcp(chunks: (string | Buffer)[]): Promise<{ closedByServer: boolean }> {
  const socket = net.connect(hg.statsdPort, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let closedByServer = false;
  socket.on('error', () => {
    closedByServer = true;
  });
  for (const c of chunks) {
    if (socket.destroyed) break;
    // one write per event-loop turn, so the server sees separate chunks
    await new Promise<void>((resolve) => socket.write(c, () => setImmediate(resolve)));
  }
  socket.end();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { closedByServer };
}

async function metric(pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${hg.httpPort}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : NaN;
}

const rejected = (reason: string) => metric(new RegExp(`hourglass_lines_rejected_total\\{reason="${reason}"\\} (\\d+)`));

async function answer(key: string, stat: string, hour = 21) {
  await hg.flush();
  const res = await fetch(`http://127.0.0.1:${hg.httpPort}/${encodeURIComponent(key)}/${stat}/2026-11-22/${hour}`);
  return res.status === 200 ? ((await res.json()) as { value: number; count: number }) : { status: res.status };
}

const linesReceived = (transport: 'udp' | 'tcp') => metric(new RegExp(`hourglass_lines_received_total\\{transport="${transport}"\\} (\\d+)`));

/** Sends a datagram and waits until the gateway has counted its `lines` lines. */
async function deliverUdp(payload: string | Buffer, lines: number): Promise<void> {
  const target = (await linesReceived('udp')) + lines;
  await sendUdp(payload);
  await eventually(async () => ((await linesReceived('udp')) >= target ? true : undefined), `the gateway to receive the ${lines} lines sent`, { timeoutMs: 5000, pollMs: 10 });
}

describe('UDP', () => {
  it('rejects an invalid UTF-8 line alone and keeps the rest of the datagram, UTF-8 names included', async () => {
    const before = await rejected('invalid_utf8');
    const datagram = Buffer.concat([Buffer.from('u8.ok:1|ms\n'), Buffer.from([0x75, 0x38, 0xff, 0xfe, 0x3a, 0x31, 0x7c, 0x6d, 0x73, 0x0a]), Buffer.from('caf\u00e9.ok:2|ms\r\nu8.ok:3|ms')]);
    await deliverUdp(datagram, 4);
    expect(await answer('u8.ok', 'sum')).toMatchObject({ value: 4, count: 2 });
    expect(await answer('caf\u00e9.ok', 'sum')).toMatchObject({ value: 2 });
    expect((await rejected('invalid_utf8')) - before).toBe(1);
  });

  it('counts every bad input of the SPEC under its reason and keeps every valid line beside it', async () => {
    const bad: [string, string][] = [
      ['bad.nonfinite:1e309|ms', 'non_finite'],
      ['bad.neg:-5|ms', 'negative_timer'],
      ['bad.rate:1|ms|@2', 'bad_sample_rate'],
      ['bad.hex:0x10|ms', 'bad_value'],
      ['bad.space: 1|ms', 'bad_value'],
      ['bad.abc:12abc|ms', 'bad_value'],
      [`bad.long:${'9'.repeat(120)}|ms`, 'line_too_long'],
    ];
    const before = new Map<string, number>();
    for (const [, reason] of bad) before.set(reason, await rejected(reason));
    const lines = bad.flatMap(([line], i) => [line, `spec.ok:${i + 1}|ms`]);
    await deliverUdp(lines.join('\n'), lines.length);
    expect(await answer('spec.ok', 'sum')).toMatchObject({ value: 28, count: 7 });
    const increase = new Map<string, number>();
    for (const [, reason] of bad) increase.set(reason, (increase.get(reason) ?? 0) + 1);
    for (const [reason, n] of increase) expect((await rejected(reason)) - (before.get(reason) as number), reason).toBe(n);
    for (const [line] of bad) expect(await answer(line.slice(0, line.indexOf(':')), 'count')).toEqual({ status: 404 });
  });

  it('stamps each sample with the hour of receipt, from the injected clock', async () => {
    clock.set(H21_MS + 3_600_000 - 1); // 21:59:59.999
    await deliverUdp('edge:1|ms', 1);
    clock.set(H21_MS + 3_600_000); // 22:00:00.000
    await deliverUdp('edge:2|ms', 1);
    expect(await answer('edge', 'sum', 21)).toMatchObject({ value: 1 });
    expect(await answer('edge', 'sum', 22)).toMatchObject({ value: 2 });
    clock.set(H21_MS + 30 * 60_000);
  });
});

describe('TCP', () => {
  it('joins lines split across packets and reads a last line without a newline', async () => {
    await sendTcp(['tcp.split:1', '0|ms\ntcp.sp', 'lit:20|ms\ntcp.split:30|ms']);
    expect(await answer('tcp.split', 'sum')).toMatchObject({ value: 60, count: 3 });
  });

  it('an over-long line closes the connection, keeps the lines before it and is counted', async () => {
    const before = await rejected('line_too_long');
    const closedBefore = await metric(/hourglass_tcp_connections_closed_total\{reason="line_too_long"\} (\d+)/);
    await sendTcp(['tcp.long:1|ms\ntcp.long:2|ms\n', `tcp.long:${'1'.repeat(200)}`, '|ms\ntcp.long:4|ms\n']);
    expect(await answer('tcp.long', 'sum')).toMatchObject({ value: 3, count: 2 });
    expect((await rejected('line_too_long')) - before).toBe(1);
    expect((await metric(/hourglass_tcp_connections_closed_total\{reason="line_too_long"\} (\d+)/)) - (Number.isNaN(closedBefore) ? 0 : closedBefore)).toBe(1);
  });

  it('a refused TCP connection after close, never a hang', async () => {
    const config = parseConfig('all', { STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', DATA_DIR: dir, LOG_LEVEL: 'silent' });
    const other = await startEmbedded({ config, clock, rollupThread: false });
    const port = other.statsdPort;
    await other.close();
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => net.connect(port, '127.0.0.1').once('error', resolve));
    expect(error.code).toBe('ECONNREFUSED');
  });
});
