/**
 * bus/: what crosses from the gateways to the rollups. Owns the batch codec, the publisher and
 * source contracts, the in-process bus of the embedded default, and the JetStream adapters
 * (streams, publisher with its disk spool, partition consumer).
 */
export { BatchDecodeError, appendHistogram, decodeBatch, encodeBatch, histogramFloats, histogramsOf, type DecodedBatch, type EncodedNames, type SeriesBatch } from './batch-codec.js';
export { BusUnavailableError, type BatchPublisher, type BatchSource, type BusMessage } from './contract.js';
export { InProcessBus, MAX_PENDING_BATCHES, QueueSource, type InProcessBatch, type InProcessDelivery } from './in-process-bus.js';
export { JetStreamPublisher, type JetStreamPublisherOptions } from './jetstream-publisher.js';
export { PartitionSource, writerOfPartition, type PartitionSourceOptions } from './jetstream-source.js';
export { partitionOfSubject, readStoredBatches, streamExtent, type StoredBatch, type StreamExtent } from './jetstream-replay.js';
export { batchSubject, connectNats, deadLetterStream, deadLetterSubject, ensureStreams, partitionOf, StreamRetentionError, type StreamSettings } from './jetstream-streams.js';
export { DROP_REASONS, HANDOVER_DIRECTIONS, countDrop, createBusMetrics, createLeaseMetrics, createNatsMetrics, type BusMetrics, type DropReason, type HandoverDirection, type LeaseMetrics, type NatsMetrics } from './metrics.js';
export { Spool } from './spool.js';
export { LeaseBook, leaseTiming, planLeases, targetShare, type LeasePlan, type LeaseState, type LeaseTiming, type LeaseView } from './lease-plan.js';
export { LOST_REASONS, LeaseBucketError, PartitionLeases, leaseBucket, type LostReason, type PartitionLeaseHandler, type PartitionLeasesOptions } from './partition-leases.js';
