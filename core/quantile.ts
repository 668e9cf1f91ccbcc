/**
 * Exact weighted quantiles, the definition the SPEC (§4) and the sketch share: over the samples
 * sorted by value with total weight N, the q-quantile is the mean of the first sample whose
 * cumulative weight reaches q*N and the first that passes it. With unit weights and an even count
 * the median is therefore the mean of the two middle samples.
 */

/** Cumulative weights are sums of floats (1/0.3 ...): compare ranks with this relative slack. */
const RANK_EPSILON = 1e-9;

export function rankBounds(q: number, total: number): { reach: number; pass: number } {
  const rank = q * total;
  const slack = RANK_EPSILON * total;
  return { reach: rank - slack, pass: rank + slack };
}

export function exactQuantile(values: ArrayLike<number>, weights: ArrayLike<number> | null, q: number): number {
  return exactQuantiles(values, weights, [q])[0];
}

/**
 * Several quantiles of the same samples with one sort (a flush computes median, p90, p95 and p99
 * of each series-hour and name-hour: one sort instead of four). Each answer is exactQuantile's.
 */
export function exactQuantiles(values: ArrayLike<number>, weights: ArrayLike<number> | null, qs: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) return qs.map(() => NaN);
  // unit weights: a typed array sorted in place (a flush of 10,000 series of 500 values spent 1.6 s
  // sorting index arrays with a comparator, 0.3 s this way)
  if (weights === null) return sortedQuantiles(Float64Array.from(values).sort(), qs);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  return qs.map((q) => {
    const { reach, pass } = rankBounds(q, total);
    let lower = NaN;
    let cumulative = 0;
    for (const i of order) {
      cumulative += weights[i];
      if (Number.isNaN(lower) && cumulative >= reach) lower = values[i];
      if (cumulative > pass) return (lower + values[i]) / 2;
    }
    // q = 1: nothing passes the total; the largest sample stands.
    return (lower + values[order[n - 1]]) / 2;
  });
}

/**
 * Quantiles of unit-weight values already in ascending order (a rollup keeps a series' values so):
 * no copy, no sort, and the ranks found by position rather than by a walk over every value.
 */
export function sortedQuantiles(sorted: ArrayLike<number>, qs: readonly number[]): number[] {
  const n = sorted.length;
  if (n === 0) return qs.map(() => NaN);
  return qs.map((q) => {
    const { reach, pass } = rankBounds(q, n);
    // the walk's answer: the first position whose cumulative weight i + 1 reaches `reach`, and
    // the first whose passes `pass`
    const lower = Math.min(n - 1, Math.max(0, Math.ceil(reach) - 1));
    const upper = Math.min(n - 1, Math.floor(pass));
    return (sorted[lower] + sorted[upper]) / 2;
  });
}
