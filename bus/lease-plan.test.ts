import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { LeaseBook, leaseTiming, planLeases, targetShare, type LeaseView } from './lease-plan.js';

/** Plays rounds of planning for every worker against one shared lease table, as NATS would hold it. */
function settle(partitions: number, workers: string[], holders = new Map<number, string>()): Map<number, string> {
  for (let round = 0; round < 20; round++) {
    let changed = false;
    for (const self of workers) {
      const owned = [...holders].filter(([, w]) => w === self).map(([p]) => p);
      const taken = new Set([...holders].filter(([, w]) => w !== self).map(([p]) => p));
      const plan = planLeases({ partitions, self, workers, owned, taken });
      for (const p of plan.release) {
        holders.delete(p);
        changed = true;
      }
      for (const p of plan.acquire) {
        // compare-and-set: only a free partition can be created
        expect(holders.has(p)).toBe(false);
        holders.set(p, self);
        changed = true;
      }
    }
    if (!changed) return holders;
  }
  throw new Error('did not settle in 20 rounds');
}

const countsOf = (holders: Map<number, string>, workers: string[]) => workers.map((w) => [...holders.values()].filter((h) => h === w).length);

describe('targetShare', () => {
  it.each([
    [8, 3, [3, 3, 2]],
    [8, 2, [4, 4]],
    [6, 4, [2, 2, 1, 1]],
    [2, 3, [1, 1, 0]],
    [1, 1, [1]],
  ])('%i partitions over %i workers: %j', (partitions, n, expected) => {
    const workers = Array.from({ length: n }, (_, i) => `w${i}`);
    expect(workers.map((w) => targetShare(partitions, workers, w))).toEqual(expected);
  });

  it('counts the worker itself when its own presence is not seen yet', () => {
    expect(targetShare(8, ['a'], 'b')).toBe(4);
  });
});

describe('planLeases', () => {
  it('a worker alone takes every free partition, starting where its share begins', () => {
    const plan = planLeases({ partitions: 4, self: 'a', workers: ['a'], owned: [], taken: new Set() });
    expect(plan).toEqual({ target: 4, acquire: [0, 1, 2, 3], release: [] });
    expect(planLeases({ partitions: 4, self: 'b', workers: ['a', 'b'], owned: [], taken: new Set() }).acquire).toEqual([2, 3]);
  });

  it('a worker over its share releases its highest partitions, and takes nothing', () => {
    const view: LeaseView = { partitions: 8, self: 'a', workers: ['a', 'b', 'c'], owned: [0, 1, 2, 3, 4, 5, 6, 7], taken: new Set() };
    expect(planLeases(view)).toEqual({ target: 3, acquire: [], release: [3, 4, 5, 6, 7] });
  });

  it('never takes a partition held by another or being released by itself', () => {
    const plan = planLeases({ partitions: 4, self: 'a', workers: ['a'], owned: [0], taken: new Set([1, 3]) });
    expect(plan.acquire).toEqual([2]);
  });

  it.each([
    [8, ['a', 'b', 'c']],
    [8, ['x']],
    [5, ['a', 'b']],
    [6, ['a', 'b', 'c', 'd']],
    [3, ['a', 'b', 'c', 'd', 'e']],
  ])('%i partitions over %j: every partition held once, shares within one', (partitions, workers) => {
    const holders = settle(partitions, workers);
    expect(holders.size).toBe(partitions);
    const counts = countsOf(holders, workers);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('a worker joins: the others give up their excess and it takes its share', () => {
    const holders = settle(8, ['a', 'b']);
    expect(countsOf(holders, ['a', 'b'])).toEqual([4, 4]);
    const after = settle(8, ['a', 'b', 'c'], holders);
    expect(after.size).toBe(8);
    expect(countsOf(after, ['a', 'b', 'c']).sort()).toEqual([2, 3, 3]);
  });

  it('a worker dies: its leases expire and the others take them', () => {
    const holders = settle(8, ['a', 'b', 'c']);
    for (const [p, w] of holders) if (w === 'b') holders.delete(p);
    const after = settle(8, ['a', 'c'], holders);
    expect(after.size).toBe(8);
    expect(countsOf(after, ['a', 'c'])).toEqual([4, 4]);
  });
});

describe('LeaseBook: the time fence', () => {
  const timing = leaseTiming(10_000);

  it('defaults: renew every second, fence at 6 s, so a write in flight has 4 s before anyone else can hold the lease', () => {
    expect(timing).toEqual({ ttlMs: 10_000, renewIntervalMs: 1000, fenceAfterMs: 6000 });
    // takeover of a dead worker: expiry after at most one TTL, seen free within one more interval
    expect(timing.ttlMs + timing.renewIntervalMs).toBeLessThan(15_000);
  });

  it('allows writes until fenceAfterMs after the last renewal sent, then reports the partition overdue', () => {
    const clock = new ManualClock(1000);
    const book = new LeaseBook(clock, timing);
    book.granted(3, 17, clock.nowMs());
    clock.advance(5999);
    expect(book.mayWrite(3)).toBe(true);
    expect(book.overdue()).toEqual([]);
    clock.advance(1);
    expect(book.mayWrite(3)).toBe(false);
    expect(book.overdue()).toEqual([3]);
  });

  it('a renewal moves the fence from when it was sent, not when it was answered', () => {
    const clock = new ManualClock(0);
    const book = new LeaseBook(clock, timing);
    book.granted(1, 5, 0);
    const sentAt = 4000;
    clock.set(9000); // the answer came late
    book.renewed(1, 6, sentAt);
    expect(book.revision(1)).toBe(6);
    expect(book.mayWrite(1)).toBe(true);
    clock.set(sentAt + 6000);
    expect(book.mayWrite(1)).toBe(false);
  });

  it('a late answer to an older renewal does not move the fence back', () => {
    const clock = new ManualClock(0);
    const book = new LeaseBook(clock, timing);
    book.granted(1, 5, 0);
    book.renewed(1, 7, 3000);
    book.renewed(1, 6, 2000);
    clock.set(8500);
    expect(book.mayWrite(1)).toBe(true);
  });

  it('no lease, no write; released partitions are not kept', () => {
    const clock = new ManualClock(0);
    const book = new LeaseBook(clock, timing);
    expect(book.mayWrite(0)).toBe(false);
    book.granted(0, 1, 0);
    book.granted(1, 2, 0);
    book.setState(1, 'releasing');
    expect(book.keeping()).toEqual([0]);
    expect(book.releasing()).toEqual([1]);
    book.forget(0);
    expect(book.mayWrite(0)).toBe(false);
  });
});
