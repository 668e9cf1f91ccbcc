import { describe, expect, it } from 'vitest';
import { BucketHistogram, MAX_BUCKET_BOUNDS, bucketQuantile, isBucketHistogram } from './bucket-histogram.js';
import { Sketch } from './sketch.js';

describe('bucketQuantile', () => {
  // bounds 1, 2, 4, +Inf holding 2, 4, 2, 2 observations (cumulative 2, 6, 8, 10)
  const bounds = [1, 2, 4, Infinity];
  const cumulative = [2, 6, 8, 10];
  it('interpolates inside the bucket holding the rank, from 0 in the first bucket', () => {
    expect(bucketQuantile(0.5, bounds, cumulative)).toBeCloseTo(1 + (5 - 2) / 4, 12);
    expect(bucketQuantile(0.1, bounds, cumulative)).toBeCloseTo(0.5, 12);
    expect(bucketQuantile(0.7, bounds, cumulative)).toBeCloseTo(2 + (2 * (7 - 6)) / 2, 12);
  });
  it('answers the highest finite bound for a rank in +Inf, NaN with no observations', () => {
    expect(bucketQuantile(0.99, bounds, cumulative)).toBe(4);
    expect(bucketQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNaN();
  });
});

describe('BucketHistogram', () => {
  it('adds increments from several requests and answers the same quantile as one whole histogram', () => {
    const h = new BucketHistogram();
    h.add([1, 2], [1, 3]); // a request without the 4 and +Inf buckets
    h.add([1, 2, 4, Infinity], [1, 1, 2, 4]);
    h.add([4, Infinity], [4, 6]);
    // cumulative by bound: 1 -> 2, 2 -> 4, 4 -> 6, +Inf -> 10
    expect(h.quantile(0.5)).toBe(bucketQuantile(0.5, [1, 2, 4, Infinity], [2, 4, 6, 10]));
    expect(h.quantile(0.5)).toBeCloseTo(2 + (2 * (5 - 4)) / 2, 12);
  });

  it('puts a plain observation in every bucket at or above it', () => {
    const h = new BucketHistogram();
    h.add([1, 2, Infinity], [0, 0, 0]);
    h.addValue(1.5, 2);
    h.addValue(5, 1);
    const back = BucketHistogram.decode(h.encode());
    // cumulative 0, 2, 3: the median (rank 1.5) is in (1, 2]
    expect(back.quantile(0.5)).toBeCloseTo(1 + 1.5 / 2, 12);
    expect(back.quantile(0.99)).toBe(2);
  });

  it('round-trips through its bytes, merges by addition, and is told apart from a sketch', () => {
    const a = new BucketHistogram();
    a.add([0.1, 0.5, Infinity], [1, 4, 5]);
    const b = new BucketHistogram();
    b.add([0.1, 0.5, Infinity], [3, 4, 7]);
    const bytes = a.encode();
    expect(isBucketHistogram(bytes)).toBe(true);
    expect(isBucketHistogram(new Sketch().encode())).toBe(false);
    const merged = BucketHistogram.decode(bytes);
    merged.merge(b);
    expect(merged.bounds).toBe(3);
    // cumulative 4, 8, 12: p90 (rank 10.8) is in +Inf: the highest finite bound
    expect(merged.quantile(0.9)).toBe(0.5);
    expect(merged.quantile(0.25)).toBeCloseTo(0.1 * (3 / 4), 12);
    expect(() => BucketHistogram.decode(bytes.subarray(0, bytes.length - 8))).toThrow(/truncated/);
    expect(() => BucketHistogram.decode(new Sketch().encode())).toThrow(/not a bucket histogram/);
  });

  it('keeps at most MAX_BUCKET_BOUNDS bounds and counts what it refused', () => {
    const h = new BucketHistogram();
    const bounds = Array.from({ length: MAX_BUCKET_BOUNDS + 3 }, (_, i) => i + 1);
    h.add(bounds, bounds.map(() => 1));
    expect(h.bounds).toBe(MAX_BUCKET_BOUNDS);
    expect(h.boundsRefused).toBe(3);
  });
});
