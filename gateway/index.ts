export { BatchBuilder, BatchDecodeError, decodeBatch, encodeBatch, type DecodedBatch, type SeriesBatch } from './batch.js';
export { LineParser, type RejectSink, type SampleSink } from './line-parser.js';
export { METRIC_TYPES, REJECT_REASONS, SECONDS_PER_HOUR, TYPE_CODE, hourStartSec, type MetricType, type RejectReason } from './metric.js';
