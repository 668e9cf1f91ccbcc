/**
 * The process's Prometheus metrics (SPEC §6): one registry per process, names ending in their
 * unit and `_total` for counters, labels with bounded values only (never a metric key).
 */
import fs from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REJECT_REASONS } from '../gateway/index.js';

const FAST_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * `nats`: the process talks to NATS (the distributed gateway and rollup). Only those expose
 * `hourglass_nats_connected`: elsewhere a constant 0 would read as "disconnected" to the
 * HourglassNatsDisconnected alert (compose/rules/) and to dashboards.
 */
export function createMetrics(options: { nats?: boolean } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const metrics = {
    registry,
    linesReceived: new Counter({ name: 'hourglass_lines_received_total', help: 'StatsD lines received (valid or not)', labelNames: ['transport'] as const, registers }),
    linesRejected: new Counter({ name: 'hourglass_lines_rejected_total', help: 'StatsD lines rejected, by reason', labelNames: ['reason'] as const, registers }),
    datagramsReceived: new Counter({ name: 'hourglass_udp_datagrams_received_total', help: 'UDP datagrams received', registers }),
    udpReceiveDrops: new Counter({ name: 'hourglass_udp_receive_drops_total', help: "Datagrams the kernel dropped for this process's UDP socket (full receive buffer)", registers }),
    udpReceiveBufferBytes: new Gauge({ name: 'hourglass_udp_receive_buffer_bytes', help: 'Receive buffer the kernel granted the UDP socket', registers }),
    tcpConnections: new Counter({ name: 'hourglass_tcp_connections_total', help: 'TCP connections accepted', registers }),
    tcpConnectionsOpen: new Gauge({ name: 'hourglass_tcp_connections_open', help: 'TCP connections open now', registers }),
    tcpConnectionsClosedByGateway: new Counter({ name: 'hourglass_tcp_connections_closed_total', help: 'TCP connections the gateway closed, by reason', labelNames: ['reason'] as const, registers }),
    batchesPublished: new Counter({ name: 'hourglass_batches_published_total', help: 'Batches handed to the bus', registers }),
    batchValuesPublished: new Counter({ name: 'hourglass_batch_values_published_total', help: 'Values (and set members) in batches handed to the bus', registers }),
    batchesDropped: new Counter({ name: 'hourglass_batches_dropped_total', help: 'Batches lost before the bus took them, by reason', labelNames: ['reason'] as const, registers }),
    batchValuesDropped: new Counter({ name: 'hourglass_batch_values_dropped_total', help: 'Values in dropped batches', labelNames: ['reason'] as const, registers }),
    busPendingBatches: new Gauge({ name: 'hourglass_bus_pending_batches', help: 'Batches handed on and not yet applied by the rollup', registers }),
    gatewayFlushDuration: new Histogram({ name: 'hourglass_gateway_flush_duration_seconds', help: 'Time to encode and hand on one batch', buckets: FAST_SECONDS, registers }),
    natsConnected: new Gauge({ name: 'hourglass_nats_connected', help: '1 while the NATS connection is up', registers: options.nats === true ? registers : [] }),
    batchesSpooled: new Counter({ name: 'hourglass_batches_spooled_total', help: 'Batches written to the gateway spool (NATS unreachable, slow or refusing)', registers }),
    batchesReplayed: new Counter({ name: 'hourglass_batches_replayed_total', help: 'Spooled batches published after all', registers }),
    spoolBatches: new Gauge({ name: 'hourglass_spool_batches', help: 'Batches waiting in the gateway spool', registers }),
    spoolBytes: new Gauge({ name: 'hourglass_spool_bytes', help: 'Bytes in the gateway spool', registers }),
    publishDuration: new Histogram({ name: 'hourglass_publish_duration_seconds', help: 'Time from publish to JetStream ack', buckets: FAST_SECONDS, registers }),
    batchesDuplicate: new Counter({ name: 'hourglass_batches_duplicate_total', help: 'Publishes JetStream recognised as duplicates of an earlier one (replays after a lost ack)', registers }),
    consumerPending: new Gauge({ name: 'hourglass_consumer_pending_messages', help: 'Batches in the stream not yet delivered to this worker, by partition', labelNames: ['partition'] as const, registers }),
    batchesApplied: new Counter({ name: 'hourglass_batches_applied_total', help: 'Bus batches applied by this rollup worker', registers }),
    batchesSkipped: new Counter({ name: 'hourglass_batches_redelivered_total', help: 'Redelivered batches recognised as already applied', registers }),
    pointsRejected: new Counter({ name: 'hourglass_store_points_rejected_total', help: 'Rollup rows the store refused for good (dead-lettered in the distributed setup)', registers }),
    batchesDeadLettered: new Counter({ name: 'hourglass_batches_dead_lettered_total', help: 'Batches that could never be applied, sent to the dead-letter subject, by reason', labelNames: ['reason'] as const, registers }),
    rollupValuesApplied: new Counter({ name: 'hourglass_rollup_values_applied_total', help: 'Values (and set members) applied to hourly windows', registers }),
    rollupSeries: new Gauge({ name: 'hourglass_rollup_series_in_memory', help: 'Series-hours held in memory by the rollup', registers }),
    rollupFlushDuration: new Histogram({ name: 'hourglass_rollup_flush_duration_seconds', help: 'Time of one rollup flush, store write included', buckets: FAST_SECONDS, registers }),
    storeWriteDuration: new Histogram({ name: 'hourglass_store_write_duration_seconds', help: 'Time of one store write (one transaction)', buckets: FAST_SECONDS, registers }),
    storeRowsWritten: new Counter({ name: 'hourglass_store_rows_written_total', help: 'Rollup rows written', registers }),
    storeReadErrors: new Counter({ name: 'hourglass_store_read_errors_total', help: 'Store reads that failed (the batch waits and is retried)', registers }),
    storeWriteErrors: new Counter({ name: 'hourglass_store_write_errors_total', help: 'Store writes that failed (retried at the next flush)', registers }),
    queryDuration: new Histogram({ name: 'hourglass_query_duration_seconds', help: 'Query API time, by stat and status', labelNames: ['stat', 'status'] as const, buckets: FAST_SECONDS, registers }),
  };
  for (const reason of REJECT_REASONS) metrics.linesRejected.inc({ reason }, 0);
  for (const transport of ['udp', 'tcp']) metrics.linesReceived.inc({ transport }, 0);
  for (const reason of ['bus_full', 'bus_down', 'spool_full', 'apply_failed']) {
    metrics.batchesDropped.inc({ reason }, 0);
    metrics.batchValuesDropped.inc({ reason }, 0);
  }
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

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
