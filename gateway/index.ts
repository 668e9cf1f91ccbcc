/**
 * gateway/: StatsD in (UDP and TCP listeners, the line parser, the batch builder) and Prometheus
 * remote write in (remote-write/, fed into the same batches through Gateway.sink()), out to a
 * bus publisher.
 */
export { BatchBuilder } from './batch-builder.js';
export { Gateway, type GatewayOptions, type IngestItem, type IngestOutcome } from './gateway.js';
export { registerIngestRoute, spellJsonItem, type IngestRouteOptions } from './http-ingest.js';
export { LineParser, parseDecimal, type RejectSink, type SampleSink } from './line-parser.js';
export { INGEST_STATUSES, TRANSPORTS, createGatewayMetrics, readUdpKernelDrops, type GatewayMetrics } from './metrics.js';
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
export { createRemoteWriteMetrics, type RemoteWriteMetrics } from './metrics.js';
export { REMOTE_WRITE_PATH, RemoteWriteError, SinkUnavailableError, registerRemoteWrite, type HistogramIncrements, type RemoteWriteOptions, type RemoteWriteSink } from './remote-write/index.js';
