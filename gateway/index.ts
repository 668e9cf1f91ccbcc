/**
 * gateway/: StatsD in (UDP and TCP listeners, the line parser, the batch builder) and out to a
 * bus publisher.
 */
export { BatchBuilder } from './batch-builder.js';
export { Gateway, type GatewayOptions, type IngestItem, type IngestOutcome } from './gateway.js';
export { registerIngestRoute, spellJsonItem, type IngestRouteOptions } from './http-ingest.js';
export { LineParser, parseDecimal, type RejectSink, type SampleSink } from './line-parser.js';
export { INGEST_STATUSES, TRANSPORTS, createGatewayMetrics, readUdpKernelDrops, type GatewayMetrics } from './metrics.js';
export { REJECT_REASONS, type RejectReason } from './reject-reasons.js';
