/**
 * `hourglass replay --from <time> --to <time>`: rebuilds the hours in [from, to) from the batch
 * stream into the configured store (rollup/replay.ts), while the live roles keep running. It runs
 * to the end and returns its exit code: 0 rebuilt, 1 failed (NATS or the store), 2 refused (bad
 * options, or a stream that no longer holds the range).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { SECONDS_PER_HOUR, hourStartSec, type Clock, type Logger } from '../core/index.js';
import { readStoredBatches, streamExtent, type StreamExtent } from '../bus/index.js';
import { replayHours, type ReplayReport } from '../rollup/index.js';
import type { RollupStore } from '../store/index.js';
import type { Config, NatsConfig } from './config.js';
import { ReplayProgressReporter } from './replay-progress.js';

/** The command's own options (the rest are the settings of config.ts). */
export const REPLAY_OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  'early-sec': { type: 'string' },
} as const;

/**
 * A live worker keeps a closed hour in memory 5 minutes after its end for late samples
 * (rollup.ts) and writes it at its next flush: a replayed hour must be past that, or the worker
 * would overwrite the rebuilt rows with what it holds.
 */
export const CLOSED_AFTER_SEC = 10 * 60;
/** At most a month per run: memory holds the series of the hours being rebuilt. */
export const MAX_REPLAY_HOURS = 31 * 24;
/** Default of --early-sec: how long before `from` the stream is read (see below). */
export const DEFAULT_EARLY_SEC = 300;

export interface ReplayRange {
  readonly fromSec: number;
  readonly toSec: number;
  /**
   * The stream is read from `from` minus this: a sample stamped `|T` ahead of the time its batch
   * was stored (a client clock running fast) sits in a batch stored before its hour. Late samples
   * need nothing: the stream is read up to its end.
   */
  readonly earlySec: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const HOUR_ONLY = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})$/;

/** Unix seconds of an RFC 3339 time or a `YYYY-MM-DDTHH` UTC hour; a string saying what is wrong otherwise. */
export function parseTime(text: string): number | string {
  const hour = HOUR_ONLY.exec(text);
  const full = hour === null ? RFC3339.exec(text) : null;
  const m = hour ?? full;
  if (m === null) return 'expected an RFC 3339 time (2026-11-22T21:00:00Z) or a UTC hour YYYY-MM-DDTHH (2026-11-22T21)';
  const [y, mo, d, h] = [1, 2, 3, 4].map((i) => Number(m[i]));
  const [mi, s] = full === null ? [0, 0] : [Number(m[5]), Number(m[6])];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || mi > 59 || s > 59) return 'not a real date and time';
  let sec = ms / 1000;
  if (full !== null) {
    if (full[7] !== undefined && Number(full[7]) !== 0) return 'must be the start of an hour (no fraction of a second)';
    const zone = full[8];
    if (zone !== 'Z' && zone !== 'z') {
      const sign = zone[0] === '-' ? -1 : 1;
      sec -= sign * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
    }
  }
  if (sec % SECONDS_PER_HOUR !== 0) return 'must be the start of an hour (replay rebuilds whole hours)';
  return sec;
}

const iso = (sec: number) => new Date(sec * 1000).toISOString().replace('.000Z', 'Z');

/** Checks the command's options; every problem is named. */
export function parseReplayRange(values: { from?: string; to?: string; 'early-sec'?: string }, nowMs: number): ReplayRange | { problems: string[] } {
  const problems: string[] = [];
  const time = (flag: 'from' | 'to'): number | undefined => {
    const v = values[flag];
    if (v === undefined || v === '') {
      problems.push(`--${flag}: required (an RFC 3339 time or a UTC hour YYYY-MM-DDTHH)`);
      return undefined;
    }
    const r = parseTime(v);
    if (typeof r === 'string') {
      problems.push(`--${flag} ${JSON.stringify(v)}: ${r}`);
      return undefined;
    }
    return r;
  };
  const fromSec = time('from');
  const toSec = time('to');
  let earlySec = DEFAULT_EARLY_SEC;
  const earlyRaw = values['early-sec'];
  if (earlyRaw !== undefined) {
    if (!/^\d{1,6}$/.test(earlyRaw) || Number(earlyRaw) > 7 * 24 * 3600) problems.push(`--early-sec ${JSON.stringify(earlyRaw)}: expected a whole number of seconds from 0 to 604800`);
    else earlySec = Number(earlyRaw);
  }
  if (fromSec !== undefined && toSec !== undefined) {
    if (toSec <= fromSec) problems.push(`--to ${iso(toSec)}: must be after --from ${iso(fromSec)}`);
    else if ((toSec - fromSec) / SECONDS_PER_HOUR > MAX_REPLAY_HOURS) problems.push(`--from ${iso(fromSec)} --to ${iso(toSec)}: ${(toSec - fromSec) / SECONDS_PER_HOUR} hours; at most ${MAX_REPLAY_HOURS} per run`);
  }
  if (toSec !== undefined) {
    const latestTo = hourStartSec(nowMs / 1000 - CLOSED_AFTER_SEC);
    if (toSec > latestTo) {
      problems.push(`--to ${iso(toSec)}: the hours before it must be closed, and ${CLOSED_AFTER_SEC / 60} minutes past their end (live rollup workers still write them until then); the latest --to now is ${iso(latestTo)}`);
    }
  }
  if (problems.length > 0) return { problems };
  return { fromSec: fromSec as number, toSec: toSec as number, earlySec };
}

/** Why the stream cannot rebuild the range; undefined when it can. */
export function refusalOf(extent: StreamExtent, stream: string, range: ReplayRange): string | undefined {
  if (extent.retention === 'workqueue') return `stream ${stream} has work-queue retention: it deleted every batch once applied, so it holds nothing to replay (README "Rebuilding from the bus")`;
  const readFromMs = (range.fromSec - range.earlySec) * 1000;
  // empty: rebuilding would only delete (a wrong NATS_STREAM, or everything aged out)
  if (extent.messages === 0) return `stream ${stream} holds no batch (first sequence ${extent.firstSeq}): nothing to rebuild from, and the stored hours are left as they are`;
  // sequence 1 still stored: the stream has lost nothing, whatever the age of its first batch
  if (extent.firstSeq <= 1) return undefined;
  if (extent.firstMs === undefined || extent.firstMs > readFromMs) {
    const oldest = extent.firstMs === undefined ? 'it holds no batch' : `its oldest batch was stored at ${new Date(extent.firstMs).toISOString()}`;
    return `stream ${stream} no longer holds the start of the range: ${oldest}, and the replay must read from ${new Date(readFromMs).toISOString()} (--from minus --early-sec ${range.earlySec}); batches before were removed by NATS_MAX_AGE_SEC or NATS_MAX_BYTES`;
  }
  return undefined;
}

export interface ReplayRun {
  readonly config: Config;
  readonly range: ReplayRange;
  readonly store: RollupStore;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly progress: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;
}

/** The outcome: a report, or why it refused (exit 2). Errors (NATS, the store) are thrown. */
export async function runReplay(run: ReplayRun): Promise<{ report: ReplayReport } | { refused: string }> {
  const { config, range, store, logger, clock } = run;
  const nats = config.nats as NatsConfig;
  // no reconnect loop as the roles have: an operator command fails and says so
  const nc = await connect({ servers: nats.url, name: `hourglass-replay-${process.pid}`, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    let extent: StreamExtent;
    try {
      extent = await streamExtent(jsm, nats.stream);
    } catch (err) {
      if (/stream not found/i.test((err as Error).message)) return { refused: `stream ${nats.stream} does not exist on ${nats.url} (NATS_STREAM)` };
      throw err;
    }
    const refusal = refusalOf(extent, nats.stream, range);
    if (refusal !== undefined) return { refused: refusal };
    const log = logger.child({ component: 'replay' });
    log.info({ from: iso(range.fromSec), to: iso(range.toSec), stream: nats.stream, throughSeq: extent.lastSeq }, 'replay started: deleting the hours, then reading the stream');
    const reporter = new ReplayProgressReporter({ fromSec: range.fromSec, toSec: range.toSec, throughSeq: extent.lastSeq, clock, stream: run.progress });
    const batches = readStoredBatches(jetstream(nc), nats.stream, (range.fromSec - range.earlySec) * 1000, extent.lastSeq, extent.lastMs);
    const report = await replayHours(batches, {
      store,
      fromSec: range.fromSec,
      toSec: range.toSec,
      maxSeriesPerHour: config.maxSeriesPerHour,
      clock,
      logger: log,
      onProgress: (p) => reporter.update(p),
    });
    reporter.finish();
    log.info({ ...report }, 'replay done');
    return { report };
  } finally {
    await nc.close().catch(() => undefined);
  }
}
