/**
 * `POST /api/v1/write` (SPEC §3.2) as a Fastify plugin: the body arrives as a Buffer bounded by
 * `maxBodyBytes`, is decoded whole (nothing kept when it cannot be), then converted into the sink.
 * Registered in its own encapsulated context, so its content-type parser and error handler do
 * not change the rest of the app.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { RETRY_AFTER_SEC, problem, sendProblem } from '../../core/index.js';
import { REMOTE_WRITE_STATUSES, createRemoteWriteMetrics } from '../metrics.js';
import { RemoteWriteConverter, SAMPLE_KINDS, SKIP_REASONS, type ConvertResult, type RemoteWriteSink } from './converter.js';
import { decodeRemoteWrite } from './decode.js';
import { RemoteWriteError } from './errors.js';

export const REMOTE_WRITE_PATH = '/api/v1/write';

export interface RemoteWriteOptions {
  /** MAX_HTTP_BODY_BYTES: bound on the compressed body and on its decompressed size. */
  readonly maxBodyBytes: number;
  readonly sink: RemoteWriteSink;
  /** The process's metrics registry; the plugin adds its counters to it. */
  readonly registry: Registry;
  /** Bound on per-series state (default 1,000,000). */
  readonly maxSeries?: number;
  /** Bound on metric family types remembered from 1.0 metadata (default 100,000). */
  readonly maxFamilies?: number;
  /** Seconds in the Retry-After of a 503 (default RETRY_AFTER_SEC, as every endpoint). */
  readonly retryAfterSec?: number;
}

export async function remoteWritePlugin(app: FastifyInstance, options: RemoteWriteOptions): Promise<void> {
  const { maxBodyBytes, sink } = options;
  const retryAfterSec = options.retryAfterSec ?? RETRY_AFTER_SEC;
  const converter = new RemoteWriteConverter(sink, { maxSeries: options.maxSeries, maxFamilies: options.maxFamilies });
  const metrics = createRemoteWriteMetrics(options.registry, () => converter.seriesInMemory);

  // Every body, whatever its type, arrives as a bounded Buffer; the handler answers 415 itself
  // with a detail naming what was sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendProblem(reply, problem('HG_RW_TOO_LARGE', `body is over the limit of ${maxBodyBytes} bytes`));
    if (err.statusCode === 415) return sendProblem(reply, problem('HG_RW_UNSUPPORTED_MEDIA_TYPE', err.message));
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return sendProblem(reply, problem('HG_RW_UNDECODABLE', err.message));
    request.log.error({ err }, 'remote write failed');
    return sendProblem(reply, problem('HG_RW_INTERNAL', 'the request could not be handled'));
  });

  app.addHook('onResponse', async (_request, reply) => {
    const status = String(reply.statusCode);
    metrics.requests.inc({ status: (REMOTE_WRITE_STATUSES as readonly string[]).includes(status) ? status : 'other' });
  });

  const count = (result: ConvertResult) => {
    for (const kind of SAMPLE_KINDS) if (result.received[kind] > 0) metrics.samplesReceived.inc({ kind }, result.received[kind]);
    for (const reason of SKIP_REASONS) if (result.skipped[reason] > 0) metrics.samplesSkipped.inc({ reason }, result.skipped[reason]);
    if (result.seriesEvicted > 0) metrics.seriesEvicted.inc(result.seriesEvicted);
    if (result.familiesEvicted > 0) metrics.familiesEvicted.inc(result.familiesEvicted);
  };

  const unavailable = (reply: FastifyReply, detail: string) => {
    reply.header('Retry-After', String(retryAfterSec));
    return sendProblem(reply, problem('HG_RW_UNAVAILABLE', detail));
  };

  app.post(REMOTE_WRITE_PATH, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let decoded;
    try {
      decoded = decodeRemoteWrite(request.headers['content-type'], request.headers['content-encoding'], body, { maxBodyBytes });
    } catch (err) {
      if (!(err instanceof RemoteWriteError)) throw err;
      request.log.debug({ code: err.code, detail: err.message }, 'remote write refused');
      return sendProblem(reply, problem(err.code, err.message));
    }
    if (sink.accepting?.() === false) return unavailable(reply, 'the gateway cannot take data now; retry later');
    let result: ConvertResult;
    try {
      result = converter.apply(decoded);
    } catch (err) {
      if ((err as Error).name === 'SinkUnavailableError') return unavailable(reply, `the gateway cannot take data now (${(err as Error).message}); retry later`);
      throw err;
    }
    count(result);
    if (decoded.version === '2.0') {
      // Remote write 2.0 "Required Written Response Headers". Native histograms and exemplars
      // are not kept, so none are reported written.
      reply.header('X-Prometheus-Remote-Write-Samples-Written', String(result.samplesWritten));
      reply.header('X-Prometheus-Remote-Write-Histograms-Written', '0');
      reply.header('X-Prometheus-Remote-Write-Exemplars-Written', '0');
    }
    return reply.code(204).send();
  });
}

/** Adds `POST /api/v1/write` to `app` (await it, or let app.ready() load it). */
export function registerRemoteWrite(app: FastifyInstance, options: RemoteWriteOptions) {
  return app.register(remoteWritePlugin, options);
}
