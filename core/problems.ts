/**
 * Every error an Hourglass HTTP endpoint can answer (query API, ingest, ops), with a stable code,
 * status and title (RFC 9457 problem details), in one registry. The `type` is a URN naming the
 * code, so clients can switch on it.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';

export const PROBLEMS = {
  HG_INVALID_KEY: { status: 400, title: 'Invalid key' },
  HG_INVALID_STAT: { status: 400, title: 'Invalid stat type' },
  HG_INVALID_DATE: { status: 400, title: 'Invalid date' },
  HG_INVALID_HOUR: { status: 400, title: 'Invalid hour' },
  HG_INVALID_QUERY: { status: 400, title: 'Invalid query parameter' },
  HG_STAT_NOT_APPLICABLE: { status: 400, title: 'Stat not applicable to this metric type' },
  HG_BAD_REQUEST: { status: 400, title: 'Bad request' },
  HG_NO_DATA: { status: 404, title: 'No data for this key and hour' },
  HG_NO_DATA_IN_DAY: { status: 404, title: 'No data for this key and day' },
  HG_NOT_FOUND: { status: 404, title: 'No such resource' },
  HG_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  HG_MIXED_TYPES: { status: 409, title: 'Key has samples of several metric types' },
  HG_INGEST_REJECTED: { status: 400, title: 'Some items were rejected' },
  HG_BODY_TOO_LARGE: { status: 413, title: 'Body too large' },
  HG_BUS_UNAVAILABLE: { status: 503, title: 'Cannot take data now' },
  HG_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type or encoding' },
  HG_STORE_UNAVAILABLE: { status: 503, title: 'Store unavailable' },
  HG_INTERNAL: { status: 500, title: 'Internal error' },
  // POST /api/v1/write (SPEC §3.2, gateway/remote-write/): codes of their own, so a sender's
  // operator can tell a refused remote write from another endpoint's answer.
  HG_RW_UNDECODABLE: { status: 400, title: 'Undecodable remote write request' },
  HG_RW_TOO_LARGE: { status: 413, title: 'Remote write request too large' },
  HG_RW_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported remote write media type or encoding' },
  HG_RW_UNAVAILABLE: { status: 503, title: 'Cannot take data now' },
  HG_RW_INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
}

export function problem(code: ProblemCode, detail: string): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: `urn:hourglass:problem:${code.slice(3).toLowerCase().replaceAll('_', '-')}`, title, status, detail, code };
}

/** Thrown by request handling; the error handler turns it into problem+json. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

export const fail = (code: ProblemCode, detail: string): never => {
  throw new ProblemError(problem(code, detail));
};

/** Seconds a client should wait before retrying a 503 (a store or bus that cannot take or give data now). */
export const RETRY_AFTER_SEC = 5;

/** Answers a problem as application/problem+json, with the headers its status calls for. */
export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  // an endpoint may have set its own Retry-After (remote write's is configurable)
  if (p.status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(RETRY_AFTER_SEC));
  if (p.status === 405 && !reply.hasHeader('allow')) reply.header('allow', 'GET, HEAD');
  return reply.code(p.status).type('application/problem+json').send(p);
}

/**
 * Every Hourglass HTTP listener answers errors the same way: a ProblemError as itself, a client
 * error Fastify raised (bad body, malformed URL) as HG_BAD_REQUEST, anything else as HG_INTERNAL,
 * and an unknown path as HG_NOT_FOUND with `hint` saying what is served.
 */
export function installProblemHandlers(app: FastifyInstance, hint: string): void {
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof ProblemError) return sendProblem(reply, err.problem);
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 413) return sendProblem(reply, problem('HG_BODY_TOO_LARGE', (err as Error).message));
    if (status === 415) return sendProblem(reply, problem('HG_UNSUPPORTED_MEDIA_TYPE', (err as Error).message));
    if (status !== undefined && status >= 400 && status < 500) return sendProblem(reply, problem('HG_BAD_REQUEST', (err as Error).message));
    request.log.error({ err }, 'request failed');
    return sendProblem(reply, problem('HG_INTERNAL', 'the request failed; see the server log'));
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, problem('HG_NOT_FOUND', `no resource at ${request.method} ${request.url.slice(0, 200)}; ${hint}`)));
}
