/**
 * Why a StatsD line was rejected: the bounded `reason` label of `hourglass_lines_rejected_total`.
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
  // HTTP ingest: a JSON item that is not an object
  'bad_item',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
