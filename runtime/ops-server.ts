/**
 * What every process serves on HTTP_ADDRESS (SPEC §6): /metrics (its own registry) and /healthz.
 * The query and all roles add them to the query app; the other roles get an app of their own.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { installProblemHandlers, problem, sendProblem } from '../core/index.js';
import type { HostPort } from './config.js';

export interface OpsOptions {
  readonly registry: Registry;
  /** False once the process is shutting down or a part of it has failed. */
  readonly healthy: () => boolean;
  /** Called before /metrics renders, to bring hot-path counters up to date. */
  readonly beforeScrape?: () => void;
  /** More fields for the /healthz body (the agent: whether its gateway answers, files followed). */
  readonly details?: () => Record<string, unknown>;
}

export function registerOpsRoutes(app: FastifyInstance, options: OpsOptions): void {
  app.get('/healthz', async (_request, reply) => {
    const ok = options.healthy();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', ...options.details?.() });
  });
  app.get('/metrics', async (_request, reply) => {
    options.beforeScrape?.();
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
  const notAllowed = async (_request: unknown, reply: FastifyReply) => sendProblem(reply, problem('HG_METHOD_NOT_ALLOWED', '/metrics and /healthz answer GET and HEAD only'));
  for (const url of ['/metrics', '/healthz']) app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url, handler: notAllowed });
}

/** An app with /metrics and /healthz (and what the role adds), for roles without the query API. */
export function buildOpsApp(options: OpsOptions, serves = 'GET /metrics and /healthz'): FastifyInstance {
  const app = Fastify({ logger: false, frameworkErrors: (err, _request, reply) => sendProblem(reply, problem('HG_BAD_REQUEST', err.message)) });
  installProblemHandlers(app, `this process serves ${serves}`);
  registerOpsRoutes(app, options);
  return app;
}

/** Listens and answers the port actually bound (port 0 picks one). */
export async function listen(app: FastifyInstance, address: HostPort): Promise<number> {
  await app.listen({ host: address.host, port: address.port });
  const bound = app.server.address();
  return typeof bound === 'object' && bound !== null ? bound.port : address.port;
}
