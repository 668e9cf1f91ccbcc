/**
 * The progress of `hourglass replay` on stderr: a bar on a terminal, a plain line every few
 * seconds otherwise (a log file or CI would fill with a bar's redraws). Both say hours done,
 * batches read, rate and time left. The fraction done is the share of the stream's sequences
 * read: the replay reads every partition in stream order up to the last batch stored when it began.
 */
// cli-progress: a maintained terminal progress bar (redraw, width, ETA smoothing) rather than
// hand-written ANSI handling; used on a TTY only.
import cliProgress from 'cli-progress';
import { SECONDS_PER_HOUR, type Clock } from '../core/index.js';

export interface ProgressState {
  readonly batchesRead: number;
  readonly seq: number;
  readonly storedMs: number;
}

export interface ProgressOptions {
  readonly fromSec: number;
  readonly toSec: number;
  /** The sequences to read: the first at or after the start time is not known up front, so the first one read. */
  readonly throughSeq: number;
  readonly clock: Clock;
  /** process.stderr: a bar when it is a terminal (isTTY), plain lines otherwise. */
  readonly stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;
  /** Plain lines: at most one per this many ms. */
  readonly lineEveryMs?: number;
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return 'unknown';
  const s = Math.max(0, Math.round(sec));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}

export class ReplayProgressReporter {
  private readonly hours: number;
  private readonly startedMs: number;
  private firstSeq: number | undefined;
  private lastLineMs = 0;
  private bar: cliProgress.SingleBar | undefined;
  private last: ProgressState = { batchesRead: 0, seq: 0, storedMs: 0 };

  constructor(private readonly options: ProgressOptions) {
    this.hours = (options.toSec - options.fromSec) / SECONDS_PER_HOUR;
    this.startedMs = options.clock.nowMs();
    if (options.stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          format: 'replay |{bar}| {percentage}% | hours {hoursDone}/{hours} | {batches} batches | {rate} batches/s | {left} left',
          stream: options.stream as NodeJS.WriteStream,
          hideCursor: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(1000, 0, this.payload());
    }
  }

  /** Hours of the range the stream has moved past (late samples may still add to them); all of them at the end. */
  private hoursDone(done: boolean): number {
    if (done) return this.hours;
    const passed = Math.floor((this.last.storedMs / 1000 - this.options.fromSec) / SECONDS_PER_HOUR);
    return Math.min(this.hours, Math.max(0, passed));
  }

  private fraction(done: boolean): number {
    if (done) return 1;
    if (this.firstSeq === undefined) return 0;
    const total = this.options.throughSeq - this.firstSeq + 1;
    return total <= 0 ? 1 : Math.min(1, (this.last.seq - this.firstSeq + 1) / total);
  }

  private payload(done = false) {
    const elapsedSec = Math.max(0.001, (this.options.clock.nowMs() - this.startedMs) / 1000);
    const rate = this.last.batchesRead / elapsedSec;
    const f = this.fraction(done);
    const leftSec = done ? 0 : f > 0 ? (elapsedSec * (1 - f)) / f : Infinity;
    return { hoursDone: this.hoursDone(done), hours: this.hours, batches: this.last.batchesRead, rate: Math.round(rate), left: formatDuration(leftSec), fraction: f };
  }

  update(state: ProgressState): void {
    this.firstSeq ??= state.seq;
    this.last = state;
    const p = this.payload();
    if (this.bar !== undefined) {
      this.bar.update(Math.floor(p.fraction * 1000), p);
      return;
    }
    const now = this.options.clock.nowMs();
    if (now - this.lastLineMs < (this.options.lineEveryMs ?? 2000)) return;
    this.lastLineMs = now;
    this.line(p);
  }

  /** The final state: 100 %, every hour done. */
  finish(): void {
    const p = this.payload(true);
    if (this.bar !== undefined) {
      this.bar.update(1000, p);
      this.bar.stop();
    } else {
      this.line(p);
    }
  }

  private line(p: ReturnType<ReplayProgressReporter['payload']>): void {
    this.options.stream.write(`replay: hours ${p.hoursDone}/${p.hours}, ${p.batches} batches read, ${p.rate} batches/s, ${Math.floor(p.fraction * 100)}%, ${p.left} left\n`);
  }
}
