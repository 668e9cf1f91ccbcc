import { describe, expect, it } from 'vitest';
import { seededRandom as random } from '../test-support/random.js';
import { exactQuantile } from './quantile.js';
import { RELATIVE_ACCURACY, Sketch } from './sketch.js';

const DATASETS: Record<string, (r: () => number) => number> = {
  uniform: (r) => r() * 1000,
  'log-normal latencies': (r) => Math.exp(3 + 1.5 * Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r())),
  exponential: (r) => -Math.log(r() || 1e-12) * 50,
  'negative only': (r) => -1 - r() * 500,
  'mixed sign': (r) => (r() - 0.5) * 2000,
  'with zeros': (r) => (r() < 0.3 ? 0 : r() * 100),
  constant: () => 118.5,
  'wide range': (r) => Math.pow(10, r() * 12 - 3),
};
const SIZES = [1, 2, 101, 10_000, 100_000];
const QUANTILES = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1];

/**
 * Each sketch answer averages two bucket values, each within RELATIVE_ACCURACY of the exact
 * sample at its rank; so the error is bounded by that fraction of the two samples' magnitudes.
 */
function bound(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const lower = sorted[Math.max(0, Math.ceil(q * n - 1e-9 * n) - 1)];
  const upper = sorted[Math.min(n - 1, Math.floor(q * n + 1e-9 * n))];
  return (RELATIVE_ACCURACY * (Math.abs(lower) + Math.abs(upper))) / 2 + 1e-12;
}

describe.each(Object.entries(DATASETS))('sketch on %s data', (_name, generate) => {
  it.each(SIZES)('every quantile of %i samples is within the relative-error bound', (size) => {
    const r = random(size);
    const values = Array.from({ length: size }, () => generate(r));
    const sketch = new Sketch();
    for (const v of values) sketch.add(v);
    expect(sketch.count).toBe(size);
    for (const q of QUANTILES) {
      const exact = exactQuantile(values, null, q);
      expect(Math.abs(sketch.quantile(q) - exact), `q=${q}`).toBeLessThanOrEqual(bound(values, q));
    }
  });

  it('merging sketches of parts equals one sketch of the whole, also through encode/decode', () => {
    const r = random(7);
    const values = Array.from({ length: 20_000 }, () => generate(r));
    const whole = new Sketch();
    for (const v of values) whole.add(v);
    const merged = new Sketch();
    for (let part = 0; part < 4; part++) {
      const s = new Sketch();
      for (const v of values.slice(part * 5000, (part + 1) * 5000)) s.add(v);
      merged.merge(Sketch.decode(s.encode()));
    }
    expect(merged.count).toBe(whole.count);
    for (const q of QUANTILES) expect(merged.quantile(q)).toBe(whole.quantile(q));
  });
});

describe('sketch', () => {
  it('weights stand for repeated samples (sample rates)', () => {
    const weighted = new Sketch();
    const repeated = new Sketch();
    for (let v = 1; v <= 100; v++) {
      weighted.add(v, 10);
      for (let k = 0; k < 10; k++) repeated.add(v);
    }
    expect(weighted.count).toBe(1000);
    for (const q of QUANTILES) expect(weighted.quantile(q)).toBe(repeated.quantile(q));
  });

  it('keeps negative values through a merge (the sketches-js issue #22 case)', () => {
    const a = new Sketch();
    const b = new Sketch();
    for (let i = 1; i <= 100; i++) a.add(-i);
    for (let i = 1; i <= 100; i++) b.add(i);
    a.merge(b);
    expect(a.count).toBe(200);
    expect(Math.abs(a.quantile(0) + 100)).toBeLessThanOrEqual(100 * RELATIVE_ACCURACY);
    expect(Math.abs(a.quantile(0.25) + 50.5)).toBeLessThanOrEqual(51 * RELATIVE_ACCURACY);
    expect(Math.abs(a.quantile(1) - 100)).toBeLessThanOrEqual(100 * RELATIVE_ACCURACY);
  });

  it('an empty sketch answers NaN and round-trips', () => {
    const s = Sketch.decode(new Sketch().encode());
    expect(s.count).toBe(0);
    expect(s.quantile(0.5)).toBeNaN();
  });

  it('bounds its memory: values spanning 600 orders of magnitude stay within the bucket cap', () => {
    const s = new Sketch();
    for (let e = -300; e <= 300; e++) s.add(Math.pow(10, e));
    expect(s.encode().byteLength).toBeLessThanOrEqual(16 + 2 * (8 + 4096 * 8));
    expect(s.quantile(1)).toBeCloseTo(1e300, -298);
  });

  it('encodes sparsely: response times spread over hundreds of buckets take a few hundred bytes', () => {
    const s = new Sketch();
    for (let i = 0; i < 90; i++) s.add((i * 337) % 941, i % 7 === 0 ? 0.5 : 1);
    s.add(-3);
    s.add(0);
    const bytes = s.encode();
    expect(bytes.byteLength).toBeLessThan(400);
    const back = Sketch.decode(bytes);
    expect(back.count).toBe(s.count);
    for (const q of [0, 0.1, 0.5, 0.9, 0.99, 1]) expect(back.quantile(q)).toBe(s.quantile(q));
  });

  it('still reads the dense version 1 that earlier releases stored', () => {
    // u8 1 | 7 pad | f64 zero | positive: i32 offset | u32 length | f64 counts | negative: the same
    const bytes = new Uint8Array(16 + 8 + 2 * 8 + 8 + 8);
    const view = new DataView(bytes.buffer);
    view.setUint8(0, 1);
    view.setFloat64(8, 2, true);
    view.setInt32(16, 100, true);
    view.setUint32(20, 2, true);
    view.setFloat64(24, 3, true);
    view.setFloat64(32, 5, true);
    view.setInt32(40, 7, true);
    view.setUint32(44, 1, true);
    view.setFloat64(48, 1, true);
    const s = Sketch.decode(bytes);
    expect(s.count).toBe(11);
    expect(s.quantile(0)).toBeLessThan(0);
    expect(s.quantile(0.2)).toBe(0);
    const gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
    expect(s.quantile(1)).toBeCloseTo((2 * gamma ** 101) / (gamma + 1), 9);
    expect(Sketch.decode(s.encode()).quantile(1)).toBe(s.quantile(1));
  });

  it('refuses bytes that are not a sketch', () => {
    expect(() => Sketch.decode(new Uint8Array(8))).toThrow(/sketch/);
    expect(() => Sketch.decode(new Sketch().encode().subarray(0, 5))).toThrow(/truncated/);
    const cut = new Sketch();
    cut.add(5);
    expect(() => Sketch.decode(cut.encode().subarray(0, 11))).toThrow(/truncated/);
  });
});

describe('exactQuantile', () => {
  it('averages the two middle samples for an even count', () => {
    expect(exactQuantile([4, 1, 3, 2], null, 0.5)).toBe(2.5);
    expect(exactQuantile([5, 1, 3], null, 0.5)).toBe(3);
  });
  it('treats a weight as that many samples', () => {
    // [1, 1, 1, 9] -> median (1 + 1) / 2
    expect(exactQuantile([9, 1], [1, 3], 0.5)).toBe(1);
    expect(exactQuantile([9, 1], [2, 2], 0.5)).toBe(5);
  });
  it('p90 of 1..100 is the mean of the 90th and 91st', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(exactQuantile(values, null, 0.9)).toBe(90.5);
    expect(exactQuantile(values, null, 0)).toBe(1);
    expect(exactQuantile(values, null, 1)).toBe(100);
  });
});
