/**
 * The bus's telemetry, publisher and consumer side (SPEC §6). Registered on the process registry
 * the runtime passes in; created once per process whichever sides it runs.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS } from '../core/index.js';

/** Why a batch did not make it onto the bus: the `reason` label of the drop counters. */
export const DROP_REASONS = ['bus_full', 'bus_down', 'spool_full', 'apply_failed'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export function createBusMetrics(registry: Registry) {
  const registers = [registry];
  const metrics = {
    batchesPublished: new Counter({ name: 'hourglass_batches_published_total', help: 'Batches handed to the bus', registers }),
    batchValuesPublished: new Counter({ name: 'hourglass_batch_values_published_total', help: 'Values (and set members) in batches handed to the bus', registers }),
    batchesDropped: new Counter({ name: 'hourglass_batches_dropped_total', help: 'Batches lost before the bus took them, by reason', labelNames: ['reason'] as const, registers }),
    batchValuesDropped: new Counter({ name: 'hourglass_batch_values_dropped_total', help: 'Values in dropped batches', labelNames: ['reason'] as const, registers }),
    busPendingBatches: new Gauge({ name: 'hourglass_bus_pending_batches', help: 'Batches handed on and not yet applied by the rollup', registers }),
    natsConnected: new Gauge({ name: 'hourglass_nats_connected', help: '1 while the NATS connection is up', registers }),
    batchesSpooled: new Counter({ name: 'hourglass_batches_spooled_total', help: 'Batches written to the gateway spool (NATS unreachable, slow or refusing)', registers }),
    batchesReplayed: new Counter({ name: 'hourglass_batches_replayed_total', help: 'Spooled batches published after all', registers }),
    spoolBatches: new Gauge({ name: 'hourglass_spool_batches', help: 'Batches waiting in the gateway spool', registers }),
    spoolBytes: new Gauge({ name: 'hourglass_spool_bytes', help: 'Bytes in the gateway spool', registers }),
    publishDuration: new Histogram({ name: 'hourglass_publish_duration_seconds', help: 'Time from publish to JetStream ack', buckets: DURATION_BUCKETS_SECONDS, registers }),
    batchesDuplicate: new Counter({ name: 'hourglass_batches_duplicate_total', help: 'Publishes JetStream recognised as duplicates of an earlier one (replays after a lost ack)', registers }),
    acksResent: new Counter({ name: 'hourglass_acks_resent_total', help: 'Batch acknowledgements sent again after a NATS reconnect (the first may have been lost with the connection)', registers }),
    acksForgotten: new Counter({ name: 'hourglass_acks_forgotten_total', help: 'Sent acknowledgements no longer remembered for resending, to stay within the bound', registers }),
    consumerPending: new Gauge({ name: 'hourglass_consumer_pending_messages', help: 'Batches in the stream not yet delivered to this worker, by partition', labelNames: ['partition'] as const, registers }),
  };
  for (const reason of DROP_REASONS) {
    metrics.batchesDropped.inc({ reason }, 0);
    metrics.batchValuesDropped.inc({ reason }, 0);
  }
  return metrics;
}

export type BusMetrics = ReturnType<typeof createBusMetrics>;

/** Counts a batch the bus could not take. */
export function countDrop(metrics: BusMetrics, reason: DropReason, values: number): void {
  metrics.batchesDropped.inc({ reason });
  metrics.batchValuesDropped.inc({ reason }, values);
}
