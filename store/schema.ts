/**
 * The store contract, described once: what the rollup writes, what the query service reads, the
 * two errors a store raises. store/ owns it; the rollup and the query service import it through
 * store/index.ts. Every store (SQLite: sqlite-store.ts; InfluxDB: influx-line-protocol.ts) holds
 * the same three things under the same names:
 *
 * - `rollup`: a row per (name, hour, tags, type, writer) with the fields of RollupRow: the
 *   writer's cumulative state of that series-hour (count, sum, min, max, sketch), rewritten in
 *   place at each flush, so a rewrite overwrites and never adds;
 * - `rollup_raw`: raw chunks (RawChunk), the values themselves, appended once per flush while the
 *   writer has seen at most EXACT_SAMPLE_LIMIT values of the series-hour, so medians and
 *   percentiles stay exact there;
 * - `rollup_stats`: the statistics of each series-hour and of each name-hour (StatsRow), as plain
 *   numbers for Grafana, which cannot merge sketches or raw values: rewritten at each flush by the
 *   writer of the name (one bus partition holds every tag set of a name), with the numbers the
 *   query API computes from `rollup` and `rollup_raw` (core/statistics.ts, one implementation).
 *   Derived data: deleting an hour range (replay) must delete these points with the rest, and a
 *   rewrite of the hour writes them again;
 * - `rollup_watermark`: per writer, the last bus sequence whose every value is written;
 * - `rollup_idempotency` (SQLite only): the Idempotency-Key of each HTTP ingest request written,
 *   kept IDEMPOTENCY_KEEP_MS (SPEC §3.1: at least 10 minutes, across restarts). The distributed
 *   setup needs no table: the key becomes the JetStream message id, and the stream's duplicate
 *   window drops a retry.
 *
 * A query merges the rows of every writer and tag set of a name-hour: a few rows, whatever the
 * number of samples, which keeps closed-hour queries fast.
 */
import type { Family, MetricType } from '../core/index.js';

/** Below this many values in a name-hour, medians and percentiles are exact (SPEC §4); defined in core/statistics.ts with the merge. */
export { EXACT_SAMPLE_LIMIT } from '../core/index.js';

/** How long the embedded store remembers an HTTP ingest Idempotency-Key (SPEC §3.1 asks 10 minutes at least). */
export const IDEMPOTENCY_KEEP_MS = 24 * 3600 * 1000;


export interface SeriesKey {
  readonly name: string;
  readonly tags: string;
  readonly type: MetricType;
  readonly hourSec: number;
}

export interface RollupRow extends SeriesKey {
  /** Who wrote it: "embedded", or a partition of the distributed bus. */
  readonly writer: string;
  /** Sum of weights (1/sample_rate); for sets, distinct members. */
  readonly count: number;
  /** Values received (unweighted); decides exactness. For sets, distinct members. */
  readonly n: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** Gauges: the value after the last update; NaN otherwise. */
  readonly last: number;
  /**
   * DDSketch bytes (core/sketch.ts, first byte 1); for sets, HyperLogLog registers
   * (distinct-counter.ts); for a remote-written classic histogram, its cumulative bucket counts
   * (core/bucket-histogram.ts, first byte BUCKET_HISTOGRAM_MARKER), min and max then not finite.
   * The same bytes in SQLite (a BLOB) and InfluxDB (base64), so neither schema changed.
   */
  readonly sketch: Uint8Array;
  /** Raw chunks written so far for this row (the next chunk's number). */
  readonly chunks: number;
  /** Last bus sequence applied (distributed exactly-once); 0 in the embedded default. */
  readonly seq: number;
  readonly updatedMs: number;
}

export interface RawChunk extends SeriesKey {
  readonly writer: string;
  readonly chunk: number;
  readonly values: Float64Array;
  /** null when every weight is 1. */
  readonly weights: Float64Array | null;
  /** Sets: the members first seen in this chunk. */
  readonly members: readonly string[] | null;
}

/**
 * The statistics of one series-hour (`tags` and `type` given) or of one name-hour (`tags` and
 * `type` null: every tag set and type of `family` this writer holds, merged), as the query API
 * answers them: for a series-hour with `?tag=` selecting exactly that tag set and `?type=`; for a
 * name-hour with no filter when the name-hour holds one family and one writer. Statistics that do
 * not apply are NaN (sets: only count; remote-written histograms: no min or max).
 */
export interface StatsRow {
  readonly name: string;
  readonly hourSec: number;
  /** null: every tag set of the name merged. */
  readonly tags: string | null;
  /** null: every type of the family merged. */
  readonly type: MetricType | null;
  readonly family: Family;
  readonly writer: string;
  readonly count: number;
  /** Values received (unweighted), as RollupRow.n summed. */
  readonly n: number;
  readonly sum: number;
  readonly average: number;
  readonly min: number;
  readonly max: number;
  readonly median: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  /** Whether the quantiles (sets: the count) are exact. */
  readonly exact: boolean;
  /** The quantiles' relative error bound when not exact and one can be given; NaN otherwise. */
  readonly relativeError: number;
  readonly updatedMs: number;
}

/** What the rollup needs from a store. */
export interface RollupStore {
  /** The stored rows of these series-hours for this writer (undefined where none). */
  loadRows(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]>;
  /**
   * Every row this writer has stored for a name-hour (all tag sets and types): a name-hour's
   * statistics after a restart or handover, when memory holds only the series seen since.
   */
  loadNameHour(name: string, hourSec: number, writer: string): Promise<RollupRow[]>;
  /** The raw chunks numbered below each row's `chunks` (the values an exact statistic needs). */
  loadChunks(rows: readonly RollupRow[]): Promise<RawChunk[]>;
  /** Sets: every member stored for this row (to continue counting distinct members). */
  loadMembers(row: RollupRow): Promise<string[]>;
  /** The value of a gauge after its last update before `beforeHourSec`, if any. */
  lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined>;
  /** How many rows (series) this writer has stored for the hour: the series bound survives restarts. */
  countRows(hourSec: number, writer: string): Promise<number>;
  /**
   * Writes rows (overwriting) and chunks (appending), then the writer's watermark: the last bus
   * sequence whose every value is in the rows written (distributed; absent in the embedded default).
   * `idempotencyKeys`: HTTP ingest requests whose values these rows hold, remembered with them in
   * the same transaction (embedded default; see IDEMPOTENCY_KEEP_MS). `stats` overwrite
   * (`rollup_stats`), written with the rows and before the watermark.
   */
  write(rows: readonly RollupRow[], chunks: readonly RawChunk[], watermark?: Watermark, idempotencyKeys?: readonly string[], stats?: readonly StatsRow[]): Promise<void>;
  /** The writer's last written watermark; 0 when none. */
  loadWatermark(writer: string): Promise<number>;
  /**
   * Takes over a writer identity: returns its watermark and a new epoch, higher than any before,
   * in one step. A write whose watermark carries a lower epoch is refused afterwards
   * (StoreFencedError), so a superseded owner of a partition cannot overwrite its successor.
   * Stores that cannot check it (InfluxDB: no transactions) return epoch 0 and never refuse.
   */
  claimWriter(writer: string): Promise<WriterClaim>;
  /**
   * Deletes the rows and raw chunks of every writer for the hours in [fromSec, toSec) (hour
   * starts), so `hourglass replay` can recompute them from the bus; watermarks stay.
   */
  deleteHours(fromSec: number, toSec: number): Promise<void>;
  close(): Promise<void>;
}

export interface Watermark {
  readonly writer: string;
  readonly seq: number;
  /** The writer's epoch from claimWriter; absent or 0: not checked. */
  readonly epoch?: number;
}

export interface WriterClaim {
  readonly seq: number;
  readonly epoch: number;
}

/** What the query service needs from a store. */
export interface RollupReader {
  /** Every row of a name-hour: all tag sets, types and writers. */
  rows(name: string, hourSec: number): Promise<RollupRow[]>;
  /** The raw chunks of these rows. */
  chunks(rows: readonly RollupRow[]): Promise<RawChunk[]>;
  /**
   * The `rollup_stats` points of a name-hour (every writer, tag set and family), so the query API
   * can answer from one point instead of a merge. Optional: a reader without it (Flux, for now)
   * always merges.
   */
  stats?(name: string, hourSec: number): Promise<StatsRow[]>;
  /** Every row of a name over the 24 hours from `dayStartSec`: the day form of the query API (SPEC §4.1). */
  rowsOfDay(name: string, dayStartSec: number): Promise<RollupRow[]>;
  /**
   * The names that hold data and start with `prefix`, in the store's order of names (byte order
   * of UTF-8), at most `limit` of them, each with the types it was sent as.
   */
  keys(prefix: string, limit: number): Promise<StoredKey[]>;
  close(): Promise<void>;
}

export interface StoredKey {
  readonly name: string;
  readonly types: readonly MetricType[];
}

/** The store could not be reached or failed; a query answers 503. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'HG_ERR_STORE_UNAVAILABLE';
}

/**
 * The writer identity was claimed by another owner since this one claimed it: nothing of the write
 * was kept. Not retryable and never acknowledged: the batches go to the new owner.
 */
export class StoreFencedError extends Error {
  override readonly name = 'StoreFencedError';
  readonly code = 'HG_ERR_STORE_FENCED';
}

/** The store refused the data for good (a bad point): retrying cannot help; dead-letter it. */
export class StoreRejectedError extends Error {
  override readonly name = 'StoreRejectedError';
  readonly code = 'HG_ERR_STORE_REJECTED';
}
