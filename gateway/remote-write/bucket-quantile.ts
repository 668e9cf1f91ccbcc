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
