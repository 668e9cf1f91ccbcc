import { describe, expect, it } from 'vitest';
import { exactQuantiles, sortedQuantiles } from './quantile.js';

/** SPEC §4 spelled out the slow way: expand each value by its (whole) weight, then take ranks. */
function byDefinition(values: readonly number[], weights: readonly number[], q: number): number {
  const expanded: number[] = [];
  values.forEach((v, i) => {
    for (let k = 0; k < weights[i]; k++) expanded.push(v);
  });
  expanded.sort((a, b) => a - b);
  const n = expanded.length;
  // q*N as a person computes it: 0.1 x 30 is 3, whatever floating point says
  const rank = Math.round(q * n * 1e6) / 1e6;
  // the first sample whose cumulative weight (position + 1) reaches q*N, and the first that passes it
  const reach = expanded[Math.max(0, Math.ceil(rank) - 1)];
  const pass = expanded[Math.min(n - 1, Math.floor(rank))];
  return (reach + pass) / 2;
}

function random(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
}

const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

describe('exact quantiles', () => {
  it('unit weights, sorted or not, agree with the definition at every size from 1 to 60', () => {
    const r = random(3);
    for (let n = 1; n <= 60; n++) {
      const values = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? Math.floor(r() * 20) - 5 : r() * 1000 - 100));
      const ones = values.map(() => 1);
      const expected = QS.map((q) => byDefinition(values, ones, q));
      expect(exactQuantiles(values, null, QS), `n=${n}`).toEqual(expected);
      expect(sortedQuantiles(Float64Array.from(values).sort(), QS), `n=${n}`).toEqual(expected);
    }
  });

  it('whole weights agree with the same values repeated', () => {
    const r = random(11);
    for (let n = 1; n <= 30; n++) {
      const values = Array.from({ length: n }, () => Math.round(r() * 1000) / 10);
      const weights = values.map(() => 1 + Math.floor(r() * 4));
      expect(exactQuantiles(values, weights, QS), `n=${n}`).toEqual(QS.map((q) => byDefinition(values, weights, q)));
    }
  });

  it('nothing to rank: NaN', () => {
    expect(sortedQuantiles([], [0.5])).toEqual([NaN]);
    expect(exactQuantiles([], null, [0.5])).toEqual([NaN]);
  });
});
