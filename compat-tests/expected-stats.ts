/**
 * Expected hourly statistics, computed from the data a test sent and nothing else: this file
 * deliberately shares no code with gateway/, rollup/ or query/, so a bug there cannot cancel out.
 *
 * Definitions (SPEC §3 sample rates, §4 median of an even count):
 * - every value is one sample of weight 1/sample_rate;
 * - count = Σ weight, sum = Σ value·weight, average = sum / count, min/max over the values;
 * - quantile q over the samples sorted by value, N = total weight:
 *   lower = first sample whose cumulative weight ≥ q·N, upper = first whose cumulative weight > q·N,
 *   result = (lower + upper) / 2 (the median of an even count is the mean of the two middles).
 */

export const STATS = ['average', 'min', 'max', 'median', 'count', 'sum', 'p90', 'p95', 'p99'] as const;
export type Stat = (typeof STATS)[number];

export type ExpectedStats = Readonly<Record<Stat, number>>;

export interface WeightedSample {
  readonly value: number;
  readonly weight: number;
}

/** One value as sent with `|@sampleRate` (or without, for 1). */
export function weighted(value: number, sampleRate = 1): WeightedSample {
  return { value, weight: 1 / sampleRate };
}

/** Unit-weight samples, for data sent without a sample rate. */
export function unweighted(values: readonly number[]): WeightedSample[] {
  return values.map((value) => ({ value, weight: 1 }));
}

const QUANTILES: Readonly<Record<'median' | 'p90' | 'p95' | 'p99', number>> = { median: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

function weightedQuantile(sorted: readonly WeightedSample[], totalWeight: number, q: number): number {
  const rank = q * totalWeight;
  let cumulative = 0;
  let lower: number | undefined;
  for (const s of sorted) {
    cumulative += s.weight;
    if (lower === undefined && cumulative >= rank) lower = s.value;
    if (cumulative > rank) return ((lower as number) + s.value) / 2;
  }
  // Only reached for q = 1: the last sample is both neighbours.
  const last = sorted[sorted.length - 1].value;
  return ((lower ?? last) + last) / 2;
}

export function expectedStats(samples: readonly WeightedSample[]): ExpectedStats {
  if (samples.length === 0) throw new Error('expectedStats: no samples');
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const s of samples) {
    count += s.weight;
    sum += s.value * s.weight;
    if (s.value < min) min = s.value;
    if (s.value > max) max = s.value;
  }
  const sorted = [...samples].sort((a, b) => a.value - b.value);
  return {
    average: sum / count,
    min,
    max,
    count,
    sum,
    median: weightedQuantile(sorted, count, QUANTILES.median),
    p90: weightedQuantile(sorted, count, QUANTILES.p90),
    p95: weightedQuantile(sorted, count, QUANTILES.p95),
    p99: weightedQuantile(sorted, count, QUANTILES.p99),
  };
}

/** A gauge line: `g:10|g` sets, `g:+3|g` / `g:-3|g` move the current value (SPEC §3). */
export type GaugeUpdate = { readonly set: number } | { readonly delta: number };

/**
 * The gauge's value after each update, starting from 0. SPEC §4 does not say what the hourly
 * statistics of a gauge are; these tests take every reading (the value after each line) as one
 * sample, the same way a value metric is summarised.
 */
export function gaugeReadings(updates: readonly GaugeUpdate[]): number[] {
  let current = 0;
  return updates.map((u) => {
    current = 'set' in u ? u.set : current + u.delta;
    return current;
  });
}

/** Relative comparison for floating point (1e-9), absolute near zero. */
export function closeTo(actual: number, expected: number, relativeTolerance = 1e-9): boolean {
  if (actual === expected) return true;
  return Math.abs(actual - expected) <= relativeTolerance * Math.max(Math.abs(expected), Math.abs(actual), 1e-6);
}
