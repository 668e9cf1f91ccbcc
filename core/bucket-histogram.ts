/**
 * Classic (Prometheus) histograms as the rollup keeps them for a remote-written histogram
 * (SPEC §3.2): exact count and sum beside, and cumulative bucket counts by `le` bound, from which
 * the median and percentiles are estimated (`"exact": false`). The rollup, the store row (in the
 * sketch bytes, marked by their first byte) and the query share this file.
 */

/** What one remote write request adds to one histogram-hour (all parts additive). */
export interface HistogramIncrements {
  /** `le` bounds, ascending (may end in Infinity); the buckets seen in this request only. */
  readonly upperBounds: ArrayLike<number>;
  /** Increase of the cumulative bucket `le = upperBounds[i]` (a cumulative count, not per bucket). */
  readonly counts: ArrayLike<number>;
  /** Increase of `<name>_count` (observations); 0 when `_count` was not in this request. */
  readonly count: number;
  /** Increase of `<name>_sum`; 0 when `_sum` was not in this request. */
  readonly sum: number;
}

/**
 * The q-quantile estimated from classic histogram buckets, as PromQL's histogram_quantile does
 * it (Prometheus docs, "histogram_quantile"): find the bucket holding rank q * total and
 * interpolate linearly inside it; the lowest bucket starts at 0 when its bound is positive; a
 * rank in the +Inf bucket answers the highest finite bound. For the rollup's estimated median
 * and percentiles of a remote-written histogram (`"exact": false`).
 */
export function bucketQuantile(q: number, upperBounds: ArrayLike<number>, cumulativeCounts: ArrayLike<number>): number {
  const n = upperBounds.length;
  if (n === 0 || !(q >= 0 && q <= 1)) return NaN;
  // Parts of a histogram can arrive in different requests, so the sums of their increases may be
  // briefly out of step: a running maximum keeps the cumulative counts monotonic.
  const cumulative = new Float64Array(n);
  let running = 0;
  for (let i = 0; i < n; i++) {
    running = Math.max(running, cumulativeCounts[i]);
    cumulative[i] = running;
  }
  const total = cumulative[n - 1];
  if (total <= 0) return NaN;
  const rank = q * total;
  let i = 0;
  while (i < n - 1 && cumulative[i] < rank) i++;
  if (upperBounds[i] === Infinity) return i > 0 ? upperBounds[i - 1] : NaN;
  const upper = upperBounds[i];
  let lower: number;
  let below: number;
  if (i === 0) {
    if (upper <= 0) return upper;
    lower = 0;
    below = 0;
  } else {
    lower = upperBounds[i - 1];
    below = cumulative[i - 1];
  }
  const inBucket = cumulative[i] - below;
  if (inBucket <= 0) return upper;
  return lower + ((upper - lower) * (rank - below)) / inBucket;
}

/**
 * First byte of the encoding. A DDSketch (sketch.ts) starts with 1; a store row's sketch bytes
 * starting with this hold a BucketHistogram instead.
 */
export const BUCKET_HISTOGRAM_MARKER = 2;
/** Bounds one histogram keeps; Prometheus clients use tens. Past it, new bounds are ignored (counted by the caller). */
export const MAX_BUCKET_BOUNDS = 256;

/** True when a store row's sketch bytes hold a BucketHistogram. */
export function isBucketHistogram(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 16 && bytes[0] === BUCKET_HISTOGRAM_MARKER;
}

export class BucketHistogramDecodeError extends Error {
  override readonly name = 'BucketHistogramDecodeError';
  readonly code = 'HG_ERR_BUCKET_HISTOGRAM_DECODE';
}

/**
 * Cumulative bucket counts of one histogram-hour (or a merge of several), by `le` bound. Counts
 * only add: increments from different requests, hours' parts and writers merge by addition.
 */
export class BucketHistogram {
  private readonly cumulative = new Map<number, number>();
  /** Increments whose new bounds did not fit under MAX_BUCKET_BOUNDS. */
  boundsRefused = 0;

  get bounds(): number {
    return this.cumulative.size;
  }

  add(upperBounds: ArrayLike<number>, counts: ArrayLike<number>): void {
    for (let i = 0; i < upperBounds.length; i++) this.addAt(upperBounds[i], counts[i]);
  }

  /**
   * A plain observation (a StatsD `h` value sent to the same series-hour): it is in every
   * cumulative bucket whose bound is at or above it.
   */
  addValue(value: number, weight: number): void {
    for (const [bound, count] of this.cumulative) if (value <= bound) this.cumulative.set(bound, count + weight);
  }

  merge(other: BucketHistogram): void {
    for (const [bound, count] of other.cumulative) this.addAt(bound, count);
  }

  quantile(q: number): number {
    const bounds = Float64Array.from(this.cumulative.keys()).sort();
    const counts = new Float64Array(bounds.length);
    for (let i = 0; i < bounds.length; i++) counts[i] = this.cumulative.get(bounds[i]) as number;
    return bucketQuantile(q, bounds, counts);
  }

  // encoding: u8 BUCKET_HISTOGRAM_MARKER | 3 pad | u32 bounds k | 8 pad | f64 bounds[k] | f64 counts[k]

  encode(): Uint8Array {
    const k = this.cumulative.size;
    const bytes = new Uint8Array(16 + 16 * k);
    const view = new DataView(bytes.buffer);
    view.setUint8(0, BUCKET_HISTOGRAM_MARKER);
    view.setUint32(4, k, true);
    let i = 0;
    for (const [bound, count] of this.cumulative) {
      view.setFloat64(16 + i * 8, bound, true);
      view.setFloat64(16 + (k + i) * 8, count, true);
      i++;
    }
    return bytes;
  }

  static decode(bytes: Uint8Array): BucketHistogram {
    if (!isBucketHistogram(bytes)) throw new BucketHistogramDecodeError('not a bucket histogram');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const k = view.getUint32(4, true);
    if (16 + 16 * k > bytes.byteLength) throw new BucketHistogramDecodeError('bucket histogram truncated');
    const histogram = new BucketHistogram();
    for (let i = 0; i < k; i++) histogram.addAt(view.getFloat64(16 + i * 8, true), view.getFloat64(16 + (k + i) * 8, true));
    return histogram;
  }

  private addAt(bound: number, count: number): void {
    const before = this.cumulative.get(bound);
    if (before !== undefined) this.cumulative.set(bound, before + count);
    else if (this.cumulative.size < MAX_BUCKET_BOUNDS) this.cumulative.set(bound, count);
    else this.boundsRefused++;
  }
}
