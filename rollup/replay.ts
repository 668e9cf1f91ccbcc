/**
 * Rebuilding hours from the bus (`hourglass replay`): the stored rows and raw chunks of the hours
 * in [fromSec, toSec) are deleted for every writer, then every stored batch is applied again,
 * keeping only its series of those hours, with the same Rollup as the live workers, one per
 * partition and writing as that partition's writer (`p<N>`). Batches of a partition come in
 * stream order, as the live worker applied them, so every statistic comes out as the first time
 * (sums add in the same order; the raw values and the sketch get the same values).
 *
 * What the live workers rely on is left alone: no watermark is written (the replay's sequences
 * may run past a worker's), and each row keeps the sequence of the last batch applied to it, so
 * a live worker that later meets a batch already in a rebuilt row skips it, and one with a newer
 * batch continues the row (rollup.ts). Running it twice deletes and rebuilds the same thing.
 */
import type { Clock, Logger } from '../core/index.js';
import { BatchDecodeError, decodeBatch, writerOfPartition, type DecodedBatch, type StoredBatch } from '../bus/index.js';
import type { RawChunk, RollupRow, RollupStore, StatsRow, Watermark } from '../store/index.js';
import { Rollup } from './rollup.js';
import { SeriesBudget } from './series-budget.js';

export interface ReplayOptions {
  readonly store: RollupStore;
  /** Hour starts: the hours in [fromSec, toSec) are rebuilt. */
  readonly fromSec: number;
  readonly toSec: number;
  /**
   * MAX_SERIES_PER_HOUR, per writer here: a live worker's bound covers all its partitions, so a
   * partition never had more; the replay admits at least what the live worker did.
   */
  readonly maxSeriesPerHour: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Writes every this many applied batches (bounds memory and the work a failure repeats). */
  readonly writeEveryBatches?: number;
  readonly onProgress?: (progress: ReplayProgress) => void;
}

export interface ReplayProgress {
  readonly batchesRead: number;
  /** Batches that held series of the range. */
  readonly batchesApplied: number;
  /** The sequence and store time of the last batch read. */
  readonly seq: number;
  readonly storedMs: number;
}

export interface ReplayReport extends ReplayProgress {
  readonly valuesApplied: number;
  /** Undecodable batches, skipped (the live worker dead-lettered them). */
  readonly batchesUndecodable: number;
  /** New series refused by MAX_SERIES_PER_HOUR, and their values. */
  readonly seriesRefused: number;
  readonly valuesRefused: number;
  /** Rows the store refused for good (as the live worker would have). */
  readonly rowsRejected: number;
  readonly rowsWritten: number;
}

const DEFAULT_WRITE_EVERY_BATCHES = 2000;

/** The store as the replay writes it: rows and chunks, never a watermark nor an idempotency key. */
function withoutWatermarks(store: RollupStore): RollupStore {
  return {
    loadRows: (keys, writer) => store.loadRows(keys, writer),
    loadMembers: (row) => store.loadMembers(row),
    lastGauge: (name, tags, beforeHourSec) => store.lastGauge(name, tags, beforeHourSec),
    countRows: (hourSec, writer) => store.countRows(hourSec, writer),
    loadNameHour: (name, hourSec, writer) => store.loadNameHour(name, hourSec, writer),
    loadChunks: (rows) => store.loadChunks(rows),
    write: async (rows: readonly RollupRow[], chunks: readonly RawChunk[], _watermark?: Watermark, _keys?: readonly string[], stats?: readonly StatsRow[]) => {
      if (rows.length > 0 || chunks.length > 0 || (stats?.length ?? 0) > 0) await store.write(rows, chunks, undefined, undefined, stats);
    },
    loadWatermark: (writer) => store.loadWatermark(writer),
    // claiming would fence the live owner of the partition: the replay writes rows only
    claimWriter: () => Promise.reject(new Error('a replay never claims a writer')),
    deleteHours: (fromSec, toSec) => store.deleteHours(fromSec, toSec),
    close: () => store.close(),
  };
}

export async function replayHours(batches: AsyncIterable<StoredBatch>, options: ReplayOptions): Promise<ReplayReport> {
  const { store, fromSec, toSec, clock, logger, onProgress } = options;
  const writeEvery = options.writeEveryBatches ?? DEFAULT_WRITE_EVERY_BATCHES;
  const target = withoutWatermarks(store);
  const rollups = new Map<number, Rollup>();
  const rollupOf = (partition: number): Rollup => {
    let r = rollups.get(partition);
    if (r === undefined) {
      r = new Rollup({ store: target, writer: writerOfPartition(partition), clock, budget: new SeriesBudget(options.maxSeriesPerHour) });
      rollups.set(partition, r);
    }
    return r;
  };
  const counts = { batchesRead: 0, batchesApplied: 0, seq: 0, storedMs: 0, batchesUndecodable: 0, seriesRefused: 0, valuesRefused: 0, rowsRejected: 0, rowsWritten: 0 };
  const writeAll = async () => {
    for (const r of rollups.values()) {
      const report = await r.flush();
      counts.rowsWritten += report.rows;
      counts.rowsRejected += report.rejected.length;
      for (const { row, reason } of report.rejected) logger.error({ name: row.name, hourSec: row.hourSec, writer: row.writer, reason }, 'the store refused a rebuilt row');
    }
  };

  await store.deleteHours(fromSec, toSec);
  let sinceWrite = 0;
  for await (const b of batches) {
    counts.batchesRead++;
    counts.seq = b.seq;
    counts.storedMs = b.storedMs;
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(b.data);
    } catch (err) {
      if (!(err instanceof BatchDecodeError)) throw err;
      counts.batchesUndecodable++;
      onProgress?.({ ...counts });
      continue;
    }
    const series = batch.series.filter((s) => s.hourSec >= fromSec && s.hourSec < toSec);
    if (series.length > 0) {
      const refusal = await rollupOf(b.partition).apply({ createdMs: batch.createdMs, series }, b.seq);
      if (refusal !== undefined) {
        counts.seriesRefused += refusal.series;
        counts.valuesRefused += refusal.values;
      }
      counts.batchesApplied++;
      if (++sinceWrite >= writeEvery) {
        await writeAll();
        sinceWrite = 0;
      }
    }
    onProgress?.({ ...counts });
  }
  await writeAll();
  let valuesApplied = 0;
  for (const r of rollups.values()) valuesApplied += r.valuesApplied;
  return { ...counts, valuesApplied };
}
