/**
 * The errors of `POST /api/v1/write` (SPEC §3.2). Their codes (HG_RW_*) live in the one problem
 * registry, core/problems.ts, with every other endpoint's.
 */
import { PROBLEMS, type ProblemCode } from '../../core/index.js';

export type RemoteWriteProblemCode = Extract<ProblemCode, `HG_RW_${string}`>;

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
    this.status = PROBLEMS[code].status;
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
