/**
 * POST /ingest on a real embedded Hourglass over real HTTP (SPEC §3.1): both body forms, the
 * answers, what is kept, idempotency across retries and restarts, and the same answers as UDP.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, exactQuantile } from '../core/index.js';
import { parseConfig } from '../runtime/config.js';
import { startEmbedded, type RunningHourglass } from '../runtime/embedded.js';
import { eventually } from '../test-support/eventually.js';
import { seededRandom } from '../test-support/random.js';
import { spellJsonItem } from './http-ingest.js';

const H21_MS = Date.UTC(2026, 10, 22, 21);
const DATE = '2026-11-22';
const clock = new ManualClock(H21_MS + 30 * 60_000);
const dirs: string[] = [];
const running = new Set<RunningHourglass>();

async function start(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-ingest-')), env: Record<string, string> = {}) {
  dirs.push(dir);
  const config = parseConfig('all', { STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', DATA_DIR: dir, PROMETHEUS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'silent', FLUSH_INTERVAL_MS: '200', ...env });
  const hg = await startEmbedded({ config, clock, rollupThread: false });
  running.add(hg);
  return { hg, dir };
}

async function stop(hg: RunningHourglass) {
  running.delete(hg);
  await hg.close();
}

let hg: RunningHourglass;
beforeAll(async () => {
  hg = (await start(undefined, { MAX_HTTP_BODY_BYTES: '65536' })).hg;
});
afterAll(async () => {
  for (const h of running) await h.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function post(target: RunningHourglass, body: string | Buffer, headers: Record<string, string>) {
  return fetch(`http://127.0.0.1:${target.httpPort}/ingest`, { method: 'POST', headers, body });
}
const text = (target: RunningHourglass, body: string | Buffer, extra: Record<string, string> = {}) => post(target, body, { 'content-type': 'text/plain', ...extra });
const json = (target: RunningHourglass, body: unknown, extra: Record<string, string> = {}) => post(target, JSON.stringify(body), { 'content-type': 'application/json', ...extra });

async function stat(target: RunningHourglass, key: string, s: string, query = ''): Promise<{ status: number; value?: number; count?: number }> {
  const res = await fetch(`http://127.0.0.1:${target.httpPort}/${encodeURIComponent(key)}/${s}/${DATE}/21${query}`);
  const body = (await res.json()) as { value?: number; count?: number };
  return { status: res.status, value: body.value, count: body.count };
}

async function metric(target: RunningHourglass, pattern: RegExp): Promise<number> {
  const m = pattern.exec(await (await fetch(`http://127.0.0.1:${target.httpPort}/metrics`)).text());
  return m ? Number(m[1]) : NaN;
}

describe('POST /ingest', () => {
  it('text/plain: StatsD lines; a 204 means written, so the very next query sees every value', async () => {
    const res = await text(hg, 'http.a:10|ms\nhttp.a:20|ms\r\nhttp.a:30|ms|@0.5\n');
    expect(res.status).toBe(204);
    // no waiting: durable before the answer (SPEC §3.1)
    expect(await stat(hg, 'http.a', 'count')).toMatchObject({ status: 200, count: 4 });
    expect((await stat(hg, 'http.a', 'sum')).value).toBe(10 + 20 + 60);
  });

  it('application/json: one object or an array, each the StatsD line it spells', async () => {
    expect((await json(hg, { key: 'http.j', value: 118 })).status).toBe(204);
    const res = await json(hg, [
      { key: 'http.j', value: [120, 99], type: 'ms', tags: { route: 'pay' } },
      { key: 'http.j.c', value: 3, type: 'c', rate: 0.5 },
      { key: 'http.j.s', value: ['alice', 'bob', 'alice'], type: 's' },
      { key: 'http.j', value: 7, timestamp: H21_MS / 1000 - 3600 },
    ]);
    expect(res.status).toBe(204);
    expect(await stat(hg, 'http.j', 'count')).toMatchObject({ count: 3 });
    expect((await stat(hg, 'http.j', 'median')).value).toBe(exactQuantile([118, 120, 99], null, 0.5));
    expect((await stat(hg, 'http.j', 'count', '?tag=route:pay')).count).toBe(2);
    expect((await stat(hg, 'http.j.c', 'sum')).value).toBe(6);
    expect((await stat(hg, 'http.j.s', 'count')).value).toBe(2);
    // the timestamped value went to hour 20
    const h20 = await fetch(`http://127.0.0.1:${hg.httpPort}/http.j/sum/${DATE}/20`);
    expect(((await h20.json()) as { value: number }).value).toBe(7);
  });

  it('keeps the valid items of a request with invalid ones: 400 lists each rejected item by index and reason', async () => {
    const rejectedBefore = await metric(hg, /hourglass_lines_rejected_total\{reason="bad_value"\} (\d+)/);
    const res = await text(hg, 'http.mix:1|ms\nhttp.mix:abc|ms\n\nhttp.mix:2|ms\nnonsense\nhttp.mix:-1|ms\n');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as { accepted: number; rejected: number; errors: { index: number; reason: string }[]; status: number; type: string; detail: string };
    expect(body).toMatchObject({ status: 400, accepted: 2, rejected: 3 });
    expect(body.errors).toEqual([
      { index: 1, reason: 'bad_value' },
      { index: 4, reason: 'missing_value' },
      { index: 5, reason: 'negative_timer' },
    ]);
    expect(await stat(hg, 'http.mix', 'count')).toMatchObject({ count: 2 });
    expect(await metric(hg, /hourglass_lines_rejected_total\{reason="bad_value"\} (\d+)/)).toBe(rejectedBefore + 1);

    const j = await json(hg, [{ key: 'http.mix2', value: 1 }, 'not an object', { key: 'a:b', value: 1 }, { key: 'x', value: 'NaN' }, { key: 'x', value: 1, type: 'zz' }, { key: 'x', value: 1, rate: 2 }]);
    expect(j.status).toBe(400);
    expect(((await j.json()) as { errors: unknown[] }).errors).toEqual([
      { index: 1, reason: 'bad_item' },
      { index: 2, reason: 'bad_name' },
      { index: 3, reason: 'bad_value' },
      { index: 4, reason: 'unknown_type' },
      { index: 5, reason: 'bad_sample_rate' },
    ]);
    expect((await stat(hg, 'http.mix2', 'count')).count).toBe(1);
  });

  it('gzip is accepted; over MAX_HTTP_BODY_BYTES compressed or decompressed is 413 and keeps nothing', async () => {
    expect((await text(hg, zlib.gzipSync('http.gz:5|ms\nhttp.gz:6|ms'), { 'content-encoding': 'gzip' })).status).toBe(204);
    expect((await stat(hg, 'http.gz', 'count')).count).toBe(2);
    // 200 KB of lines compress to a few KB: under the limit on the wire, over it decompressed
    const bomb = zlib.gzipSync('http.bomb:1|ms\n'.repeat(14_000));
    expect(bomb.length).toBeLessThan(65536);
    const res = await text(hg, bomb, { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/decompressed/);
    expect((await text(hg, 'http.big:1|ms\n'.repeat(6000))).status).toBe(413);
    expect((await stat(hg, 'http.bomb', 'count')).status).toBe(404);
    expect((await stat(hg, 'http.big', 'count')).status).toBe(404);
    expect((await text(hg, Buffer.from('not gzip'), { 'content-encoding': 'gzip' })).status).toBe(400);
  });

  it('another content type or encoding is 415; another method is 405; a bad Idempotency-Key is 400', async () => {
    const xml = await post(hg, '<a/>', { 'content-type': 'application/xml' });
    expect(xml.status).toBe(415);
    expect(((await xml.json()) as { title: string }).title).toMatch(/media type/i);
    expect((await text(hg, 'x:1|ms', { 'content-encoding': 'br' })).status).toBe(415);
    const get = await fetch(`http://127.0.0.1:${hg.httpPort}/ingest`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await text(hg, 'x:1|ms', { 'idempotency-key': 'has space' })).status).toBe(400);
    // a JSON string is valid JSON but no object: one item, rejected
    const str = await json(hg, '{not json');
    expect(str.status).toBe(400);
    expect(((await str.json()) as { errors: unknown[] }).errors).toEqual([{ index: 0, reason: 'bad_item' }]);
    expect((await post(hg, '{not json', { 'content-type': 'application/json' })).status).toBe(400);
  });

  it('a request repeated with the same Idempotency-Key is counted once, concurrent or later', async () => {
    const body = 'http.idem:1|ms\nhttp.idem:2|ms';
    const headers = { 'idempotency-key': 'req-42' };
    const answers = await Promise.all([text(hg, body, headers), text(hg, body, headers), text(hg, body, headers)]);
    expect(answers.map((a) => a.status)).toEqual([204, 204, 204]);
    expect((await text(hg, body, headers)).status).toBe(204);
    expect((await stat(hg, 'http.idem', 'count')).count).toBe(2);
    expect(await metric(hg, /hourglass_http_ingest_duplicates_total (\d+)/)).toBeGreaterThanOrEqual(3);
    // another key is another request
    expect((await text(hg, body, { 'idempotency-key': 'req-43' })).status).toBe(204);
    expect((await stat(hg, 'http.idem', 'count')).count).toBe(4);
  });

  it('idempotency keys are remembered across a restart (in the store, written with the data)', async () => {
    const first = await start();
    const body = JSON.stringify([{ key: 'http.restart', value: [1, 2, 3] }]);
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'agent-file-7-0-120' };
    expect((await post(first.hg, body, headers)).status).toBe(204);
    await stop(first.hg);
    const second = await start(first.dir);
    expect((await post(second.hg, body, headers)).status).toBe(204);
    expect((await stat(second.hg, 'http.restart', 'count')).count).toBe(3);
    await stop(second.hg);
  });

  it('the same lines over UDP and over HTTP give identical answers for every statistic', async () => {
    const random = seededRandom(20261122);
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) {
      const key = `diff.k${i % 5}`;
      const kind = i % 4;
      if (kind === 0) lines.push(`${key}:${(random() * 500).toFixed(3)}|ms|#route:r${i % 3}`);
      else if (kind === 1) lines.push(`${key}.c:${Math.floor(random() * 10)}|c|@0.5`);
      else if (kind === 2) lines.push(`${key}.g:${Math.floor(random() * 100)}|g`);
      else lines.push(`${key}:${(random() * 10).toFixed(2)}|h`);
    }
    const viaUdp = (await start()).hg;
    const socket = dgram.createSocket('udp4');
    for (let i = 0; i < lines.length; i += 20) {
      await new Promise<void>((resolve, reject) => socket.send(lines.slice(i, i + 20).join('\n'), viaUdp.statsdPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    }
    socket.close();
    await eventually(async () => ((await metric(viaUdp, /hourglass_lines_received_total\{transport="udp"\} (\d+)/)) === lines.length ? true : undefined), 'every UDP line received');
    await viaUdp.flush();
    const viaHttp = (await start()).hg;
    for (let i = 0; i < lines.length; i += 100) expect((await text(viaHttp, lines.slice(i, i + 100).join('\n'))).status).toBe(204);
    const keys = [...new Set(lines.map((l) => l.slice(0, l.indexOf(':'))))];
    let compared = 0;
    for (const key of keys) {
      for (const s of ['count', 'sum', 'min', 'max', 'average', 'median', 'p90', 'p99']) {
        const [u, h] = [await stat(viaUdp, key, s), await stat(viaHttp, key, s)];
        expect(h, `${key} ${s}`).toEqual(u);
        if (u.status === 200) compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
    await stop(viaUdp);
    await stop(viaHttp);
  });
});

describe('spellJsonItem', () => {
  it.each([
    ['a timer by default', { key: 'k', value: 1.5 }, 'k:1.5|ms'],
    ['packed values, rate, tags, timestamp', { key: 'k', value: [1, 2], type: 'h', rate: 0.25, tags: { env: 'prod', n: 3 }, timestamp: 1795381200.9 }, 'k:1:2|h|@0.25|#env:prod,n:3|T1795381200'],
    ['exponent values as hot-shots prints them', { key: 'k', value: 1e-7 }, 'k:1e-7|ms'],
    ['a set of strings, one line per member', { key: 'u', value: ['a', 'b'], type: 's', tags: { t: 'x' } }, 'u:a|s|#t:x\nu:b|s|#t:x'],
    ['a gauge delta', { key: 'g', value: -3, type: 'g' }, 'g:-3|g'],
  ])('%s', (_name, item, line) => expect(spellJsonItem(item)).toBe(line));

  it.each([
    ['an array item', [1], 'bad_item'],
    ['no key', { value: 1 }, 'bad_name'],
    ['a key with a pipe', { key: 'a|b', value: 1 }, 'bad_name'],
    ['a key that would read as InfluxDB tags', { key: 'a,b=c', value: 1 }, 'bad_name'],
    ['no value', { key: 'k' }, 'missing_value'],
    ['an empty value list', { key: 'k', value: [] }, 'missing_value'],
    ['a string value for a timer', { key: 'k', value: '1' }, 'bad_value'],
    ['an unknown type', { key: 'k', value: 1, type: 'x' }, 'unknown_type'],
    ['a rate of 0', { key: 'k', value: 1, rate: 0 }, 'bad_sample_rate'],
    ['tags as a list', { key: 'k', value: 1, tags: ['a:b'] }, 'bad_tags'],
    ['a tag value with a comma', { key: 'k', value: 1, tags: { a: 'b,c' } }, 'bad_tags'],
    ['a negative timestamp', { key: 'k', value: 1, timestamp: -1 }, 'bad_timestamp'],
  ])('rejects %s', (_name, item, reason) => expect(spellJsonItem(item)).toMatchObject({ rejected: reason }));
});
