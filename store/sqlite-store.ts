/**
 * The embedded store: SQLite in WAL mode under DATA_DIR (better-sqlite3, synchronous; it runs in
 * the rollup's thread, and queries read through their own connection). The tables are the three
 * of schema.ts, one column per field.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SECONDS_PER_DAY, type Family, type MetricType } from '../core/index.js';
import { IDEMPOTENCY_KEEP_MS, StoreFencedError, StoreUnavailableError, type RawChunk, type RollupReader, type RollupRow, type RollupStore, type SeriesKey, type StatsRow, type StoredKey, type Watermark, type WriterClaim } from './schema.js';

export const SQLITE_FILE = 'hourglass.sqlite';

const DDL = `
CREATE TABLE IF NOT EXISTS rollup (
  name TEXT NOT NULL, hour INTEGER NOT NULL, tags TEXT NOT NULL, type TEXT NOT NULL, writer TEXT NOT NULL,
  count REAL NOT NULL, n INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL, last REAL,
  sketch BLOB NOT NULL, chunks INTEGER NOT NULL, seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY (name, hour, tags, type, writer)
);
CREATE TABLE IF NOT EXISTS rollup_raw (
  name TEXT NOT NULL, hour INTEGER NOT NULL, tags TEXT NOT NULL, type TEXT NOT NULL, writer TEXT NOT NULL,
  chunk INTEGER NOT NULL, vals BLOB, weights BLOB, members TEXT,
  PRIMARY KEY (name, hour, tags, type, writer, chunk)
);
-- schema.ts StatsRow; merged = 1: a name-hour (tags and type ''), which '' alone could not tell
-- from the tag set of lines sent without tags
CREATE TABLE IF NOT EXISTS rollup_stats (
  name TEXT NOT NULL, hour INTEGER NOT NULL, merged INTEGER NOT NULL, tags TEXT NOT NULL, type TEXT NOT NULL,
  family TEXT NOT NULL, writer TEXT NOT NULL,
  count REAL, n REAL, sum REAL, average REAL, min REAL, max REAL, median REAL, p90 REAL, p95 REAL, p99 REAL,
  exact INTEGER NOT NULL, relative_error REAL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY (name, hour, merged, tags, type, family, writer)
);
CREATE TABLE IF NOT EXISTS rollup_watermark (writer TEXT PRIMARY KEY, seq INTEGER NOT NULL, epoch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS rollup_idempotency (key TEXT PRIMARY KEY, written_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rollup_idempotency_age ON rollup_idempotency (written_ms);
-- the names and their types (GET /-/keys) by index seeks, one per (name, type), however many
-- hours, tag sets and writers a name has; rows are updated in place, so it costs only inserts
CREATE INDEX IF NOT EXISTS rollup_name_type ON rollup (name, type);
-- the series a writer has per hour (MAX_SERIES_PER_HOUR after a restart); one entry per row, made at insert only
CREATE INDEX IF NOT EXISTS rollup_by_hour_writer ON rollup (hour, writer);
`;

interface RowRecord {
  name: string;
  hour: number;
  tags: string;
  type: string;
  writer: string;
  count: number;
  n: number;
  sum: number;
  min: number | null;
  max: number | null;
  last: number | null;
  sketch: Buffer;
  chunks: number;
  seq: number;
  updated_ms: number;
}

interface ChunkRecord {
  name: string;
  hour: number;
  tags: string;
  type: string;
  writer: string;
  chunk: number;
  vals: Buffer | null;
  weights: Buffer | null;
  members: string | null;
}

interface StatsRecord {
  name: string;
  hour: number;
  merged: number;
  tags: string;
  type: string;
  family: string;
  writer: string;
  count: number | null;
  n: number | null;
  sum: number | null;
  average: number | null;
  min: number | null;
  max: number | null;
  median: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  exact: number;
  relative_error: number | null;
  updated_ms: number;
}

const orNaN = (v: number | null) => (v === null ? NaN : v);

export function toStatsRow(r: StatsRecord): StatsRow {
  return {
    name: r.name,
    hourSec: r.hour,
    tags: r.merged === 1 ? null : r.tags,
    type: r.merged === 1 ? null : (r.type as MetricType),
    family: r.family as Family,
    writer: r.writer,
    count: orNaN(r.count),
    n: orNaN(r.n),
    sum: orNaN(r.sum),
    average: orNaN(r.average),
    min: orNaN(r.min),
    max: orNaN(r.max),
    median: orNaN(r.median),
    p90: orNaN(r.p90),
    p95: orNaN(r.p95),
    p99: orNaN(r.p99),
    exact: r.exact === 1,
    relativeError: orNaN(r.relative_error),
    updatedMs: r.updated_ms,
  };
}
const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

function toRow(r: RowRecord): RollupRow {
  return {
    name: r.name,
    hourSec: r.hour,
    tags: r.tags,
    type: r.type as MetricType,
    writer: r.writer,
    count: r.count,
    n: r.n,
    sum: r.sum,
    min: orNaN(r.min),
    max: orNaN(r.max),
    last: orNaN(r.last),
    sketch: new Uint8Array(r.sketch.buffer, r.sketch.byteOffset, r.sketch.byteLength),
    chunks: r.chunks,
    seq: r.seq,
    updatedMs: r.updated_ms,
  };
}

/** A Float64Array over a blob, copied when SQLite's buffer is not 8-byte aligned. */
function float64(blob: Buffer): Float64Array {
  if (blob.byteOffset % 8 === 0) return new Float64Array(blob.buffer, blob.byteOffset, blob.byteLength / 8);
  return new Float64Array(new Uint8Array(blob).buffer);
}

const blob = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function toChunk(r: ChunkRecord): RawChunk {
  return {
    name: r.name,
    hourSec: r.hour,
    tags: r.tags,
    type: r.type as MetricType,
    writer: r.writer,
    chunk: r.chunk,
    values: r.vals === null ? new Float64Array(0) : float64(r.vals),
    weights: r.weights === null ? null : float64(r.weights),
    members: r.members === null ? null : (JSON.parse(r.members) as string[]),
  };
}

export function openDatabase(dataDir: string): Database.Database {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, SQLITE_FILE));
  db.pragma('journal_mode = WAL');
  // NORMAL: a transaction is durable once the WAL is synced at checkpoint; a power cut may lose
  // the last transactions, a process crash loses none (SPEC §5 promises the latter).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // before 0.2 the watermark table was named `watermark`; one name everywhere now (schema.ts)
  const old = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'watermark'").get();
  if (old !== undefined) db.exec('ALTER TABLE watermark RENAME TO rollup_watermark');
  db.exec(DDL);
  // before 0.3 a writer had no epoch (schema.ts claimWriter)
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(rollup_watermark)').all();
  if (!columns.some((c) => c.name === 'epoch')) db.exec('ALTER TABLE rollup_watermark ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0');
  return db;
}

/** A failed read (closed database, I/O error, busy past busy_timeout) is the store being unavailable: 503, retry. */
function read<T>(query: () => T): T {
  try {
    return query();
  } catch (err) {
    throw new StoreUnavailableError(`SQLite read failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads rows and chunks; shared by the store (restarts) and the query service. */
export class SqliteReader implements RollupReader {
  private readonly selectRows;
  private readonly selectKey;
  private readonly selectChunks;
  private readonly selectDayRows;
  private readonly firstNameType;
  private readonly nextNameType;
  private readonly selectStats;

  constructor(protected readonly db: Database.Database) {
    this.selectStats = db.prepare<[string, number], StatsRecord>('SELECT * FROM rollup_stats WHERE name = ? AND hour = ?');
    this.selectRows = db.prepare<[string, number], RowRecord>('SELECT * FROM rollup WHERE name = ? AND hour = ?');
    this.selectKey = db.prepare<[string, number], { found: number }>('SELECT 1 AS found FROM rollup_idempotency WHERE key = ? AND written_ms >= ?');
    this.selectDayRows = db.prepare<[string, number, number], RowRecord>('SELECT * FROM rollup WHERE name = ? AND hour >= ? AND hour < ?');
    this.firstNameType = db.prepare<[string], { name: string; type: string }>('SELECT name, type FROM rollup WHERE name >= ? ORDER BY name, type LIMIT 1');
    // a skip scan: the next distinct (name, type) after the given one, one index seek each
    this.nextNameType = db.prepare<[string, string], { name: string; type: string }>(
      'SELECT name, type FROM rollup WHERE (name, type) > (?, ?) ORDER BY name, type LIMIT 1',
    );
    this.selectChunks = db.prepare<[string, number, string, string, string], ChunkRecord>(
      'SELECT * FROM rollup_raw WHERE name = ? AND hour = ? AND tags = ? AND type = ? AND writer = ? ORDER BY chunk',
    );
  }

  async rows(name: string, hourSec: number): Promise<RollupRow[]> {
    return read(() => this.selectRows.all(name, hourSec).map(toRow));
  }

  async chunks(rows: readonly RollupRow[]): Promise<RawChunk[]> {
    return read(() => {
      const out: RawChunk[] = [];
      for (const r of rows) for (const c of this.selectChunks.all(r.name, r.hourSec, r.tags, r.type, r.writer)) out.push(toChunk(c));
      return out;
    });
  }

  /** The rollup_stats rows of a name-hour (every writer, tag set and family). */
  async stats(name: string, hourSec: number): Promise<StatsRow[]> {
    return read(() => this.selectStats.all(name, hourSec).map(toStatsRow));
  }

  async rowsOfDay(name: string, dayStartSec: number): Promise<RollupRow[]> {
    return read(() => this.selectDayRows.all(name, dayStartSec, dayStartSec + SECONDS_PER_DAY).map(toRow));
  }

  async keys(prefix: string, limit: number): Promise<StoredKey[]> {
    return read(() => this.keysNow(prefix, limit));
  }

  private keysNow(prefix: string, limit: number): StoredKey[] {
    const out: { name: string; types: MetricType[] }[] = [];
    let pair = this.firstNameType.get(prefix);
    // names starting with the prefix are contiguous in byte order
    while (pair !== undefined && pair.name.startsWith(prefix)) {
      const last = out[out.length - 1];
      if (last !== undefined && last.name === pair.name) last.types.push(pair.type as MetricType);
      else if (out.length === limit) break;
      else out.push({ name: pair.name, types: [pair.type as MetricType] });
      pair = this.nextNameType.get(pair.name, pair.type);
    }
    return out;
  }

  /** Whether an HTTP ingest request with this Idempotency-Key was written (within IDEMPOTENCY_KEEP_MS). */
  async hasIdempotencyKey(key: string, nowMs: number): Promise<boolean> {
    return read(() => this.selectKey.get(key, nowMs - IDEMPOTENCY_KEEP_MS) !== undefined);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

export class SqliteStore extends SqliteReader implements RollupStore {
  private readonly selectRow;
  private readonly selectLastGauge;
  private readonly upsertRow;
  private readonly insertChunk;
  private readonly writeAll;
  private readonly upsertWatermark;
  private readonly insertKey;
  private readonly forgetKeys;
  private readonly selectWatermark;
  private readonly countOfHour;
  private readonly claim;
  private readonly deleteRange;
  private readonly upsertStats;

  constructor(db: Database.Database) {
    super(db);
    this.upsertStats = db.prepare(
      `INSERT OR REPLACE INTO rollup_stats (name, hour, merged, tags, type, family, writer, count, n, sum, average, min, max, median, p90, p95, p99, exact, relative_error, updated_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectRow = db.prepare<[string, number, string, string, string], RowRecord>(
      'SELECT * FROM rollup WHERE name = ? AND hour = ? AND tags = ? AND type = ? AND writer = ?',
    );
    this.selectLastGauge = db.prepare<[string, string, number], { last: number }>(
      "SELECT last FROM rollup WHERE name = ? AND tags = ? AND type = 'g' AND hour < ? AND last IS NOT NULL ORDER BY hour DESC, updated_ms DESC LIMIT 1",
    );
    this.upsertRow = db.prepare(
      // an update in place: OR REPLACE would delete and re-insert the row and its index entry
      `INSERT INTO rollup (name, hour, tags, type, writer, count, n, sum, min, max, last, sketch, chunks, seq, updated_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name, hour, tags, type, writer) DO UPDATE SET count = excluded.count, n = excluded.n, sum = excluded.sum,
         min = excluded.min, max = excluded.max, last = excluded.last, sketch = excluded.sketch, chunks = excluded.chunks,
         seq = excluded.seq, updated_ms = excluded.updated_ms`,
    );
    // OR REPLACE: a chunk rewritten after a failed flush carries the same content again.
    this.insertChunk = db.prepare(
      `INSERT OR REPLACE INTO rollup_raw (name, hour, tags, type, writer, chunk, vals, weights, members)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertWatermark = db.prepare('INSERT INTO rollup_watermark (writer, seq) VALUES (?, ?) ON CONFLICT (writer) DO UPDATE SET seq = excluded.seq');
    this.selectWatermark = db.prepare<[string], { seq: number; epoch: number }>('SELECT seq, epoch FROM rollup_watermark WHERE writer = ?');
    this.countOfHour = db.prepare<[number, string], { n: number }>('SELECT count(*) AS n FROM rollup WHERE hour = ? AND writer = ?');
    const deleteRows = db.prepare('DELETE FROM rollup WHERE hour >= ? AND hour < ?');
    const deleteChunks = db.prepare('DELETE FROM rollup_raw WHERE hour >= ? AND hour < ?');
    const deleteStats = db.prepare('DELETE FROM rollup_stats WHERE hour >= ? AND hour < ?');
    // one transaction: a reader never sees rows whose chunks are gone
    this.deleteRange = db.transaction((fromSec: number, toSec: number) => {
      deleteRows.run(fromSec, toSec);
      deleteChunks.run(fromSec, toSec);
      deleteStats.run(fromSec, toSec);
    });
    this.insertKey = db.prepare('INSERT OR IGNORE INTO rollup_idempotency (key, written_ms) VALUES (?, ?)');
    this.forgetKeys = db.prepare('DELETE FROM rollup_idempotency WHERE written_ms < ?');
    const bumpEpoch = db.prepare('INSERT INTO rollup_watermark (writer, seq, epoch) VALUES (?, 0, 1) ON CONFLICT (writer) DO UPDATE SET epoch = epoch + 1');
    // IMMEDIATE (below): take the write lock before reading, so two claims cannot read the same epoch
    this.claim = db.transaction((writer: string): WriterClaim => {
      bumpEpoch.run(writer);
      return this.selectWatermark.get(writer) as WriterClaim;
    });
    this.writeAll = db.transaction((rows: readonly RollupRow[], chunks: readonly RawChunk[], watermark: Watermark | undefined, keys: readonly string[], stats: readonly StatsRow[]) => {
      // the fence, in the same transaction as the rows: a superseded owner writes nothing
      if (watermark?.epoch) {
        const stored = this.selectWatermark.get(watermark.writer)?.epoch ?? 0;
        if (stored > watermark.epoch) throw new StoreFencedError(`writer ${watermark.writer} was claimed by another owner (epoch ${stored} > ${watermark.epoch}); write refused`);
      }
      for (const r of rows) {
        this.upsertRow.run(
          r.name,
          r.hourSec,
          r.tags,
          r.type,
          r.writer,
          r.count,
          r.n,
          r.sum,
          finiteOrNull(r.min),
          finiteOrNull(r.max),
          finiteOrNull(r.last),
          Buffer.from(r.sketch.buffer, r.sketch.byteOffset, r.sketch.byteLength),
          r.chunks,
          r.seq,
          r.updatedMs,
        );
      }
      for (const c of chunks) {
        this.insertChunk.run(
          c.name,
          c.hourSec,
          c.tags,
          c.type,
          c.writer,
          c.chunk,
          c.members === null ? blob(c.values) : null,
          c.weights === null ? null : blob(c.weights),
          c.members === null ? null : JSON.stringify(c.members),
        );
      }
      for (const t of stats) {
        const f = finiteOrNull;
        this.upsertStats.run(
          t.name,
          t.hourSec,
          t.tags === null ? 1 : 0,
          t.tags ?? '',
          t.type ?? '',
          t.family,
          t.writer,
          f(t.count),
          f(t.n),
          f(t.sum),
          f(t.average),
          f(t.min),
          f(t.max),
          f(t.median),
          f(t.p90),
          f(t.p95),
          f(t.p99),
          t.exact ? 1 : 0,
          f(t.relativeError),
          t.updatedMs,
        );
      }
      if (watermark !== undefined) this.upsertWatermark.run(watermark.writer, watermark.seq);
      if (keys.length > 0) {
        const now = Date.now();
        for (const k of keys) this.insertKey.run(k, now);
        this.forgetKeys.run(now - IDEMPOTENCY_KEEP_MS);
      }
    });
  }

  async loadRows(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]> {
    return keys.map((k) => {
      const r = this.selectRow.get(k.name, k.hourSec, k.tags, k.type, writer);
      return r === undefined ? undefined : toRow(r);
    });
  }

  async loadMembers(row: RollupRow): Promise<string[]> {
    return (await this.chunks([row])).flatMap((c) => c.members ?? []);
  }

  async lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined> {
    return this.selectLastGauge.get(name, tags, beforeHourSec)?.last;
  }

  async countRows(hourSec: number, writer: string): Promise<number> {
    return (this.countOfHour.get(hourSec, writer) as { n: number }).n;
  }

  async write(rows: readonly RollupRow[], chunks: readonly RawChunk[], watermark?: Watermark, idempotencyKeys: readonly string[] = [], stats: readonly StatsRow[] = []): Promise<void> {
    // IMMEDIATE: the epoch read and the rows written under one write lock, never interleaved with a claim
    this.writeAll.immediate(rows, chunks, watermark, idempotencyKeys, stats);
  }

  async loadNameHour(name: string, hourSec: number, writer: string): Promise<RollupRow[]> {
    return (await this.rows(name, hourSec)).filter((r) => r.writer === writer);
  }

  async loadChunks(rows: readonly RollupRow[]): Promise<RawChunk[]> {
    // SQLite keeps no chunk past its row's count (one transaction), but a row given here may be older
    const below = new Map(rows.map((r) => [`${r.type}\u0000${r.tags}\u0000${r.name}\u0000${r.hourSec}\u0000${r.writer}`, r.chunks]));
    return (await this.chunks(rows)).filter((c) => c.chunk < (below.get(`${c.type}\u0000${c.tags}\u0000${c.name}\u0000${c.hourSec}\u0000${c.writer}`) ?? 0));
  }

  async claimWriter(writer: string): Promise<WriterClaim> {
    return this.claim.immediate(writer);
  }

  async loadWatermark(writer: string): Promise<number> {
    return this.selectWatermark.get(writer)?.seq ?? 0;
  }

  async deleteHours(fromSec: number, toSec: number): Promise<void> {
    this.deleteRange(fromSec, toSec);
  }
}
