import { describe, expect, it } from 'vitest';
import { DISTINCT_RELATIVE_ERROR, DistinctCounter } from './distinct-counter.js';

const members = (from: number, to: number, prefix = 'user-') => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('DistinctCounter', () => {
  it.each([100, 1_000, 20_000, 300_000])('estimates %i distinct members within its error', (n) => {
    const c = new DistinctCounter();
    for (const m of members(0, n)) c.add(m);
    for (const m of members(0, Math.min(n, 1000))) c.add(m); // repeats change nothing
    expect(Math.abs(c.estimate() - n) / n).toBeLessThanOrEqual(DISTINCT_RELATIVE_ERROR);
  });

  it('merging counts the union, not the sum', () => {
    const a = new DistinctCounter();
    const b = new DistinctCounter();
    for (const m of members(0, 30_000)) a.add(m);
    for (const m of members(20_000, 50_000)) b.add(m);
    a.merge(b);
    expect(Math.abs(a.estimate() - 50_000) / 50_000).toBeLessThanOrEqual(DISTINCT_RELATIVE_ERROR);
  });

  it('round-trips through its registers', () => {
    const a = new DistinctCounter();
    for (const m of members(0, 5000, 'x')) a.add(m);
    expect(new DistinctCounter(Uint8Array.from(a.registers)).estimate()).toBe(a.estimate());
    expect(() => new DistinctCounter(new Uint8Array(10))).toThrow(/registers/);
  });

  it('an empty counter estimates 0', () => {
    expect(new DistinctCounter().estimate()).toBe(0);
  });
});
