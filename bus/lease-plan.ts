/**
 * The decisions of the partition leases (partition-leases.ts), with no I/O: which partitions a
 * rollup worker should take or give back, and until when it may write one it holds. Time comes
 * from an injected clock, so the fencing rules are unit-tested without waiting.
 *
 * Sharing: every live worker sees the same list of workers (their presence keys) and computes the
 * same targets: sorted by id, the first `partitions % workers` take one more than the others, so
 * holdings differ by at most one and add up to the partitions. A worker over its target releases
 * its highest partitions; under it, it tries to create leases on free ones (compare-and-set in
 * NATS decides races). Views that briefly differ (a presence not yet seen) converge at the next
 * look.
 *
 * Fencing by time: a lease key expires `ttlMs` after the server stored its last renewal, never
 * sooner. A renewal is stored after it was sent, so `sentAt + ttl` is a lower bound of the expiry
 * as this worker's clock sees it. The worker stops writing a partition `fenceAfterMs` after the
 * last renewal it sent that succeeded, which leaves `ttl - fenceAfterMs` for a store write already
 * under way to end before anyone else can be granted the lease.
 */
import type { Clock } from '../core/index.js';

export interface LeaseTiming {
  readonly ttlMs: number;
  /** Renew leases and presence, and look at the others, this often. */
  readonly renewIntervalMs: number;
  /** Stop writing a partition this long after the last successful renewal was sent. */
  readonly fenceAfterMs: number;
}

/**
 * With the default 10 s: renew every second (a few small KV writes per second), fence after 6 s
 * (four missed renewals), which leaves 4 s for a store write in flight (an InfluxDB request's
 * deadline). A dead worker's leases expire at most 10 s after its last renewal and are seen free
 * within one more second: takeover inside the 15 s of SPEC §5.
 */
export function leaseTiming(ttlMs: number): LeaseTiming {
  return { ttlMs, renewIntervalMs: Math.max(100, Math.floor(ttlMs / 10)), fenceAfterMs: Math.floor(ttlMs * 0.6) };
}

/** How many partitions this worker should hold, given every live worker (itself included). */
export function targetShare(partitions: number, workers: readonly string[], self: string): number {
  const sorted = [...new Set([...workers, self])].sort();
  const rank = sorted.indexOf(self);
  const base = Math.floor(partitions / sorted.length);
  return base + (rank < partitions % sorted.length ? 1 : 0);
}

export interface LeaseView {
  readonly partitions: number;
  readonly self: string;
  /** Ids of the workers whose presence is live (this one is counted even when missing). */
  readonly workers: readonly string[];
  /** Partitions this worker holds and keeps writing. */
  readonly owned: readonly number[];
  /** Partitions not free to take: held by another worker, or being released by this one. */
  readonly taken: ReadonlySet<number>;
}

export interface LeasePlan {
  readonly target: number;
  readonly acquire: readonly number[];
  readonly release: readonly number[];
}

export function planLeases(view: LeaseView): LeasePlan {
  const { partitions, self, workers, owned, taken } = view;
  const target = targetShare(partitions, workers, self);
  const mine = [...owned].sort((a, b) => a - b);
  if (mine.length > target) return { target, acquire: [], release: mine.slice(target) };
  const want = target - mine.length;
  if (want === 0) return { target, acquire: [], release: [] };
  // start looking where this worker's share would begin, so workers starting together do not all
  // race for partition 0 first
  const sorted = [...new Set([...workers, self])].sort();
  const start = Math.floor((sorted.indexOf(self) * partitions) / sorted.length);
  const acquire: number[] = [];
  const held = new Set(mine);
  for (let i = 0; i < partitions && acquire.length < want; i++) {
    const p = (start + i) % partitions;
    if (!held.has(p) && !taken.has(p)) acquire.push(p);
  }
  return { target, acquire, release: [] };
}

/** starting: the driver is being started; releasing: being stopped gracefully; released: stopped, the lease to delete. */
export const LEASE_STATES = ['starting', 'active', 'releasing', 'released'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];

interface HeldLease {
  revision: number;
  /** When the last renewal (or the creation) that succeeded was sent, by the book's clock. */
  renewedSentAtMs: number;
  state: LeaseState;
}

/**
 * The leases this worker holds, with the revision to renew them by and the time fence. The clock
 * must be monotonic (the runtime passes performance.now(), not the wall clock: a wall clock set
 * back would stretch the fence).
 */
export class LeaseBook {
  private readonly held = new Map<number, HeldLease>();

  constructor(
    private readonly clock: Clock,
    readonly timing: LeaseTiming,
  ) {}

  /** A lease created by a request sent at `sentAtMs`. */
  granted(partition: number, revision: number, sentAtMs: number): void {
    this.held.set(partition, { revision, renewedSentAtMs: sentAtMs, state: 'starting' });
  }

  /** A renewal sent at `sentAtMs` succeeded with a new revision. */
  renewed(partition: number, revision: number, sentAtMs: number): void {
    const lease = this.held.get(partition);
    if (lease === undefined) return;
    lease.revision = revision;
    // a slow answer to an older renewal must not move the fence back
    lease.renewedSentAtMs = Math.max(lease.renewedSentAtMs, sentAtMs);
  }

  setState(partition: number, state: LeaseState): void {
    const lease = this.held.get(partition);
    if (lease !== undefined) lease.state = state;
  }

  forget(partition: number): void {
    this.held.delete(partition);
  }

  has(partition: number): boolean {
    return this.held.has(partition);
  }

  state(partition: number): LeaseState | undefined {
    return this.held.get(partition)?.state;
  }

  revision(partition: number): number | undefined {
    return this.held.get(partition)?.revision;
  }

  /** Every held partition, with its revision. */
  entries(): [number, number][] {
    return [...this.held].map(([p, l]) => [p, l.revision]);
  }

  /** Held and kept (not being given back). */
  keeping(): number[] {
    return [...this.held].filter(([, l]) => l.state === 'starting' || l.state === 'active').map(([p]) => p);
  }

  /** Held but being given back. */
  releasing(): number[] {
    return [...this.held].filter(([, l]) => l.state === 'releasing' || l.state === 'released').map(([p]) => p);
  }

  /** The driver of `partition` may start a store write now. */
  mayWrite(partition: number): boolean {
    const lease = this.held.get(partition);
    return lease !== undefined && this.clock.nowMs() < lease.renewedSentAtMs + this.timing.fenceAfterMs;
  }

  /** Held partitions whose fence has passed: they must stop writing now. */
  overdue(): number[] {
    const now = this.clock.nowMs();
    return [...this.held].filter(([, l]) => now >= l.renewedSentAtMs + this.timing.fenceAfterMs).map(([p]) => p);
  }
}
