/**
 * Rollup workers sharing the bus partitions by themselves (SPEC §5), through leases kept in NATS:
 * a JetStream key-value bucket `<stream>-leases` whose max age is the lease TTL (nats-server 2.9
 * has per-bucket TTL only, so a renewal writes a new revision and the key expires TTL after the
 * last one). The decisions are in lease-plan.ts; this file does the I/O.
 *
 * Keys:
 * - `partition.<p>`: the lease of partition p. Created with compare-and-set (kv.create: only when
 *   absent or deleted), renewed with kv.update(key, value, revision) (fails if anyone else wrote
 *   it), deleted on a graceful release with the revision held (never someone else's lease).
 * - `worker.<id>`: each worker's presence, written every renewal interval, so every worker knows
 *   how many are alive and takes its share. Written before the leases in each round, so a dead
 *   worker's presence expires no later than its leases.
 *
 * A worker that is killed stops renewing: its leases and presence expire within the TTL and the
 * others take its partitions at their next look. A worker cut off from NATS cannot renew: it stops
 * writing (LeaseBook's fence) before its leases can expire and be granted to another.
 */
import os from 'node:os';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
// @nats-io/kv: the JetStream key-value API of the nats.js v3 family already used for the bus
// (compare-and-set by revision, keys listing), rather than hand-built $KV subjects and headers.
import { Kvm, type KV } from '@nats-io/kv';
import { RateLimitedLog, type Clock, type Logger } from '../core/index.js';
import { LeaseBook, leaseTiming, planLeases, type LeaseTiming } from './lease-plan.js';
import type { LeaseMetrics } from './metrics.js';

export const leaseBucket = (stream: string) => `${stream}-leases`;
const partitionKey = (p: number) => `partition.${p}`;
const workerKey = (id: string) => `worker.${id}`;
const WORKER_PREFIX = 'worker.';

/** What the runtime does when a partition changes hands. */
export interface PartitionLeaseHandler {
  /** The lease is ours: start reading and writing the partition. A rejection gives the lease back. */
  acquired(partition: number): Promise<void>;
  /** Give it back gracefully: stop reading, write what was applied, acknowledge. The lease is deleted after. */
  release(partition: number): Promise<void>;
  /** The lease can no longer be trusted (fence passed, or taken by another): stop now, write nothing more. */
  lost(partition: number, why: LostReason): void;
}

export const LOST_REASONS = ['expired', 'superseded', 'store_fenced'] as const;
export type LostReason = (typeof LOST_REASONS)[number];

export interface PartitionLeasesOptions {
  readonly stream: string;
  readonly partitions: number;
  readonly ttlMs: number;
  readonly replicas: number;
  /** This worker's identity: random per process (injected), unique among workers. */
  readonly workerId: string;
  /** Monotonic milliseconds (performance.now in production). */
  readonly clock: Clock;
  readonly metrics: LeaseMetrics;
  readonly logger: Logger;
  readonly handler: PartitionLeaseHandler;
}

export class PartitionLeases {
  private kv: KV | undefined;
  private book: LeaseBook | undefined;
  private loop: Promise<void> | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private leaving = false;
  private readonly value: string;
  /** A round fails every renewal interval while NATS is away: one line per 10 s (renewals are counted). */
  private readonly roundLog: RateLimitedLog;

  constructor(
    private readonly js: JetStreamClient,
    private readonly options: PartitionLeasesOptions,
  ) {
    // for people reading the bucket (`nats kv get`): which process holds what
    this.value = JSON.stringify({ worker: options.workerId, host: os.hostname(), pid: process.pid });
    this.roundLog = new RateLimitedLog(options.logger, () => options.clock.nowMs());
  }

  get timing(): LeaseTiming {
    return (this.book as LeaseBook).timing;
  }

  /** Opens (or creates) the bucket, announces this worker and starts the rounds. */
  async start(): Promise<void> {
    const { stream, ttlMs, replicas, logger, clock } = this.options;
    this.kv = await new Kvm(this.js).create(leaseBucket(stream), { ttl: ttlMs, history: 1, replicas });
    // the bucket's max age decides expiry, whoever created it: fence by that, not by our setting
    const bucketTtlMs = (await this.kv.status()).ttl;
    if (bucketTtlMs <= 0) throw new LeaseBucketError(`the lease bucket ${leaseBucket(stream)} has no TTL (max age); delete it and restart`);
    if (bucketTtlMs !== ttlMs) logger.warn({ bucketTtlMs, leaseTtlMs: ttlMs }, 'the lease bucket has another TTL than LEASE_TTL_MS; using the bucket\'s');
    this.book = new LeaseBook(clock, leaseTiming(bucketTtlMs));
    await this.kv.put(workerKey(this.options.workerId), this.value);
    this.fenceTimer = setInterval(() => this.checkFence(), Math.max(50, Math.floor(this.timing.renewIntervalMs / 2)));
    this.loop = this.run();
  }

  /** The driver of `partition` may start a store write now (it holds the lease, inside its fence). */
  mayWrite(partition: number): boolean {
    return this.book?.mayWrite(partition) ?? false;
  }

  /** Partitions held now. */
  owned(): number[] {
    return this.book?.entries().map(([p]) => p) ?? [];
  }

  /** The store refused a write for this partition: another owner claimed it. Stop and let the lease go. */
  relinquish(partition: number): void {
    this.lose(partition, 'store_fenced');
  }

  /** Releases every partition gracefully, withdraws the presence, and stops. */
  async stop(): Promise<void> {
    this.leaving = true;
    this.wake?.();
    await this.loop;
    clearInterval(this.fenceTimer);
    await this.kv?.delete(workerKey(this.options.workerId)).catch(() => undefined);
  }

  private async run(): Promise<void> {
    const book = this.book as LeaseBook;
    for (;;) {
      try {
        await this.round();
      } catch (err) {
        this.roundLog.warn('round', { err: (err as Error).message }, 'lease round failed (NATS unreachable or slow?)');
      }
      if (this.leaving && book.entries().length === 0) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.timing.renewIntervalMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** One round: presence, renewals, graceful releases finished, then look and decide. */
  private async round(): Promise<void> {
    const kv = this.kv as KV;
    const book = this.book as LeaseBook;
    const { clock, metrics, workerId, partitions, logger } = this.options;
    this.checkFence();
    if (!this.leaving) {
      await kv.put(workerKey(workerId), this.value).catch((err: Error) => {
        metrics.renewFailures.inc();
        logger.debug({ err: err.message }, 'presence renewal failed');
      });
    }
    await Promise.all(
      book.entries().map(async ([p, revision]) => {
        if (book.state(p) === 'released') return;
        const sentAt = clock.nowMs();
        try {
          book.renewed(p, await kv.update(partitionKey(p), this.value, revision), sentAt);
        } catch (err) {
          if (isWrongRevision(err)) this.lose(p, 'superseded');
          else {
            metrics.renewFailures.inc();
            logger.debug({ partition: p, err: (err as Error).message }, 'lease renewal failed');
          }
        }
      }),
    );
    this.checkFence();
    for (const [p, revision] of book.entries()) {
      if (book.state(p) !== 'released') continue;
      book.forget(p);
      // deleted with the revision we hold: if it changed, it is not ours to delete
      await kv.delete(partitionKey(p), { previousSeq: revision }).catch((err: Error) => logger.debug({ partition: p, err: err.message }, 'lease delete failed; it will expire'));
      metrics.handovers.inc({ direction: 'released' });
      logger.info({ partition: p }, 'partition released');
    }
    if (this.leaving) {
      for (const p of book.keeping()) this.release(p);
      this.updateGauge();
      return;
    }
    const workers = await this.liveWorkers();
    const taken = new Set<number>(book.releasing());
    await Promise.all(
      Array.from({ length: partitions }, async (_, p) => {
        if (book.has(p)) return;
        const e = await kv.get(partitionKey(p));
        if (e !== null && e.operation === 'PUT') taken.add(p);
      }),
    );
    const plan = planLeases({ partitions, self: workerId, workers, owned: book.keeping(), taken });
    for (const p of plan.release) this.release(p);
    for (const p of plan.acquire) await this.acquire(p);
    this.updateGauge();
  }

  private async liveWorkers(): Promise<string[]> {
    const workers: string[] = [];
    for await (const k of await (this.kv as KV).keys(`${WORKER_PREFIX}>`)) workers.push(k.slice(WORKER_PREFIX.length));
    return workers;
  }

  private async acquire(p: number): Promise<void> {
    const { clock, metrics, handler, logger } = this.options;
    const book = this.book as LeaseBook;
    const sentAt = clock.nowMs();
    let revision: number;
    try {
      revision = await (this.kv as KV).create(partitionKey(p), this.value);
    } catch (err) {
      // another worker created it first: the normal end of a race
      if (!isWrongRevision(err)) logger.debug({ partition: p, err: (err as Error).message }, 'lease create failed');
      return;
    }
    book.granted(p, revision, sentAt);
    metrics.handovers.inc({ direction: 'acquired' });
    logger.info({ partition: p, revision }, 'partition acquired');
    this.updateGauge();
    handler.acquired(p).then(
      () => {
        if (book.state(p) === 'starting') book.setState(p, 'active');
      },
      (err: Error) => {
        logger.error({ partition: p, err: err.message }, 'could not start the partition; giving its lease back');
        if (book.has(p)) book.setState(p, 'released');
      },
    );
  }

  private release(p: number): void {
    const book = this.book as LeaseBook;
    if (book.state(p) === 'releasing' || book.state(p) === 'released') return;
    book.setState(p, 'releasing');
    this.options.handler
      .release(p)
      .catch((err: Error) => this.options.logger.warn({ partition: p, err: err.message }, 'partition stopped with an error; its unacknowledged batches go to the next owner'))
      .finally(() => {
        // deleted by the next round (after its renewals, so the revision is the last one)
        if (book.has(p)) book.setState(p, 'released');
        this.wake?.();
      });
  }

  private lose(p: number, why: LostReason): void {
    const book = this.book as LeaseBook;
    if (!book.has(p)) return;
    // not deleted: a write begun before the fence may still be landing; the key expires by itself
    book.forget(p);
    this.options.metrics.handovers.inc({ direction: 'lost' });
    this.options.logger.warn({ partition: p, why }, 'partition lease lost; stopped writing it');
    this.options.handler.lost(p, why);
    this.updateGauge();
  }

  private checkFence(): void {
    const book = this.book;
    if (book === undefined) return;
    for (const p of book.overdue()) if (book.state(p) !== 'released') this.lose(p, 'expired');
  }

  private updateGauge(): void {
    this.options.metrics.partitionsOwned.set(this.book?.entries().length ?? 0);
  }
}

const isWrongRevision = (err: unknown) =>
  err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export class LeaseBucketError extends Error {
  override readonly name = 'LeaseBucketError';
  readonly code = 'HG_ERR_LEASE_BUCKET';
}
