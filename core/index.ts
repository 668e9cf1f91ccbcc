/**
 * core/: the value types and small services every stage shares, and nothing else. It imports no
 * other folder of Hourglass. The pipeline (gateway -> bus -> rollup -> store -> query) and the
 * wiring (runtime/) import it.
 */
export { BUCKET_HISTOGRAM_MARKER, BucketHistogram, BucketHistogramDecodeError, MAX_BUCKET_BOUNDS, bucketQuantile, isBucketHistogram, type HistogramIncrements } from './bucket-histogram.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { DISTINCT_RELATIVE_ERROR, DistinctCounter } from './distinct-counter.js';
export { MS_PER_HOUR, SECONDS_PER_DAY, SECONDS_PER_HOUR, hourEndMs, hourOfMs, hourStartSec } from './hours.js';
export { RateLimitedLog, type Logger } from './log.js';
export { METRIC_TYPES, TYPE_BY_CODE, TYPE_CODE, type MetricType } from './metric-type.js';
export { PROBLEMS, ProblemError, RETRY_AFTER_SEC, fail, installProblemHandlers, problem, sendProblem, type Problem, type ProblemCode } from './problems.js';
export { exactQuantile, exactQuantiles, rankBounds } from './quantile.js';
export { RELATIVE_ACCURACY, Sketch } from './sketch.js';
export {
  BUCKET_UNKNOWN_STATS,
  EXACT_SAMPLE_LIMIT,
  FAMILIES,
  FAMILY_OF,
  STATS,
  computeStatistic,
  computeStatistics,
  isBucketRow,
  isQuantile,
  rowsAreExact,
  type Family,
  type Stat,
  type StatChunk,
  type StatRow,
  type Statistic,
} from './statistics.js';
export { DURATION_BUCKETS_SECONDS } from './telemetry.js';
