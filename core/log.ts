/**
 * What every stage needs of logging: the logger type (one pino logger per process, created by
 * runtime/, with a child per component) and rate-limited warnings.
 */
import type { Logger } from 'pino';

export type { Logger };

/**
 * Logs at most one line per `intervalMs` per kind and says how many were held back
 * (STYLE: error logs rate-limited to one per 10 s per kind; a counter always counts them all).
 */
export class RateLimitedLog {
  private readonly lastMs = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly nowMs: () => number,
    private readonly intervalMs = 10_000,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    this.emit('warn', kind, fields, message);
  }

  /** The same for progress lines of a loop that may run many times a second. */
  debug(kind: string, fields: Record<string, unknown>, message: string): void {
    if (this.logger.isLevelEnabled('debug')) this.emit('debug', kind, fields, message);
  }

  private emit(level: 'warn' | 'debug', kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.nowMs();
    const last = this.lastMs.get(kind);
    if (last !== undefined && now - last < this.intervalMs) {
      this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
      return;
    }
    this.lastMs.set(kind, now);
    const held = this.suppressed.get(kind) ?? 0;
    this.suppressed.set(kind, 0);
    this.logger[level]({ kind, ...fields, ...(held > 0 ? { suppressed: held } : {}) }, message);
  }
}
