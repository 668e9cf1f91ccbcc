/**
 * `hourglass agent` (SPEC §2, §5): follows log files and delivers their lines to a gateway's
 * `POST /ingest`, each exactly once.
 *
 * How exactly once works: a file's bytes are sent in ranges [start, end) that end after a
 * newline. Before a range is sent it is saved as `pending` (atomically, fsynced); the saved offset
 * moves to `end` only after the gateway answered 2xx (or 400: it kept the valid items). After a
 * crash the pending range is read again and sent with the same Idempotency-Key (the file's id and
 * the range), which the gateway counts once. So a crash resends at most that one range.
 *
 * The files are the buffer: while the gateway is down the agent keeps retrying one batch and reads
 * nothing more, so its memory stays at one batch whatever the backlog, and the application only
 * ever shares the files with a reader.
 *
 * Why polling rather than file events: every `pollIntervalMs` the agent expands the globs
 * (tinyglobby) and fstat()s each open file. inotify (fs.watch, chokidar) misses changes made by
 * other hosts on NFS and some overlay/FUSE setups, and coalesces or drops events under load, so
 * every tailer (Vector, Filebeat, Fluent Bit) keeps a periodic scan as the safety net; at one
 * scan per flush interval the scan alone gives the latency we batch at anyway, so events would
 * only add a second code path. Each scan costs one directory walk per glob and one fstat plus one
 * read of at most FINGERPRINT_BYTES per followed file.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
// tinyglobby: glob expansion (`**`, braces, absolute patterns) with picomatch's matching and
// fdir's walker, two small dependencies; already in the tree through vitest, now a runtime one.
// Globs are easy to get subtly wrong by hand (escaping, `**`, dot files).
import { glob } from 'tinyglobby';
import { RateLimitedLog, type Clock, type Logger } from '../core/index.js';
import { GATEWAY_REJECT_REASONS, type AgentMetrics } from './agent-metrics.js';
import { LineDecoder, type AgentFormat } from './format.js';
import { AgentStoppedError, BodyTooLargeError, IngestClient, type Backoff } from './ingest-client.js';
import { readLines, type LineRange } from './line-reader.js';
import { FINGERPRINT_BYTES, OffsetStore, identityOf, startsLike, type FileIdentity, type PendingRange, type SavedFile } from './offset-store.js';

export interface AgentOptions {
  /** AGENT_FILES: globs, absolute or relative to the working folder. */
  readonly patterns: readonly string[];
  readonly format: AgentFormat;
  /** AGENT_GATEWAY_URL. */
  readonly gatewayUrl: string;
  /** DATA_DIR: where the offsets file lives. */
  readonly dataDir: string;
  readonly maxLineBytes: number;
  /** Items per request. */
  readonly maxBatchLines: number;
  /** Bytes of lines per request (kept under the gateway's MAX_HTTP_BODY_BYTES; halved on a 413). */
  readonly maxBatchBytes: number;
  /** How often files are scanned and what they hold is sent (FLUSH_INTERVAL_MS). */
  readonly pollIntervalMs: number;
  /** A file renamed or deleted is read to its end, then kept open this long in case its writer adds a last line. */
  readonly rotatedGraceMs: number;
  /** Files followed at most at once; more matching files wait, counted. */
  readonly maxFiles: number;
  readonly requestTimeoutMs: number;
  readonly backoff: Backoff;
  readonly random: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Scan timing, the grace of rotated files, and the read time stamped on samples without one. */
  readonly clock: Clock;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  /** Tests only: called after the gateway acknowledged a range and before the offset is saved. */
  readonly afterAcknowledged?: () => void;
}

export const AGENT_DEFAULTS = {
  maxBatchBytes: 1024 * 1024,
  rotatedGraceMs: 5_000,
  maxFiles: 1024,
  requestTimeoutMs: 30_000,
  backoff: { initialMs: 200, maxMs: 30_000 },
} as const;

/** The smallest batch a 413 can shrink batches to. */
const MIN_BATCH_BYTES = 16 * 1024;

interface Followed {
  readonly handle: fsp.FileHandle;
  readonly pattern: string;
  path: string;
  identity: FileIdentity;
  /** Names this file (and this generation of it, after a truncation) in Idempotency-Keys. */
  fileId: string;
  offset: number;
  pending: PendingRange | undefined;
  /** Its path no longer leads to it (renamed or deleted): finish it, then let go. */
  rotated: boolean;
  /** When a rotated file was last seen growing or unread. */
  lastActiveMs: number;
  /** Its size when last looked at: what a truncation took before it was read. */
  lastSize: number;
}

/** A new id for a file the agent starts reading from 0. Random, not seeded: it must differ across restarts. */
function newFileId(identity: FileIdentity): string {
  return `${identity.dev}.${identity.ino}.${randomBytes(6).toString('hex')}`;
}

export class Agent {
  private readonly followed: Followed[] = [];
  private readonly store: OffsetStore;
  private readonly client: IngestClient;
  private readonly decoder: LineDecoder;
  private readonly stopController = new AbortController();
  private maxBatchBytes: number;
  private loop: Promise<void> | undefined;
  private refusedLogged = false;
  private readonly log: Logger;

  constructor(private readonly options: AgentOptions) {
    this.store = new OffsetStore(options.dataDir);
    this.decoder = new LineDecoder(options.format, options.maxLineBytes);
    this.maxBatchBytes = options.maxBatchBytes;
    this.log = options.logger.child({ component: 'agent' });
    const nowMs = () => options.clock.nowMs();
    const errors = new RateLimitedLog(this.log, nowMs);
    this.client = new IngestClient({
      gatewayUrl: options.gatewayUrl,
      requestTimeoutMs: options.requestTimeoutMs,
      backoff: options.backoff,
      random: options.random,
      sleep: options.sleep,
      nowMs,
      metrics: options.metrics,
      // One log line per kind per 10 s; the counters count them all.
      onError: (kind, fields) => errors.warn(kind, fields, 'send to gateway failed; retrying with backoff'),
    });
    options.metrics.hooks.beforeCollect = () => this.updateBehind();
  }

  /** True while the last request reached the gateway. */
  get gatewayReachable(): boolean {
    return this.client.reachable;
  }

  /** Loads the saved offsets, matches them to the files there now, and starts following. */
  async start(): Promise<void> {
    const saved = await this.store.load();
    await this.scan(saved);
    await this.save();
    this.loop = this.run();
  }

  /** Stops after the request in flight (its range stays pending and is resent at the next start). */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
    await this.save();
    for (const f of this.followed.splice(0)) await f.handle.close();
  }

  /** Files followed now, for tests and /healthz. */
  files(): readonly { path: string; offset: number; rotated: boolean }[] {
    return this.followed.map((f) => ({ path: f.path, offset: f.offset, rotated: f.rotated }));
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    let lastScanMs = this.options.clock.nowMs();
    while (!signal.aborted) {
      try {
        const busy = await this.pumpRound(signal);
        if (signal.aborted) break;
        // Idle: wait one interval (time-based batching). Busy with a backlog: keep sending, and
        // still scan once per interval so rotation and new files are seen while catching up.
        if (!busy) await this.options.sleep(this.options.pollIntervalMs, signal);
        if (signal.aborted) break;
        if (busy && this.options.clock.nowMs() - lastScanMs < this.options.pollIntervalMs) continue;
        await this.scan(undefined);
        lastScanMs = this.options.clock.nowMs();
      } catch (err) {
        if (err instanceof AgentStoppedError) break;
        // A file vanished mid-read, the disk is full for the offsets file...: log, wait, retry.
        this.log.error({ err }, 'agent cycle failed; retrying');
        await this.options.sleep(this.options.pollIntervalMs, signal);
      }
    }
  }

  /**
   * Expands the globs, opens new files, notices rotation, truncation and deletion of followed
   * ones. `saved` (at start only): the state of the last run, matched to files by identity.
   */
  private async scan(saved: SavedFile[] | undefined): Promise<void> {
    const now = this.options.clock.nowMs();
    const found = new Map<string, { path: string; pattern: string; dev: number; ino: number }>();
    for (const pattern of this.options.patterns) {
      for (const p of await glob([pattern], { absolute: true, onlyFiles: true })) {
        try {
          const stat = await fsp.stat(p);
          const id = `${stat.dev}:${stat.ino}`;
          if (!found.has(id)) found.set(id, { path: p, pattern, dev: stat.dev, ino: stat.ino });
        } catch {
          // Gone between the glob and the stat: the next scan settles it.
        }
      }
    }

    // Files already open: still at a matching path, renamed, deleted, truncated?
    for (const f of [...this.followed]) {
      const id = `${f.identity.dev}:${f.identity.ino}`;
      const at = found.get(id);
      found.delete(id);
      const stat = await f.handle.stat();
      if (at !== undefined) {
        f.path = at.path;
        f.rotated = false;
      } else if (!f.rotated) {
        f.rotated = true;
        f.lastActiveMs = now;
        this.options.metrics.fileEvents.inc({ event: stat.nlink === 0 ? 'deleted' : 'rotated' });
        this.log.info({ path: f.path, deleted: stat.nlink === 0 }, 'file rotated or deleted: finishing it');
      }
      if (await this.resetIfTruncated(f, stat.size, now)) continue;
      if (f.identity.fingerprintBytes < FINGERPRINT_BYTES && stat.size > f.identity.fingerprintBytes) {
        const grown = await identityOf(f.handle);
        f.identity = { ...grown, dev: f.identity.dev, ino: f.identity.ino };
      }
      if (f.rotated) {
        if (stat.size > f.offset || f.pending) f.lastActiveMs = now;
        else if (now - f.lastActiveMs >= this.options.rotatedGraceMs) {
          this.options.metrics.fileEvents.inc({ event: 'finished' });
          this.followed.splice(this.followed.indexOf(f), 1);
          await f.handle.close();
          await this.save();
        }
      }
    }

    const unclaimed = saved ? [...saved] : [];
    for (const candidate of found.values()) {
      if (this.followed.length >= this.options.maxFiles) {
        this.options.metrics.filesRefused.inc();
        if (!this.refusedLogged) this.log.warn({ maxFiles: this.options.maxFiles }, 'more matching files than the agent follows at once; the rest wait');
        this.refusedLogged = true;
        continue;
      }
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(candidate.path, fs.constants.O_RDONLY);
      } catch {
        continue;
      }
      const identity = await identityOf(handle);
      if (identity.dev !== candidate.dev || identity.ino !== candidate.ino) {
        await handle.close(); // Replaced between stat and open: next scan.
        continue;
      }
      const f = await this.resume(handle, identity, candidate.path, candidate.pattern, unclaimed, now);
      this.followed.push(f);
    }

    // At start: saved files no glob matches any more were rotated while the agent was down.
    // Look for them beside their old name (a bounded listing), to finish them.
    for (const s of unclaimed) {
      const f = await this.findRotated(s, now);
      if (f) this.followed.push(f);
      else this.options.metrics.fileEvents.inc({ event: 'deleted' });
    }
    this.options.metrics.filesFollowed.set(this.followed.length);
  }

  /**
   * copytruncate (or a rewrite in place): the file is shorter than what was read, or no longer
   * starts with the bytes it did. What was delivered stays delivered; the new content is read from
   * 0 under a new file id. Returns true when it reset the file.
   */
  private async resetIfTruncated(f: Followed, size: number, now: number): Promise<boolean> {
    if (size >= f.offset && (await startsLike(f.handle, f.identity))) {
      f.lastSize = size;
      return false;
    }
    this.options.metrics.fileEvents.inc({ event: 'truncated' });
    // Bytes seen and not yet read when the file was truncated: only in the rotated copy now.
    if (f.lastSize > f.offset) this.options.metrics.truncatedUnreadBytes.inc(f.lastSize - f.offset);
    this.log.info({ path: f.path, size, offset: f.offset }, 'file truncated: reading it again from the start');
    const identity = await identityOf(f.handle);
    f.identity = { ...identity, dev: f.identity.dev, ino: f.identity.ino };
    f.fileId = newFileId(f.identity);
    f.offset = 0;
    f.pending = undefined;
    f.lastActiveMs = now;
    f.lastSize = size;
    await this.save();
    return true;
  }

  /** A newly opened file: the saved state of the same file if there is one, else read from 0. */
  private async resume(handle: fsp.FileHandle, identity: FileIdentity, filePath: string, pattern: string, unclaimed: SavedFile[], now: number): Promise<Followed> {
    const index = unclaimed.findIndex((s) => s.dev === identity.dev && s.ino === identity.ino);
    if (index !== -1) {
      const s = unclaimed[index];
      unclaimed.splice(index, 1);
      const size = (await handle.stat()).size;
      if ((await startsLike(handle, s)) && size >= s.offset) {
        return { handle, pattern, path: filePath, identity: { ...identity }, fileId: s.fileId, offset: s.offset, pending: s.pending, rotated: false, lastActiveMs: now, lastSize: size };
      }
      // Same inode, other content: replaced (inode reused) or truncated while the agent was down.
      this.options.metrics.fileEvents.inc({ event: 'replaced' });
      this.log.info({ path: filePath }, 'file replaced or truncated while the agent was down: reading it from the start');
    }
    this.options.metrics.fileEvents.inc({ event: 'opened' });
    return { handle, pattern, path: filePath, identity, fileId: newFileId(identity), offset: 0, pending: undefined, rotated: false, lastActiveMs: now, lastSize: 0 };
  }

  private async findRotated(s: SavedFile, now: number): Promise<Followed | undefined> {
    const dir = path.dirname(s.path);
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).slice(0, 10_000);
    } catch {
      return undefined;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      try {
        const stat = await fsp.stat(p);
        if (stat.dev !== s.dev || stat.ino !== s.ino || !stat.isFile()) continue;
        const handle = await fsp.open(p, fs.constants.O_RDONLY);
        if ((await startsLike(handle, s)) && (await handle.stat()).size >= s.offset) {
          this.options.metrics.fileEvents.inc({ event: 'rotated' });
          this.log.info({ path: p, was: s.path }, 'file rotated while the agent was down: finishing it');
          const identity = await identityOf(handle);
          return { handle, pattern: s.pattern, path: p, identity, fileId: s.fileId, offset: s.offset, pending: s.pending, rotated: true, lastActiveMs: now, lastSize: s.offset };
        }
        await handle.close();
      } catch {
        // Vanished meanwhile.
      }
    }
    return undefined;
  }

  /**
   * Sends at most one bounded batch per followed file, so one busy file does not starve the others.
   * Returns true when some file may hold more.
   */
  private async pumpRound(signal: AbortSignal): Promise<boolean> {
    let busy = false;
    for (const f of [...this.followed]) {
      if (signal.aborted) break;
      if (await this.sendNext(f, signal)) busy = true;
    }
    return busy;
  }

  /** Reads and delivers the next range of `f`; false when it holds no complete line beyond its offset. */
  private async sendNext(f: Followed, signal: AbortSignal): Promise<boolean> {
    const size = (await f.handle.stat()).size;
    if (!f.pending && size === f.offset) return false;
    // Checked before and after reading, so a range read across a truncation is never sent.
    if (await this.resetIfTruncated(f, size, this.options.clock.nowMs())) return true;
    const limits = f.pending
      ? { maxLineBytes: this.options.maxLineBytes, maxBatchBytes: Infinity, maxBatchLines: Infinity }
      : { maxLineBytes: this.options.maxLineBytes, maxBatchBytes: this.maxBatchBytes, maxBatchLines: this.options.maxBatchLines };
    const range = await readLines(f.handle, f.pending?.start ?? f.offset, f.pending?.end ?? size, limits);
    if (await this.resetIfTruncated(f, (await f.handle.stat()).size, this.options.clock.nowMs())) return true;
    if (range.end === range.start) return false; // Only a partial last line: it waits for its newline.
    if (f.pending && range.end !== f.pending.end) {
      // The pending range no longer reads the same (shortened underneath): read afresh.
      f.pending = undefined;
      return true;
    }
    await this.deliverRange(f, range, signal);
    return true;
  }

  private async deliverRange(f: Followed, range: LineRange, signal: AbortSignal): Promise<void> {
    const { metrics } = this.options;
    metrics.linesRead.inc(range.lines.length + range.tooLong + range.invalidUtf8 + range.empty);
    if (range.tooLong > 0) metrics.linesRejected.inc({ reason: 'line_too_long' }, range.tooLong);
    if (range.invalidUtf8 > 0) metrics.linesRejected.inc({ reason: 'invalid_utf8' }, range.invalidUtf8);
    // A resent range keeps the read time it was first sent with (same body, same hours).
    const readSec = f.pending?.readSec ?? Math.floor(this.options.clock.nowMs() / 1000);
    const items: string[] = [];
    for (const line of range.lines) {
      const decoded = this.decoder.decode(line, readSec);
      if (decoded.ok) items.push(decoded.item);
      else metrics.linesRejected.inc({ reason: decoded.reason });
    }
    if (items.length === 0) {
      f.offset = range.end;
      f.pending = undefined;
      await this.save();
      return;
    }
    if (!f.pending) {
      f.pending = { start: range.start, end: range.end, readSec };
      await this.save();
    }
    const body = this.options.format.kind === 'json' ? `[${items.join(',')}]` : `${items.join('\n')}\n`;
    const key = `hg-agent-${f.fileId}-${range.start}-${range.end}`;
    try {
      const delivered = await this.client.deliver(body, this.decoder.contentType, key, items.length, signal);
      this.options.afterAcknowledged?.();
      metrics.batchesSent.inc();
      metrics.linesSent.inc(delivered.accepted);
      for (const reason of delivered.rejectedReasons) {
        metrics.linesRefused.inc({ reason: (GATEWAY_REJECT_REASONS as readonly string[]).includes(reason) ? reason : 'other' });
      }
      f.offset = range.end;
      f.pending = undefined;
      await this.save();
    } catch (err) {
      if (!(err instanceof BodyTooLargeError)) throw err;
      // Nothing was kept: forget the range and cut smaller ones.
      this.maxBatchBytes = Math.max(MIN_BATCH_BYTES, Math.floor(this.maxBatchBytes / 2));
      this.log.warn({ maxBatchBytes: this.maxBatchBytes }, 'gateway refused a batch as too large; sending smaller ones');
      f.pending = undefined;
      await this.save();
      if (this.maxBatchBytes === MIN_BATCH_BYTES && range.end - range.start <= MIN_BATCH_BYTES * 2) {
        // Even small batches are refused: the gateway's limit is below one batch; skip the range, counted.
        metrics.linesRefused.inc({ reason: 'other' }, items.length);
        f.offset = range.end;
        await this.save();
      }
    }
  }

  private async save(): Promise<void> {
    const files: SavedFile[] = this.followed.map((f) => ({
      path: f.path,
      pattern: f.pattern,
      dev: f.identity.dev,
      ino: f.identity.ino,
      fingerprintBytes: f.identity.fingerprintBytes,
      fingerprint: f.identity.fingerprint,
      fileId: f.fileId,
      offset: f.offset,
      pending: f.pending,
    }));
    await this.store.save(files);
    this.options.metrics.stateSaves.inc();
  }

  private updateBehind(): void {
    let total = 0;
    const byPattern = new Map<string, number>(this.options.patterns.map((p) => [p, 0]));
    for (const f of this.followed) {
      let size: number;
      try {
        // fstat of an open descriptor: microseconds, and always the file being read, whatever its name now.
        size = fs.fstatSync(f.handle.fd).size;
      } catch {
        continue;
      }
      const behind = Math.max(0, size - f.offset);
      total += behind;
      byPattern.set(f.pattern, (byPattern.get(f.pattern) ?? 0) + behind);
    }
    this.options.metrics.bytesBehind.set(total);
    for (const [pattern, behind] of byPattern) this.options.metrics.patternBytesBehind.set({ pattern }, behind);
  }
}
