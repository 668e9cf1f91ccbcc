/**
 * From stored rows to one statistic (SPEC §4): the merge is core/statistics.ts, shared with the
 * rollup, which writes the same statistics for Grafana (store/schema.ts `rollup_stats`).
 */
export { BUCKET_UNKNOWN_STATS, FAMILY_OF, STATS, computeStatistic, isBucketRow, isQuantile, rowsAreExact, type Stat, type Statistic } from '../core/index.js';
