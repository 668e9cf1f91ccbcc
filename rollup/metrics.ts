/**
 * The rollup's telemetry (SPEC §6): what its drivers report, turned into metrics and log lines.
 * Registered on the process registry the runtime passes in.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS, RateLimitedLog, type Logger } from '../core/index.js';
import type { DriverEvents, FlushOutcome } from './driver.js';
import type { SeriesRefusal } from './rollup.js';
import { SERIES_REFUSAL_REASONS } from './series-budget.js';

/** A refused series' name and tags in the log are cut to this: a runaway name can be long. */
const EXAMPLE_CHARS = 200;

export function createRollupMetrics(registry: Registry) {
  const registers = [registry];
  const buckets = DURATION_BUCKETS_SECONDS;
  return {
    batchesApplied: new Counter({ name: 'hourglass_batches_applied_total', help: 'Bus batches applied by this rollup', registers }),
    batchesRedelivered: new Counter({ name: 'hourglass_batches_redelivered_total', help: 'Redelivered batches recognised as already applied, and skipped', registers }),
    pointsRejected: new Counter({ name: 'hourglass_store_points_rejected_total', help: 'Rollup rows the store refused for good (dead-lettered in the distributed setup)', registers }),
    batchesDeadLettered: new Counter({ name: 'hourglass_batches_dead_lettered_total', help: 'Batches that could never be applied, sent to the dead-letter subject, by reason', labelNames: ['reason'] as const, registers }),
    rollupValuesApplied: new Counter({ name: 'hourglass_rollup_values_applied_total', help: 'Values (and set members) applied to hourly windows', registers }),
    rollupSeries: new Gauge({ name: 'hourglass_rollup_series_in_memory', help: 'Series-hours held in memory by the rollup', registers }),
    rollupFlushDuration: new Histogram({ name: 'hourglass_rollup_flush_duration_seconds', help: 'Time of one rollup flush, store write included', buckets, registers }),
    storeWriteDuration: new Histogram({ name: 'hourglass_store_write_duration_seconds', help: 'Time of one store write (one transaction)', buckets, registers }),
    storeRowsWritten: new Counter({ name: 'hourglass_store_rows_written_total', help: 'Rollup rows written', registers }),
    storeStatsWritten: new Counter({ name: 'hourglass_store_stats_written_total', help: 'rollup_stats points written (statistics of series-hours and name-hours for Grafana)', registers }),
    statsFailed: new Counter({ name: 'hourglass_rollup_stats_failed_total', help: 'Series-hours or name-hours whose statistics could not be computed (their rows were written)', registers }),
    statsStoreReads: new Counter({ name: 'hourglass_rollup_stats_store_reads_total', help: 'Store reads made to compute statistics (tag sets and raw values not in memory after a restart, a handover or late data)', registers }),
    storeReadErrors: new Counter({ name: 'hourglass_store_read_errors_total', help: 'Store reads that failed (the batch waits and is retried)', registers }),
    storeWriteErrors: new Counter({ name: 'hourglass_store_write_errors_total', help: 'Store writes that failed (retried at the next flush)', registers }),
    seriesRefused: zeroed(new Counter({ name: 'hourglass_series_refused_total', help: 'New series refused by the rollup, by reason (series_per_hour: MAX_SERIES_PER_HOUR reached)', labelNames: ['reason'] as const, registers })),
    valuesRefused: zeroed(new Counter({ name: 'hourglass_rollup_values_refused_total', help: 'Values (and set members) of refused series: lost, by reason', labelNames: ['reason'] as const, registers })),
  };
}

/** SPEC §6: a counter with a bounded label set starts at 0 for every value. */
function zeroed(counter: Counter<'reason'>): Counter<'reason'> {
  for (const reason of SERIES_REFUSAL_REASONS) counter.inc({ reason }, 0);
  return counter;
}

export type RollupMetrics = ReturnType<typeof createRollupMetrics>;

/**
 * Turns the reports of a process's drivers into metrics. Each driver (one per owned partition)
 * reports running totals of its own, so each gets its own events object, named by `source`.
 */
export class RollupTelemetry {
  private readonly applied = new Map<string, number>();
  private readonly series = new Map<string, number>();
  private readonly rateLimited: RateLimitedLog;

  constructor(
    private readonly metrics: RollupMetrics,
    private readonly logger: Logger,
    nowMs: () => number = Date.now,
  ) {
    this.rateLimited = new RateLimitedLog(logger, nowMs);
  }

  /** Events of one driver; `dropped` counts a batch it could neither apply nor dead-letter. */
  eventsOf(source: string, dropped: (values: number) => void): DriverEvents {
    const { metrics, logger } = this;
    return {
      applied: () => metrics.batchesApplied.inc(),
      refused: (refusal) => this.refused(refusal, source),
      skipped: () => metrics.batchesRedelivered.inc(),
      deadLettered: (reason) => metrics.batchesDeadLettered.inc({ reason }),
      dropped,
      storeReadFailed: (err) => {
        metrics.storeReadErrors.inc();
        logger.warn({ err: err.message, source }, 'could not read the store to apply a batch; retrying');
      },
      flushed: (outcome) => this.flushed(outcome, source),
    };
  }

  refused(refusal: SeriesRefusal, source: string): void {
    const { reason, series, values, example } = refusal;
    this.metrics.seriesRefused.inc({ reason }, series);
    this.metrics.valuesRefused.inc({ reason }, values);
    this.rateLimited.warn(
      `series_refused_${reason}`,
      { reason, series, values, example: { name: example.name.slice(0, EXAMPLE_CHARS), tags: example.tags.slice(0, EXAMPLE_CHARS), type: example.type, hour: new Date(example.hourSec * 1000).toISOString() }, source },
      'new series refused: MAX_SERIES_PER_HOUR reached for this hour (a metric name holding ids?)',
    );
  }

  /** Removes a source that stopped (a partition handed over), so the series gauge forgets it. */
  forget(source: string): void {
    this.series.delete(source);
    this.applied.delete(source);
    this.metrics.rollupSeries.set(this.totalSeries());
  }

  flushed(outcome: FlushOutcome, source: string): void {
    const { metrics, logger } = this;
    metrics.rollupValuesApplied.inc(Math.max(0, outcome.valuesApplied - (this.applied.get(source) ?? 0)));
    this.applied.set(source, outcome.valuesApplied);
    this.series.set(source, outcome.seriesInMemory);
    metrics.rollupSeries.set(this.totalSeries());
    if (outcome.error) {
      metrics.storeWriteErrors.inc();
      logger.error({ err: outcome.error.message, source }, 'store write failed; retrying at the next flush');
      return;
    }
    const r = outcome.report;
    if (r === undefined) return;
    if (r.rejected.length > 0) {
      metrics.pointsRejected.inc(r.rejected.length);
      logger.error({ rejected: r.rejected.length, first: r.rejected[0].reason, source }, 'the store refused rollup rows for good');
    }
    metrics.statsFailed.inc(r.statsFailed);
    metrics.statsStoreReads.inc(r.statsStoreReads);
    if (r.statsFailed > 0) logger.error({ failed: r.statsFailed, source }, 'statistics of some hours could not be computed; their rows were written');
    if (r.rows === 0) return;
    metrics.storeStatsWritten.inc(r.stats);
    metrics.rollupFlushDuration.observe(r.durationMs / 1000);
    metrics.storeWriteDuration.observe(r.writeMs / 1000);
    metrics.storeRowsWritten.inc(r.rows);
    logger.debug({ rows: r.rows, chunks: r.chunks, durationMs: Math.round(r.durationMs * 10) / 10, source }, 'rollup flushed');
  }

  private totalSeries(): number {
    let total = 0;
    for (const n of this.series.values()) total += n;
    return total;
  }
}
