/**
 * The bus's telemetry, publisher and consumer side (SPEC §6). Registered on the process registry
 * the runtime passes in; created once per process whichever sides it runs. The NATS connection's
 * gauge is apart (createNatsMetrics): only the processes that talk to NATS register it.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS } from '../core/index.js';
import { RESET_REASONS } from './continuity.js';

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
    batchesSpooled: new Counter({ name: 'hourglass_batches_spooled_total', help: 'Batches written to the gateway spool (NATS unreachable, slow or refusing)', registers }),
    batchesReplayed: new Counter({ name: 'hourglass_batches_replayed_total', help: 'Spooled batches published after all', registers }),
    spoolBatches: new Gauge({ name: 'hourglass_spool_batches', help: 'Batches waiting in the gateway spool', registers }),
    spoolBytes: new Gauge({ name: 'hourglass_spool_bytes', help: 'Bytes in the gateway spool', registers }),
    publishDuration: new Histogram({ name: 'hourglass_publish_duration_seconds', help: 'Time from publish to JetStream ack', buckets: DURATION_BUCKETS_SECONDS, registers }),
    batchesDuplicate: new Counter({ name: 'hourglass_batches_duplicate_total', help: 'Publishes JetStream recognised as duplicates of an earlier one (replays after a lost ack)', registers }),
    acksResent: new Counter({ name: 'hourglass_acks_resent_total', help: 'Batch acknowledgements sent again after a NATS reconnect (the first may have been lost with the connection)', registers }),
    acksForgotten: new Counter({ name: 'hourglass_acks_forgotten_total', help: 'Sent acknowledgements no longer remembered for resending, to stay within the bound', registers }),
    consumerPending: new Gauge({ name: 'hourglass_consumer_pending_messages', help: 'Batches in the stream not yet delivered to this worker, by partition', labelNames: ['partition'] as const, registers }),
    oldestUnappliedAge: new Gauge({
      name: 'hourglass_rollup_oldest_unapplied_batch_age_seconds',
      help: 'Age of the oldest batch of the partition this worker has not applied yet (0: none); the stream removes batches older than NATS_MAX_AGE_SEC, or sooner at NATS_MAX_BYTES',
      labelNames: ['partition'] as const,
      registers,
    }),
    // counted from continuity stamps (bus/continuity.ts): exact, found once a later batch of the same gateway run and partition is read
    batchesExpiredUnapplied: new Counter({
      name: 'hourglass_bus_batches_expired_unapplied_total',
      help: 'Batches the stream removed (NATS_MAX_AGE_SEC, NATS_MAX_BYTES) before any rollup worker applied them; counted when a later batch of the same gateway run and partition is read, so the last batches of a gateway run are not',
      registers,
    }),
    valuesExpiredUnapplied: new Counter({ name: 'hourglass_bus_values_expired_unapplied_total', help: 'Values in the batches of hourglass_bus_batches_expired_unapplied_total', registers }),
    continuityResets: new Counter({
      name: 'hourglass_bus_continuity_resets_total',
      help: 'Times a partition\'s loss tracking restarted from what it read next (no saved state, saved state behind removed batches, bounds): losses before that point are not counted',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
  for (const reason of RESET_REASONS) metrics.continuityResets.inc({ reason }, 0);
  for (const reason of DROP_REASONS) {
    metrics.batchesDropped.inc({ reason }, 0);
    metrics.batchValuesDropped.inc({ reason }, 0);
  }
  return metrics;
}

export type BusMetrics = ReturnType<typeof createBusMetrics>;

/**
 * For the processes that talk to NATS (the gateway and rollup roles) only: in the embedded
 * default a constant 0 would read as "disconnected" to the HourglassNatsDisconnected alert
 * (compose/rules/) and to the dashboards.
 */
export function createNatsMetrics(registry: Registry) {
  return {
    natsConnected: new Gauge({ name: 'hourglass_nats_connected', help: '1 while the NATS connection is up', registers: [registry] }),
  };
}

export type NatsMetrics = ReturnType<typeof createNatsMetrics>;

/** Counts a batch the bus could not take. */
export function countDrop(metrics: BusMetrics, reason: DropReason, values: number): void {
  metrics.batchesDropped.inc({ reason });
  metrics.batchValuesDropped.inc({ reason }, values);
}

/** Which way a partition changed hands: the `direction` label of the handover counter. */
export const HANDOVER_DIRECTIONS = ['acquired', 'released', 'lost'] as const;
export type HandoverDirection = (typeof HANDOVER_DIRECTIONS)[number];

/**
 * The partition leases of a rollup worker (partition-leases.ts). Separate from createBusMetrics
 * so gateways do not export rollup gauges. The names are used by alert rules: keep them.
 */
export function createLeaseMetrics(registry: Registry) {
  const registers = [registry];
  const metrics = {
    partitionsOwned: new Gauge({ name: 'hourglass_rollup_partitions_owned', help: 'Bus partitions whose lease this rollup worker holds', registers }),
    handovers: new Counter({
      name: 'hourglass_rollup_handovers_total',
      help: 'Partition leases acquired, released gracefully, or lost (expired, superseded, or fenced by the store)',
      labelNames: ['direction'] as const,
      registers,
    }),
    renewFailures: new Counter({ name: 'hourglass_rollup_lease_renew_failures_total', help: 'Lease or presence renewals NATS did not confirm (unreachable, slow, refused)', registers }),
  };
  for (const direction of HANDOVER_DIRECTIONS) metrics.handovers.inc({ direction }, 0);
  return metrics;
}

export type LeaseMetrics = ReturnType<typeof createLeaseMetrics>;
