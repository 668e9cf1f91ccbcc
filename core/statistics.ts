/**
 * From rows of one name-hour (or one series-hour) to statistics (SPEC §4): the one merge that
 * both the query API (over stored rows and raw chunks) and the rollup (writing each hour's
 * statistics as plain fields for Grafana, from the same rows and values in memory) use, so the
 * two always give the same numbers. Pure; the rows and chunks are structural, so core/ needs
 * nothing of store/.
 */
import { BucketHistogram, isBucketHistogram } from './bucket-histogram.js';
import { DISTINCT_RELATIVE_ERROR, DistinctCounter } from './distinct-counter.js';
import type { MetricType } from './metric-type.js';
import { exactQuantiles, sortedQuantiles } from './quantile.js';
import { RELATIVE_ACCURACY, Sketch } from './sketch.js';

/** Below this many values in the rows merged, medians and percentiles are exact (SPEC §4). */
export const EXACT_SAMPLE_LIMIT = 10_000;

export const STATS = ['average', 'min', 'max', 'median', 'count', 'sum', 'p90', 'p95', 'p99'] as const;
export type Stat = (typeof STATS)[number];

const QUANTILE_OF: Partial<Record<Stat, number>> = { median: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };
const QUANTILE_STATS = ['median', 'p90', 'p95', 'p99'] as const;
const QUANTILES = QUANTILE_STATS.map((s) => QUANTILE_OF[s] as number);

export const isQuantile = (stat: Stat) => QUANTILE_OF[stat] !== undefined;

/** Timers, histograms and distributions are one family: they answer together. */
export const FAMILIES = ['value', 'counter', 'gauge', 'set'] as const;
export type Family = (typeof FAMILIES)[number];
export const FAMILY_OF: Readonly<Record<MetricType, Family>> = { ms: 'value', h: 'value', d: 'value', c: 'counter', g: 'gauge', s: 'set' };

export interface Statistic {
  readonly value: number;
  readonly count: number;
  readonly exact: boolean;
  readonly relativeError?: number;
}

/** What the merge reads of a stored row (store/schema.ts RollupRow has these fields). */
export interface StatRow {
  readonly type: MetricType;
  readonly count: number;
  readonly n: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** DDSketch, HyperLogLog registers (sets) or bucket counts (remote-written histograms). */
  readonly sketch: Uint8Array;
}

/** What the merge reads of a raw chunk (store/schema.ts RawChunk has these fields). */
export interface StatChunk {
  readonly values: ArrayLike<number>;
  readonly weights: ArrayLike<number> | null;
  readonly members: readonly string[] | null;
  /** The values are in ascending order (and weights null): one such chunk is not sorted again. */
  readonly sorted?: boolean;
}

/** A remote-written classic histogram's row: bucket counts in place of the sketch (SPEC §3.2). */
export const isBucketRow = (row: StatRow) => row.type !== 's' && isBucketHistogram(row.sketch);

/** Stats a bucketed histogram cannot answer: its buckets bound no observation from below or above. */
export const BUCKET_UNKNOWN_STATS: readonly Stat[] = ['min', 'max'];

/** True when the raw chunks of these rows hold every value, so quantiles can be exact. */
export function rowsAreExact(rows: readonly StatRow[]): boolean {
  if (rows.some(isBucketRow)) return false;
  let n = 0;
  for (const r of rows) n += r.n;
  return n <= EXACT_SAMPLE_LIMIT;
}

/**
 * The statistic over rows of one family (all tag sets and writers of a name-hour that the
 * query selected); bucketed histogram rows only with each other, and not for min or max (the
 * caller refuses those). `chunks` must be given for a quantile (or a set count) when rowsAreExact.
 */
export function computeStatistic(stat: Stat, rows: readonly StatRow[], chunks: readonly StatChunk[] | null): Statistic {
  return new RowMerge(rows, chunks).statistic(stat);
}

/**
 * Every statistic that applies to these rows, each what computeStatistic gives, with one merge and
 * one sort: sets get count only, bucketed histograms no min or max.
 */
export function computeStatistics(rows: readonly StatRow[], chunks: readonly StatChunk[] | null): Partial<Record<Stat, Statistic>> {
  const merge = new RowMerge(rows, chunks);
  const out: Partial<Record<Stat, Statistic>> = {};
  if (rows[0].type === 's') {
    out.count = merge.statistic('count');
    return out;
  }
  const bucketed = isBucketRow(rows[0]);
  for (const stat of STATS) if (!(bucketed && BUCKET_UNKNOWN_STATS.includes(stat))) out[stat] = merge.statistic(stat);
  return out;
}

class RowMerge {
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;
  private quantiles: Statistic[] | undefined;

  constructor(
    private readonly rows: readonly StatRow[],
    private readonly chunks: readonly StatChunk[] | null,
  ) {
    for (const r of rows) {
      this.count += r.count;
      this.sum += r.sum;
      if (r.min < this.min) this.min = r.min;
      if (r.max > this.max) this.max = r.max;
    }
  }

  statistic(stat: Stat): Statistic {
    const { rows, chunks, count, sum, min, max } = this;
    if (rows[0].type === 's') {
      // count of distinct members; exact from the stored members while they are few enough
      if (chunks !== null) {
        const members = new Set<string>();
        for (const c of chunks) for (const m of c.members ?? []) members.add(m);
        return { value: members.size, count: members.size, exact: true };
      }
      const union = new DistinctCounter();
      for (const r of rows) union.merge(new DistinctCounter(r.sketch));
      const estimate = union.estimate();
      return { value: estimate, count: estimate, exact: false, relativeError: DISTINCT_RELATIVE_ERROR };
    }
    const q = QUANTILE_STATS.indexOf(stat as (typeof QUANTILE_STATS)[number]);
    if (q < 0) {
      const value = stat === 'count' ? count : stat === 'sum' ? sum : stat === 'min' ? min : stat === 'max' ? max : sum / count;
      return { value, count, exact: true };
    }
    this.quantiles ??= this.allQuantiles();
    return this.quantiles[q];
  }

  /** median, p90, p95, p99 in that order. */
  private allQuantiles(): Statistic[] {
    const { rows, chunks, count, min, max } = this;
    if (chunks !== null) {
      const only = chunks.length === 1 ? chunks[0] : undefined;
      if (only?.sorted === true && only.weights === null) return sortedQuantiles(only.values, QUANTILES).map((value) => ({ value, count, exact: true }));
      const values: number[] = [];
      // weights only when some value has one: unit weights take exactQuantiles' faster path
      const weights: number[] | null = chunks.some((c) => c.weights !== null) ? [] : null;
      for (const c of chunks) {
        for (let i = 0; i < c.values.length; i++) {
          values.push(c.values[i]);
          weights?.push(c.weights === null ? 1 : c.weights[i]);
        }
      }
      return exactQuantiles(values, weights, QUANTILES).map((value) => ({ value, count, exact: true }));
    }
    if (isBucketRow(rows[0])) {
      // Estimated as PromQL's histogram_quantile does (core/bucket-histogram.ts); no relative bound
      // can be given: the error depends on the bucket widths the application chose.
      const buckets = new BucketHistogram();
      for (const r of rows) buckets.merge(BucketHistogram.decode(r.sketch));
      return QUANTILES.map((q) => ({ value: buckets.quantile(q), count, exact: false }));
    }
    const merged = new Sketch();
    for (const r of rows) merged.merge(Sketch.decode(r.sketch));
    // the sketch's buckets can stand a hair outside the exact extremes: clamp to them
    return QUANTILES.map((q) => ({ value: Math.min(max, Math.max(min, merged.quantile(q))), count, exact: false, relativeError: RELATIVE_ACCURACY }));
  }
}
