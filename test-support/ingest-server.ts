/**
 * A stand-in for the gateway's `POST /ingest` (SPEC §3.1) that answers as the contract says and
 * records what it kept: text/plain StatsD lines (validated by the gateway's own parser) or JSON
 * objects, gzip, Idempotency-Key (a repeated key is answered again and counted once), 204 / 400
 * with per-item errors / 413 / 415 / 503 with Retry-After. It can be told to be unavailable, to
 * close connections, or to hang, so the agent's retries can be tested against real sockets.
 */
import http from 'node:http';
import type net from 'node:net';
import zlib from 'node:zlib';
import { METRIC_TYPES } from '../core/index.js';
import { LineParser } from '../gateway/index.js';

export const INGEST_MODES = ['ok', 'unavailable', 'close', 'hang'] as const;
export type IngestMode = (typeof INGEST_MODES)[number];

export interface KeptRequest {
  readonly key: string | undefined;
  readonly contentType: string;
  /** Items kept: StatsD lines as sent, or JSON objects re-serialised. */
  readonly items: readonly string[];
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

export interface IngestServerOptions {
  readonly maxBodyBytes?: number;
  readonly retryAfterSec?: number;
}

export async function startIngestServer(options: IngestServerOptions = {}) {
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const kept: KeptRequest[] = [];
  const answered = new Map<string, Answer>();
  const stats = { requests: 0, repeatedKeys: 0, refusedWhileDown: 0 };
  const sockets = new Set<net.Socket>();
  const state = { mode: 'ok' as IngestMode };

  let rejectReason = '';
  const parser = new LineParser({ sample() {}, member() {} }, { reject: (reason) => (rejectReason = reason) }, 8192);

  function validateText(text: string): { items: string[]; errors: { index: number; reason: string }[] } {
    const items: string[] = [];
    const errors: { index: number; reason: string }[] = [];
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    lines.forEach((raw, index) => {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '') return;
      rejectReason = '';
      if (parser.parseLine(line, 0, line.length, 0)) items.push(line);
      else errors.push({ index, reason: rejectReason });
    });
    return { items, errors };
  }

  function validateJson(text: string): { items: string[]; errors: { index: number; reason: string }[] } | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return undefined;
    }
    const objects = Array.isArray(parsed) ? parsed : [parsed];
    const items: string[] = [];
    const errors: { index: number; reason: string }[] = [];
    objects.forEach((o: unknown, index) => {
      const obj = o as { key?: unknown; value?: unknown; type?: unknown } | null;
      const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
      if (typeof obj !== 'object' || obj === null || typeof obj.key !== 'string' || obj.key === '') errors.push({ index, reason: 'bad_name' });
      else if (!(finite(obj.value) || (Array.isArray(obj.value) && obj.value.length > 0 && obj.value.every(finite)))) errors.push({ index, reason: 'bad_value' });
      else if (obj.type !== undefined && !(METRIC_TYPES as readonly unknown[]).includes(obj.type)) errors.push({ index, reason: 'unknown_type' });
      else items.push(JSON.stringify(obj));
    });
    return { items, errors };
  }

  function answer(req: http.IncomingMessage, body: Buffer): Answer {
    const problem = (status: number, title: string, extra: Record<string, unknown> = {}) => ({ status, body: JSON.stringify({ type: 'about:blank', title, status, ...extra }) });
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') return problem(415, 'Unsupported Media Type');
    let raw = body;
    if (encoding === 'gzip') {
      try {
        raw = zlib.gunzipSync(body, { maxOutputLength: maxBodyBytes + 1 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || (err as Error).message.includes('Cannot create a Buffer larger')) return problem(413, 'Content Too Large');
        return problem(400, 'Bad Request');
      }
    }
    if (raw.length > maxBodyBytes) return problem(413, 'Content Too Large');
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    let result: { items: string[]; errors: { index: number; reason: string }[] } | undefined;
    if (contentType === 'text/plain') result = validateText(raw.toString('utf8'));
    else if (contentType === 'application/json') result = validateJson(raw.toString('utf8'));
    else return problem(415, 'Unsupported Media Type');
    if (result === undefined) return problem(400, 'Bad Request', { detail: 'body is not JSON' });
    kept.push({ key: req.headers['idempotency-key'] as string | undefined, contentType, items: result.items });
    if (result.errors.length === 0) return { status: 204, body: '' };
    return problem(400, 'Some items were rejected', { accepted: result.items.length, rejected: result.errors.length, errors: result.errors });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      stats.requests++;
      if (state.mode === 'close') {
        req.socket.destroy();
        return;
      }
      if (state.mode === 'hang') return; // Never answers: the agent's request timeout must fire.
      if (req.method !== 'POST' || req.url !== '/ingest') {
        res.writeHead(404).end();
        return;
      }
      if (state.mode === 'unavailable') {
        stats.refusedWhileDown++;
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': String(options.retryAfterSec ?? 1) }).end(JSON.stringify({ status: 503, title: 'Service Unavailable' }));
        return;
      }
      const key = req.headers['idempotency-key'] as string | undefined;
      let a = key === undefined ? undefined : answered.get(key);
      if (a !== undefined) stats.repeatedKeys++;
      else {
        a = answer(req, Buffer.concat(chunks));
        // Only what was kept is remembered: a 413 or 415 kept nothing, so a retry is a new request.
        if (key !== undefined && (a.status === 204 || a.status === 400)) answered.set(key, a);
      }
      if (a.status === 204) res.writeHead(204).end();
      else res.writeHead(a.status, { 'content-type': 'application/problem+json' }).end(a.body);
    });
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url,
    kept,
    stats,
    /** Every item kept, in order, each request counted once per key. */
    items: () => kept.flatMap((k) => k.items),
    setMode(mode: IngestMode) {
      state.mode = mode;
      if (mode === 'ok') for (const s of sockets) s.destroy(); // Hung requests end; the agent retries them.
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export type IngestServer = Awaited<ReturnType<typeof startIngestServer>>;
