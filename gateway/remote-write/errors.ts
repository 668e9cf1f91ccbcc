/**
 * Every answer of `POST /api/v1/write` other than 204, with a stable code, status and title
 * (RFC 9457 problem details, as the query API answers). SPEC §3.2.
 */
export const REMOTE_WRITE_PROBLEMS = {
  HG_RW_UNDECODABLE: { status: 400, title: 'Undecodable remote write request' },
  HG_RW_TOO_LARGE: { status: 413, title: 'Remote write request too large' },
  HG_RW_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported remote write media type or encoding' },
  HG_RW_UNAVAILABLE: { status: 503, title: 'Cannot take data now' },
  HG_RW_INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type RemoteWriteProblemCode = keyof typeof REMOTE_WRITE_PROBLEMS;

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

export function remoteWriteProblem(code: RemoteWriteProblemCode, detail: string): Problem {
  const { status, title } = REMOTE_WRITE_PROBLEMS[code];
  return { type: `urn:hourglass:problem:${code.slice(3).toLowerCase().replaceAll('_', '-')}`, title, status, detail };
}

/** A request refused before anything of it was kept. */
export class RemoteWriteError extends Error {
  override readonly name = 'RemoteWriteError';
  readonly status: number;
  constructor(
    readonly code: RemoteWriteProblemCode,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.status = REMOTE_WRITE_PROBLEMS[code].status;
  }
}

/**
 * What a sink throws (or the reason it returns false) when it cannot take data now: a full bus,
 * a down publisher. The route answers 503 with Retry-After.
 */
export class SinkUnavailableError extends Error {
  override readonly name = 'SinkUnavailableError';
  readonly code = 'HG_ERR_SINK_UNAVAILABLE';
}
