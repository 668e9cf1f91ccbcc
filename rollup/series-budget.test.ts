import { describe, expect, it } from 'vitest';
import { SeriesBudget } from './series-budget.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
const NEXT = H + 3600;

describe('SeriesBudget', () => {
  it('admits new series of an hour up to the bound, counting the stored ones, and each hour has its own room', () => {
    const budget = new SeriesBudget(5);
    budget.begin('embedded', H, 3);
    expect([1, 2, 3].map(() => budget.admit('embedded', H))).toEqual([true, true, false]);
    expect(budget.seriesOf(H)).toBe(5);
    budget.begin('embedded', NEXT, 0);
    expect(budget.admit('embedded', NEXT)).toBe(true);
    expect(budget.seriesOf(NEXT)).toBe(1);
  });

  it('is one bound over every writer (partition) of the process', () => {
    const budget = new SeriesBudget(4);
    budget.begin('p0', H, 2);
    budget.begin('p1', H, 1);
    expect(budget.admit('p1', H)).toBe(true);
    expect(budget.admit('p0', H)).toBe(false);
    expect(budget.admit('p1', H)).toBe(false);
  });

  it('keeps a count it knows when begun again, and forgets a handed-over writer or a closed hour', () => {
    const budget = new SeriesBudget(3);
    budget.begin('p0', H, 1);
    expect(budget.admit('p0', H)).toBe(true);
    budget.begin('p0', H, 0);
    expect(budget.seriesOf(H)).toBe(2);
    budget.begin('p1', H, 1);
    budget.begin('p1', NEXT, 1);
    budget.forget('p1');
    expect(budget.knows('p1', H)).toBe(false);
    expect(budget.knows('p1', NEXT)).toBe(false);
    expect(budget.seriesOf(H)).toBe(2);
    budget.forget('p0', H);
    expect(budget.knows('p0', H)).toBe(false);
    expect(budget.hoursOf('p0')).toEqual([]);
  });

  it('refuses to admit into an hour whose stored count was never read, and a bound that is not a whole number', () => {
    expect(() => new SeriesBudget(10).admit('p0', H)).toThrow(/not begun/);
    expect(() => new SeriesBudget(0)).toThrow(RangeError);
    expect(() => new SeriesBudget(1.5)).toThrow(RangeError);
  });
});
