/** query/: the HTTP query API over the store's reader (SPEC §4). */
export { QUERY_API_HINT, buildQueryApp, type QueryAppOptions } from './app.js';
export { createQueryMetrics, type QueryMetrics } from './metrics.js';
export { FAMILY_OF, STATS, computeStatistic, isQuantile, rowsAreExact, type Stat, type Statistic } from './statistics.js';
