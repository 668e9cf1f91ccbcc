/**
 * The gateway's telemetry (SPEC §6): names end in their unit and `_total` for counters; labels are
 * bounded. Registered on the process registry the runtime passes in.
 */
import fs from 'node:fs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS } from '../core/index.js';
import { REJECT_REASONS } from './reject-reasons.js';
import { SAMPLE_KINDS, SKIP_REASONS } from './remote-write/converter.js';

export const TRANSPORTS = ['udp', 'tcp', 'http'] as const;
/** The answers of POST /ingest (SPEC §3.1), the bounded `status` label. */
export const INGEST_STATUSES = ['204', '400', '413', '415', '503', '500'] as const;

export function createGatewayMetrics(registry: Registry) {
  const registers = [registry];
  const metrics = {
    linesReceived: new Counter({ name: 'hourglass_lines_received_total', help: 'StatsD lines received (valid or not), by transport', labelNames: ['transport'] as const, registers }),
    linesRejected: new Counter({ name: 'hourglass_lines_rejected_total', help: 'StatsD lines rejected, by reason', labelNames: ['reason'] as const, registers }),
    datagramsReceived: new Counter({ name: 'hourglass_udp_datagrams_received_total', help: 'UDP datagrams received', registers }),
    udpReceiveDrops: new Counter({ name: 'hourglass_udp_receive_drops_total', help: "Datagrams the kernel dropped for this process's UDP socket (full receive buffer)", registers }),
    udpReceiveBufferBytes: new Gauge({ name: 'hourglass_udp_receive_buffer_bytes', help: 'Receive buffer the kernel granted the UDP socket', registers }),
    tcpConnections: new Counter({ name: 'hourglass_tcp_connections_total', help: 'TCP connections accepted', registers }),
    tcpConnectionsOpen: new Gauge({ name: 'hourglass_tcp_connections_open', help: 'TCP connections open now', registers }),
    tcpConnectionsClosedByGateway: new Counter({ name: 'hourglass_tcp_connections_closed_total', help: 'TCP connections the gateway closed, by reason', labelNames: ['reason'] as const, registers }),
    httpIngestRequests: new Counter({ name: 'hourglass_http_ingest_requests_total', help: 'POST /ingest requests, by answer status', labelNames: ['status'] as const, registers }),
    httpIngestDuplicates: new Counter({ name: 'hourglass_http_ingest_duplicates_total', help: 'POST /ingest requests recognised as retries by their Idempotency-Key (answered, not counted again)', registers }),
    httpIngestDuration: new Histogram({ name: 'hourglass_http_ingest_duration_seconds', help: 'POST /ingest time until the data is durable', buckets: DURATION_BUCKETS_SECONDS, registers }),
    gatewayFlushDuration: new Histogram({ name: 'hourglass_gateway_flush_duration_seconds', help: 'Time to encode and hand on one batch', buckets: DURATION_BUCKETS_SECONDS, registers }),
  };
  for (const reason of REJECT_REASONS) metrics.linesRejected.inc({ reason }, 0);
  for (const transport of TRANSPORTS) metrics.linesReceived.inc({ transport }, 0);
  for (const status of INGEST_STATUSES) metrics.httpIngestRequests.inc({ status }, 0);
  return metrics;
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** The statuses `POST /api/v1/write` answers; anything else is counted as `other`. */
export const REMOTE_WRITE_STATUSES = ['204', '400', '413', '415', '500', '503'] as const;

/** Telemetry of `POST /api/v1/write` (gateway/remote-write/plugin.ts). */
export function createRemoteWriteMetrics(registry: Registry, seriesInMemory: () => number) {
  const registers = [registry];
  const metrics = {
    requests: new Counter({ name: 'hourglass_remote_write_requests_total', help: 'Remote write requests, by HTTP status answered', labelNames: ['status'] as const, registers }),
    samplesReceived: new Counter({ name: 'hourglass_remote_write_samples_received_total', help: 'Remote write samples received, by the kind of series they belong to', labelNames: ['kind'] as const, registers }),
    samplesSkipped: new Counter({ name: 'hourglass_remote_write_samples_skipped_total', help: 'Remote write samples not turned into values, by reason', labelNames: ['reason'] as const, registers }),
    familiesEvicted: new Counter({ name: 'hourglass_remote_write_metadata_evicted_total', help: 'Metric family types from 1.0 metadata pushed out by the bound', registers }),
    seriesEvicted: new Counter({ name: 'hourglass_remote_write_series_evicted_total', help: 'Per-series remote write state pushed out by the bound (the next sample of that series is a new baseline)', registers }),
    seriesInMemory: new Gauge({
      name: 'hourglass_remote_write_series_in_memory',
      help: 'Series whose remote write state (last timestamp, counter baseline) is held',
      registers,
      collect() {
        this.set(seriesInMemory());
      },
    }),
  };
  for (const status of [...REMOTE_WRITE_STATUSES, 'other']) metrics.requests.inc({ status }, 0);
  for (const kind of SAMPLE_KINDS) metrics.samplesReceived.inc({ kind }, 0);
  for (const reason of SKIP_REASONS) metrics.samplesSkipped.inc({ reason }, 0);
  return metrics;
}

export type RemoteWriteMetrics = ReturnType<typeof createRemoteWriteMetrics>;

/**
 * Kernel drops of this process's UDP sockets: the last column of /proc/net/udp{,6} for the
 * socket inodes among /proc/self/fd. Linux only; elsewhere undefined.
 */
export function readUdpKernelDrops(): number | undefined {
  let inodes: Set<string>;
  try {
    inodes = new Set();
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // the fd closed while we looked
      }
    }
  } catch {
    return undefined;
  }
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      if (cols.length >= 13 && inodes.has(cols[9])) drops += Number(cols[12]);
    }
  }
  return drops;
}
