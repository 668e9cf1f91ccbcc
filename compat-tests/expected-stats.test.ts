// The expected-value helpers checked against hand-computed answers, so a wrong expectation is
// caught here rather than blamed on the product.
import { describe, expect, it } from 'vitest';
import { expectedSamples, valueOps, type ClientOp } from './client-ops.js';
import { expectedStats, gaugeReadings, unweighted, weighted } from './expected-stats.js';

describe('expectedStats', () => {
  it('averages the two middle samples of an even count', () => {
    expect(expectedStats(unweighted([4, 1, 3, 2]))).toEqual({
      average: 2.5, min: 1, max: 4, median: 2.5, count: 4, sum: 10, p90: 4, p95: 4, p99: 4,
    });
  });

  it('takes the middle sample of an odd count', () => {
    expect(expectedStats(unweighted([3, 1, 2])).median).toBe(2);
  });

  it('puts percentiles between neighbours when q·N is whole', () => {
    const stats = expectedStats(unweighted(Array.from({ length: 100 }, (_, i) => 100 - i)));
    expect([stats.median, stats.p90, stats.p95, stats.p99]).toEqual([50.5, 90.5, 95.5, 99.5]);
  });

  it('weights a sampled value by 1/rate in count, sum and quantiles but not min/max', () => {
    const stats = expectedStats([weighted(10, 0.5), weighted(20), weighted(30)]);
    expect(stats).toMatchObject({ count: 4, sum: 70, average: 17.5, median: 15, min: 10, max: 30 });
  });

  it('handles duplicates at the median', () => {
    expect(expectedStats(unweighted([5, 5, 5, 7])).median).toBe(5);
    expect(expectedStats(unweighted([1, 5, 5, 7])).median).toBe(5);
  });
});

describe('gaugeReadings', () => {
  it('applies deltas to the current value', () => {
    expect(gaugeReadings([{ set: 10 }, { delta: 5 }, { delta: -3 }, { set: 4 }, { delta: 0.5 }])).toEqual([10, 15, 12, 4, 4.5]);
  });
});

describe('expectedSamples', () => {
  const ops: ClientOp[] = [
    ...valueOps('timing', 't', [1, 2, 3, 4], { rate: 0.5, keepEvery: 2, tags: { route: 'a' } }),
    { kind: 'timing', key: 't', value: 9, tags: { route: 'b', region: 'eu' } },
    { kind: 'timing', key: 'other', value: 100 },
    { kind: 'gauge', key: 'g', value: -5 },
  ];

  it('drops sampled-out calls and weights the kept ones', () => {
    expect(expectedSamples(ops, 't')).toEqual([weighted(1, 0.5), weighted(3, 0.5), weighted(9)]);
  });

  it('narrows by every wanted tag', () => {
    expect(expectedSamples(ops, 't', { tags: { route: 'b', region: 'eu' } })).toEqual([weighted(9)]);
    expect(expectedSamples(ops, 't', { tags: { route: 'b', region: 'us' } })).toEqual([]);
  });

  it('maps values and gauge calls to what the client writes', () => {
    expect(expectedSamples(ops, 't', { tags: { route: 'b' }, wireValue: (op) => op.value * 2 })).toEqual([weighted(18)]);
    expect(expectedSamples(ops, 'g', { wireGauge: (op) => [{ set: 0 }, { delta: op.value }] })).toEqual([weighted(0), weighted(-5)]);
  });
});
