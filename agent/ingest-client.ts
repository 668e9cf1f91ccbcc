/**
 * Sends one batch to the gateway's `POST /ingest` (SPEC §3.1) and keeps at it until the gateway
 * takes it: exponential backoff with jitter between attempts, at least the Retry-After the
 * gateway asked for. The same body goes with the same Idempotency-Key every time, so a retry of a
 * request that did arrive is counted once.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { AgentMetrics } from './agent-metrics.js';

const gzip = promisify(zlib.gzip);

/** Bodies smaller than this go uncompressed: gzip would save little and cost a header. */
const GZIP_MIN_BYTES = 1024;
/** A Retry-After longer than this is read as this, so a wrong header cannot park the agent for days. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface IngestClientOptions {
  /** The gateway's base URL (AGENT_GATEWAY_URL); `/ingest` is appended. */
  readonly gatewayUrl: string;
  readonly requestTimeoutMs: number;
  readonly backoff: Backoff;
  /** [0, 1): injected so tests see the same delays every run. */
  readonly random: () => number;
  /** Waits `ms` or until `signal` aborts (then resolves early). Injected for tests. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly nowMs: () => number;
  readonly metrics: AgentMetrics;
  readonly onError: (kind: string, fields: Record<string, unknown>) => void;
}

export interface Delivered {
  /** Items the gateway kept. */
  readonly accepted: number;
  /** Reasons the gateway gave for the items it refused (400 with per-item errors). */
  readonly rejectedReasons: readonly string[];
}

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  readonly code = 'HG_ERR_AGENT_BODY_TOO_LARGE';
}

export class AgentStoppedError extends Error {
  override readonly name = 'AgentStoppedError';
  readonly code = 'HG_ERR_AGENT_STOPPED';
}

/** Delay before retry number `attempt` (0-based): half the capped exponential step, plus jitter up to the other half. */
export function backoffDelayMs(attempt: number, backoff: Backoff, random: () => number): number {
  const cap = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return cap / 2 + random() * (cap / 2);
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - nowMs), MAX_RETRY_AFTER_MS);
}

export class IngestClient {
  private readonly url: string;
  /** True after the last attempt succeeded (for /healthz). */
  reachable = false;

  constructor(private readonly options: IngestClientOptions) {
    this.url = new URL('ingest', options.gatewayUrl.endsWith('/') ? options.gatewayUrl : `${options.gatewayUrl}/`).href;
  }

  /**
   * Sends until the gateway answers 2xx or 400 (per-item errors: the valid items were kept).
   * Throws BodyTooLargeError on 413 (nothing kept: send smaller batches) and AgentStoppedError
   * when `signal` aborts.
   */
  async deliver(body: string, contentType: string, idempotencyKey: string, items: number, signal: AbortSignal): Promise<Delivered> {
    const raw = Buffer.from(body);
    const compressed = raw.length >= GZIP_MIN_BYTES;
    const payload = compressed ? await gzip(raw) : raw;
    const headers: Record<string, string> = { 'content-type': contentType, 'idempotency-key': idempotencyKey };
    if (compressed) headers['content-encoding'] = 'gzip';
    const { metrics } = this.options;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw new AgentStoppedError('agent stopping');
      if (attempt > 0) metrics.retries.inc();
      let waitMs: number | undefined;
      const endTimer = metrics.sendDuration.startTimer();
      const deadline = AbortSignal.timeout(this.options.requestTimeoutMs);
      try {
        const response = await fetch(this.url, {
          method: 'POST',
          headers,
          body: payload,
          signal: AbortSignal.any([signal, deadline]),
        });
        const text = await response.text();
        endTimer();
        metrics.requests.inc({ status: String(response.status) });
        if (response.status >= 200 && response.status < 300) {
          this.reachable = true;
          return { accepted: items, rejectedReasons: [] };
        }
        if (response.status === 400) {
          this.reachable = true;
          return readPartial(text, items);
        }
        if (response.status === 413) {
          this.reachable = true;
          throw new BodyTooLargeError(`gateway refused a ${raw.length}-byte body as too large`);
        }
        this.reachable = false;
        metrics.sendErrors.inc({ reason: response.status === 503 ? 'unavailable' : response.status >= 500 ? 'server_error' : 'client_error' });
        this.options.onError(`status_${response.status}`, { status: response.status, detail: text.slice(0, 200) });
        waitMs = retryAfterMs(response.headers.get('retry-after'), this.options.nowMs());
      } catch (err) {
        endTimer();
        if (err instanceof BodyTooLargeError) throw err;
        if (signal.aborted) throw new AgentStoppedError('agent stopping');
        this.reachable = false;
        // the deadline's own state, not the error's name: depending on where the request was
        // (connecting, sending, reading) the rejection is a TimeoutError, an AbortError or a socket error
        const timedOut = deadline.aborted || (err as Error).name === 'TimeoutError';
        metrics.sendErrors.inc({ reason: timedOut ? 'timeout' : 'network' });
        this.options.onError(timedOut ? 'timeout' : 'network', { err: String((err as Error).cause ?? err) });
      }
      const delay = Math.max(waitMs ?? 0, backoffDelayMs(attempt, this.options.backoff, this.options.random));
      await this.options.sleep(delay, signal);
    }
  }
}

/** A 400 problem+json with `errors: [{index, reason}]`; one that is not says every item was refused. */
function readPartial(text: string, items: number): Delivered {
  try {
    const problem = JSON.parse(text) as { accepted?: unknown; errors?: unknown };
    if (Array.isArray(problem.errors)) {
      const reasons = problem.errors.map((e) => String((e as { reason?: unknown })?.reason ?? 'unknown'));
      const accepted = typeof problem.accepted === 'number' ? problem.accepted : Math.max(0, items - reasons.length);
      return { accepted, rejectedReasons: reasons };
    }
  } catch {
    // Not JSON: fall through.
  }
  return { accepted: 0, rejectedReasons: new Array<string>(items).fill('unknown') };
}
