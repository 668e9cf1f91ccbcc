/**
 * rollup/: hourly windows per series (rollup.ts, series-state.ts) and the one driver loop that
 * feeds them from a bus source and writes them to the store (driver.ts).
 */
export { RollupDriver, WriteNotAllowedError, type DriverEvents, type DriverOptions, type FlushOutcome } from './driver.js';
export { RollupTelemetry, createRollupMetrics, type RollupMetrics } from './metrics.js';
export { Rollup, type FlushReport, type RejectedRow, type RollupOptions, type SeriesRefusal } from './rollup.js';
export { SERIES_REFUSAL_REASONS, SeriesBudget, type SeriesRefusalReason } from './series-budget.js';
export { replayHours, type ReplayOptions, type ReplayProgress, type ReplayReport } from './replay.js';
