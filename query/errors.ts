/**
 * Every error the HTTP API can answer, with a stable code, status and title (RFC 9457 problem
 * details). The `type` is a URN naming the code, so clients can switch on it.
 */
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
  HG_STORE_UNAVAILABLE: { status: 503, title: 'Store unavailable' },
  HG_INTERNAL: { status: 500, title: 'Internal error' },
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
