/**
 * The line model: what a StatsD line becomes once parsed. Owned by gateway/, imported through
 * gateway/index.ts by the rollup and query code.
 */

/** StatsD metric types as they appear after the `|` of a line. */
export const METRIC_TYPES = ['c', 'g', 'ms', 'h', 'd', 's'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

/** Small wire codes for the bus and the store. */
export const TYPE_CODE: Readonly<Record<MetricType, number>> = { c: 1, g: 2, ms: 3, h: 4, d: 5, s: 6 };
export const TYPE_BY_CODE: readonly (MetricType | undefined)[] = [undefined, 'c', 'g', 'ms', 'h', 'd', 's'];

/**
 * Why a line was rejected: the bounded `reason` label of `hourglass_lines_rejected_total`.
 * Never grows at run time.
 */
export const REJECT_REASONS = [
  'bad_name',
  'missing_value',
  'missing_type',
  'unknown_type',
  'bad_value',
  'non_finite',
  'negative_timer',
  'bad_sample_rate',
  'bad_tags',
  'bad_timestamp',
  'bad_section',
  'invalid_utf8',
  'line_too_long',
  'unsupported',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const SECONDS_PER_HOUR = 3600;

/** Start (Unix seconds) of the UTC hour holding `unixSeconds`; hours are half-open. */
export function hourStartSec(unixSeconds: number): number {
  return Math.floor(unixSeconds / SECONDS_PER_HOUR) * SECONDS_PER_HOUR;
}
