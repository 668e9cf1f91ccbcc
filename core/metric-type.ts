/**
 * The metric model every stage shares: the StatsD types a sample can have, and their small wire
 * codes on the bus and in the store.
 */

/** StatsD metric types as they appear after the `|` of a line. */
export const METRIC_TYPES = ['c', 'g', 'ms', 'h', 'd', 's'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

/** Small wire codes for the bus and the store. */
export const TYPE_CODE: Readonly<Record<MetricType, number>> = { c: 1, g: 2, ms: 3, h: 4, d: 5, s: 6 };
export const TYPE_BY_CODE: readonly (MetricType | undefined)[] = [undefined, 'c', 'g', 'ms', 'h', 'd', 's'];
