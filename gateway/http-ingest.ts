/**
 * HTTP ingest (SPEC §3.1): `POST /ingest` with StatsD lines (text/plain) or JSON objects
 * (application/json), gzip allowed, for apps that cannot send UDP and for `hourglass agent`.
 *
 * Each item is judged alone by the gateway's own line parser (a JSON object is spelled as the
 * StatsD line it means, so both forms name the same series and are counted the same way); the
 * valid items are kept even when others are not. A 2xx means durable (Gateway.ingest). A request
 * repeated with the same Idempotency-Key is answered as the first and counted once: while the
 * first is in flight the retry waits for it; afterwards this process remembers the answer for
 * KEEP_KEYS_MS, and beyond that (or after a restart) the store (embedded) or the JetStream
 * duplicate window (distributed) still recognises the key.
 */
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BusUnavailableError } from '../bus/index.js';
import { METRIC_TYPES, RETRY_AFTER_SEC, problem, sendProblem, type Clock, type Logger } from '../core/index.js';
import type { Gateway, IngestItem, IngestOutcome } from './gateway.js';
import type { GatewayMetrics } from './metrics.js';
import type { RejectReason } from './reject-reasons.js';

export interface IngestRouteOptions {
  readonly gateway: Gateway;
  readonly metrics: GatewayMetrics;
  /** Largest body, compressed and decompressed (MAX_HTTP_BODY_BYTES). */
  readonly maxBodyBytes: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Whether the store already holds a request with this key (embedded default); absent when the bus deduplicates. */
  readonly storedKey?: (key: string) => Promise<boolean>;
}

/** Answers remembered in this process for retries (SPEC: a retry within 10 minutes at least). */
const KEEP_KEYS_MS = 10 * 60_000;
/** Keys remembered at most; the oldest go first (the store or the bus still recognise them). */
const MAX_KEYS = 100_000;
/** Errors listed in a 400 answer at most; `rejected` still counts them all. */
const MAX_ERRORS_LISTED = 1000;
const KEY = /^[\x21-\x7e]{1,200}$/;
const EXCERPT_CHARS = 120;

type Answer = { readonly status: 204 } | { readonly status: 400; readonly outcome: IngestOutcome };

class IdempotencyMemory {
  private readonly answers = new Map<string, { answer: Promise<Answer>; expiresMs: number }>();
  constructor(private readonly clock: Clock) {}

  get(key: string): Promise<Answer> | undefined {
    const entry = this.answers.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresMs < this.clock.nowMs()) {
      this.answers.delete(key);
      return undefined;
    }
    return entry.answer;
  }

  /** Remembers the request in flight; a failed one (503, 500) is forgotten so its retry runs. */
  set(key: string, answer: Promise<Answer>): void {
    if (this.answers.size >= MAX_KEYS) this.answers.delete(this.answers.keys().next().value as string);
    this.answers.set(key, { answer, expiresMs: this.clock.nowMs() + KEEP_KEYS_MS });
    answer.catch(() => this.answers.delete(key));
  }
}

class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

function decodeBody(request: FastifyRequest, body: Buffer, maxBodyBytes: number): Buffer {
  const encoding = String(request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body;
  if (encoding !== 'gzip') throw new BodyError(415, `Content-Encoding ${JSON.stringify(encoding)} is not supported; send gzip or none`);
  try {
    return zlib.gunzipSync(body, { maxOutputLength: maxBodyBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyError(413, `the body is over ${maxBodyBytes} bytes once decompressed (MAX_HTTP_BODY_BYTES)`);
    throw new BodyError(400, `the body is not valid gzip: ${(err as Error).message}`);
  }
}

/** text/plain: one StatsD line per item, counted from 0; empty lines are no items but keep their number. */
function textItems(body: Buffer): (IngestItem | null)[] {
  const items: (IngestItem | null)[] = [];
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(10, start);
    if (end === -1) end = body.length;
    const line = body.subarray(start, end);
    if (end === body.length && line.length === 0) break;
    if (line.length === 0 || (line.length === 1 && line[0] === 13)) items.push(null);
    else if (isUtf8(line)) items.push(line.toString('utf8'));
    else items.push({ rejected: 'invalid_utf8', excerpt: line.toString('latin1', 0, EXCERPT_CHARS) });
    start = end + 1;
  }
  return items;
}

const excerpt = (value: unknown) => JSON.stringify(value)?.slice(0, EXCERPT_CHARS) ?? String(value);
const plainNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const TAG_PART = /^[^,|#\u0000-\u001f\u007f]+$/;

/**
 * A JSON object as the StatsD line it spells (SPEC §3.1):
 * `{"key","value": n | [n...],"type":"ms","rate":0.5,"tags":{"k":"v"},"timestamp":s}`.
 * What cannot be spelled is rejected with the reason the line form would get.
 */
export function spellJsonItem(item: unknown): IngestItem {
  const no = (rejected: RejectReason): IngestItem => ({ rejected, excerpt: excerpt(item) });
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return no('bad_item');
  const o = item as Record<string, unknown>;
  const type = o.type === undefined ? 'ms' : o.type;
  if (typeof type !== 'string' || !(METRIC_TYPES as readonly string[]).includes(type)) return no('unknown_type');
  // `,` `#` `[` `]` would make the spelled line read as InfluxDB, Librato or SignalFx tags
  if (typeof o.key !== 'string' || o.key.length === 0 || /[:|\n\r,#[\]]/.test(o.key)) return no('bad_name');
  const values = Array.isArray(o.value) ? o.value : [o.value];
  if (values.length === 0) return no('missing_value');
  // a set's members may be strings; every other value is a number
  const ok = type === 's' ? values.every((v) => plainNumber(v) || (typeof v === 'string' && v.length > 0 && !/[:|\n\r]/.test(v))) : values.every(plainNumber);
  if (!ok) return no(values.some((v) => v === undefined) ? 'missing_value' : 'bad_value');
  // StatsD packs several values in one line (`k:1:2|ms`), but a set member may hold `:`: one line each
  const heads = type === 's' ? values.map((v) => `${o.key}:${String(v)}|s`) : [`${o.key}:${values.map(String).join(':')}|${type}`];
  let line = '';
  if (o.rate !== undefined) {
    if (!plainNumber(o.rate) || o.rate <= 0 || o.rate > 1) return no('bad_sample_rate');
    line += `|@${o.rate}`;
  }
  if (o.tags !== undefined) {
    if (o.tags === null || typeof o.tags !== 'object' || Array.isArray(o.tags)) return no('bad_tags');
    const tags: string[] = [];
    for (const [k, v] of Object.entries(o.tags)) {
      const value = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
      if (!TAG_PART.test(k) || k.includes(':') || typeof value !== 'string' || !TAG_PART.test(value)) return no('bad_tags');
      tags.push(`${k}:${value}`);
    }
    if (tags.length > 0) line += `|#${tags.join(',')}`;
  }
  if (o.timestamp !== undefined) {
    if (!plainNumber(o.timestamp) || o.timestamp < 0) return no('bad_timestamp');
    line += `|T${Math.floor(o.timestamp)}`;
  }
  return heads.map((h) => h + line).join('\n');
}

function jsonItems(body: Buffer): IngestItem[] {
  if (!isUtf8(body)) throw new BodyError(400, 'the body is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BodyError(400, `the body is not valid JSON: ${(err as Error).message}`);
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).map(spellJsonItem);
}

export function registerIngestRoute(app: FastifyInstance, options: IngestRouteOptions): void {
  const { gateway, metrics, maxBodyBytes, clock, logger } = options;
  const memory = new IdempotencyMemory(clock);

  const answerProblem = (reply: FastifyReply, status: number, p: ReturnType<typeof problem>) => {
    metrics.httpIngestRequests.inc({ status: String(status) });
    return sendProblem(reply, p);
  };

  const run = async (items: readonly (IngestItem | null)[], key: string | undefined): Promise<Answer> => {
    const present: IngestItem[] = [];
    const indexOf: number[] = [];
    items.forEach((item, i) => {
      if (item !== null) {
        present.push(item);
        indexOf.push(i);
      }
    });
    const outcome = await gateway.ingest(present, key);
    if (outcome.rejected === 0) return { status: 204 };
    return { status: 400, outcome: { ...outcome, errors: outcome.errors.map((e) => ({ index: indexOf[e.index], reason: e.reason })) } };
  };

  app.register(async (scope) => {
    // Bodies arrive raw (bounded by bodyLimit, compressed size); this route decodes them itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((err, request, reply) => {
      if ((err as { statusCode?: number }).statusCode === 413) return answerProblem(reply, 413, problem('HG_BODY_TOO_LARGE', `the body is over ${maxBodyBytes} bytes (MAX_HTTP_BODY_BYTES)`));
      metrics.httpIngestRequests.inc({ status: '500' });
      request.log.error({ err }, 'ingest failed');
      logger.error({ err: (err as Error).message }, 'ingest request failed');
      return sendProblem(reply, problem('HG_INTERNAL', 'the request failed; see the server log'));
    });

    scope.post('/ingest', async (request, reply) => {
      const started = performance.now();
      const key = request.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || !KEY.test(key))) {
        return answerProblem(reply, 400, problem('HG_BAD_REQUEST', 'Idempotency-Key must be 1 to 200 visible ASCII characters'));
      }
      const mediaType = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      let items: (IngestItem | null)[];
      try {
        if (mediaType !== 'text/plain' && mediaType !== 'application/json') throw new BodyError(415, `Content-Type ${JSON.stringify(mediaType)} is not accepted; send text/plain (StatsD lines) or application/json`);
        const body = decodeBody(request, (request.body as Buffer | undefined) ?? Buffer.alloc(0), maxBodyBytes);
        items = mediaType === 'text/plain' ? textItems(body) : jsonItems(body);
      } catch (err) {
        if (!(err instanceof BodyError)) throw err;
        const code = err.status === 413 ? 'HG_BODY_TOO_LARGE' : err.status === 415 ? 'HG_UNSUPPORTED_MEDIA_TYPE' : 'HG_BAD_REQUEST';
        return answerProblem(reply, err.status, problem(code, err.message));
      }

      let answer: Promise<Answer>;
      const known = key === undefined ? undefined : memory.get(key);
      if (known !== undefined || (key !== undefined && options.storedKey !== undefined && (await options.storedKey(key)))) {
        metrics.httpIngestDuplicates.inc();
        answer = known ?? Promise.resolve({ status: 204 });
      } else {
        answer = run(items, key);
        if (key !== undefined) memory.set(key, answer);
      }
      let result: Answer;
      try {
        result = await answer;
      } catch (err) {
        if (!(err instanceof BusUnavailableError)) throw err;
        return answerProblem(reply, 503, problem('HG_BUS_UNAVAILABLE', `${err.message}; nothing of this request was kept, retry in ${RETRY_AFTER_SEC} s`));
      }
      metrics.httpIngestDuration.observe((performance.now() - started) / 1000);
      if (result.status === 204) {
        metrics.httpIngestRequests.inc({ status: '204' });
        return reply.code(204).send();
      }
      const { accepted, rejected, errors } = result.outcome;
      metrics.httpIngestRequests.inc({ status: '400' });
      logger.debug({ accepted, rejected }, 'ingest request with rejected items');
      return reply
        .code(400)
        .type('application/problem+json')
        .send({
          ...problem('HG_INGEST_REJECTED', `${rejected} of ${accepted + rejected} items were rejected and not kept; the other ${accepted} were kept`),
          accepted,
          rejected,
          errors: errors.slice(0, MAX_ERRORS_LISTED),
          ...(errors.length > MAX_ERRORS_LISTED ? { errors_truncated: true } : {}),
        });
    });

    const notAllowed = async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.header('allow', 'POST');
      return sendProblem(reply, problem('HG_METHOD_NOT_ALLOWED', '/ingest takes POST only'));
    };
    scope.route({ method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH'], url: '/ingest', handler: notAllowed });
  });
}
