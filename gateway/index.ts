/**
 * gateway/: StatsD in (UDP and TCP listeners, the line parser, the batch builder) and out to a
 * bus publisher.
 */
export { BatchBuilder } from './batch-builder.js';
export { Gateway, type GatewayOptions } from './gateway.js';
export { LineParser, parseDecimal, type RejectSink, type SampleSink } from './line-parser.js';
export { TRANSPORTS, createGatewayMetrics, readUdpKernelDrops, type GatewayMetrics } from './metrics.js';
export { REJECT_REASONS, type RejectReason } from './reject-reasons.js';
export {
  DEFAULT_BUCKETS,
  DEFAULT_HELP,
  DEFAULT_QUANTILES,
  EXPOSITION_DROP_REASONS,
  Exposition,
  Mapping,
  MappingError,
  TEXT_CONTENT_TYPE,
  defaultMapping,
  escapeMetricName,
  loadMapping,
  startExpositionServer,
  type ExpositionDropReason,
  type ExpositionOptions,
  type ExpositionServerOptions,
  type MappingMatch,
  type MappingRule,
  type RunningExpositionServer,
} from './exposition/index.js';
