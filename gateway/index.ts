/**
 * gateway/: StatsD in (UDP and TCP listeners, the line parser, the batch builder) and Prometheus
 * remote write in (remote-write/, fed into the same batches through Gateway.sink()), out to a
 * bus publisher.
 */
export { BatchBuilder } from './batch-builder.js';
export { Gateway, type GatewayOptions } from './gateway.js';
export { LineParser, parseDecimal, type RejectSink, type SampleSink } from './line-parser.js';
export { TRANSPORTS, createGatewayMetrics, readUdpKernelDrops, type GatewayMetrics } from './metrics.js';
export { REJECT_REASONS, type RejectReason } from './reject-reasons.js';
export { createRemoteWriteMetrics, type RemoteWriteMetrics } from './metrics.js';
export { REMOTE_WRITE_PATH, RemoteWriteError, SinkUnavailableError, registerRemoteWrite, type HistogramIncrements, type RemoteWriteOptions, type RemoteWriteSink } from './remote-write/index.js';
