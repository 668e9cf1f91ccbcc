/**
 * From stored rows to one statistic (SPEC §4). Pure: the caller fetches rows and, when the
 * answer can be exact, their raw chunks.
 */
import { BucketHistogram, DISTINCT_RELATIVE_ERROR, DistinctCounter, RELATIVE_ACCURACY, Sketch, exactQuantile, isBucketHistogram, type MetricType } from '../core/index.js';
import { EXACT_SAMPLE_LIMIT, type RawChunk, type RollupRow } from '../store/index.js';

export const STATS = ['average', 'min', 'max', 'median', 'count', 'sum', 'p90', 'p95', 'p99'] as const;
export type Stat = (typeof STATS)[number];

const QUANTILE_OF: Partial<Record<Stat, number>> = { median: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export const isQuantile = (stat: Stat) => QUANTILE_OF[stat] !== undefined;

/** Timers, histograms and distributions are one family: they answer together. */
export const FAMILY_OF: Readonly<Record<MetricType, string>> = { ms: 'value', h: 'value', d: 'value', c: 'counter', g: 'gauge', s: 'set' };

export interface Statistic {
  readonly value: number;
  readonly count: number;
  readonly exact: boolean;
  readonly relativeError?: number;
}

/** A remote-written classic histogram's row: bucket counts in place of the sketch (SPEC §3.2). */
export const isBucketRow = (row: RollupRow) => row.type !== 's' && isBucketHistogram(row.sketch);

/** Stats a bucketed histogram cannot answer: its buckets bound no observation from below or above. */
export const BUCKET_UNKNOWN_STATS: readonly Stat[] = ['min', 'max'];

/** True when the raw chunks of these rows hold every value, so quantiles can be exact. */
export function rowsAreExact(rows: readonly RollupRow[]): boolean {
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
export function computeStatistic(stat: Stat, rows: readonly RollupRow[], chunks: readonly RawChunk[] | null): Statistic {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const r of rows) {
    count += r.count;
    sum += r.sum;
    if (r.min < min) min = r.min;
    if (r.max > max) max = r.max;
  }
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
  const q = QUANTILE_OF[stat];
  if (q === undefined) {
    const value = stat === 'count' ? count : stat === 'sum' ? sum : stat === 'min' ? min : stat === 'max' ? max : sum / count;
    return { value, count, exact: true };
  }
  if (chunks !== null) {
    const values: number[] = [];
    const weights: number[] = [];
    for (const c of chunks) {
      for (let i = 0; i < c.values.length; i++) {
        values.push(c.values[i]);
        weights.push(c.weights === null ? 1 : c.weights[i]);
      }
    }
    return { value: exactQuantile(values, weights, q), count, exact: true };
  }
  if (isBucketRow(rows[0])) {
    // Estimated as PromQL's histogram_quantile does (core/bucket-histogram.ts); no relative bound
    // can be given: the error depends on the bucket widths the application chose.
    const buckets = new BucketHistogram();
    for (const r of rows) buckets.merge(BucketHistogram.decode(r.sketch));
    return { value: buckets.quantile(q), count, exact: false };
  }
  const merged = new Sketch();
  for (const r of rows) merged.merge(Sketch.decode(r.sketch));
  // the sketch's buckets can stand a hair outside the exact extremes: clamp to them
  const value = Math.min(max, Math.max(min, merged.quantile(q)));
  return { value, count, exact: false, relativeError: RELATIVE_ACCURACY };
}
