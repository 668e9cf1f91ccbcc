import { describe, expect, it } from 'vitest';
import { BatchBuilder, BatchDecodeError, decodeBatch, encodeBatch, type SeriesBatch } from './batch.js';

const H = 1_795_381_200;

const plain = (s: SeriesBatch) => ({
  type: s.type,
  name: s.name,
  tags: s.tags,
  hourSec: s.hourSec,
  values: Array.from(s.values),
  weights: s.weights && Array.from(s.weights),
  deltas: s.deltas && Array.from(s.deltas),
  members: s.members,
});

describe('BatchBuilder', () => {
  it('groups values by name, tags, type and hour, in arrival order', () => {
    const b = new BatchBuilder();
    b.sample('a', '', 'ms', 1, 1, false, H);
    b.sample('a', 'k:v', 'ms', 2, 1, false, H);
    b.sample('a', '', 'ms', 3, 1, false, H);
    b.sample('a', '', 'h', 4, 1, false, H);
    b.sample('a', '', 'ms', 5, 1, false, H + 3600);
    b.member('u', '', 'alice', H);
    expect(b.size).toBe(6);
    const taken = b.take();
    expect(taken.map((s) => [s.name, s.tags, s.type, s.hourSec, s.values, s.members])).toEqual([
      ['a', '', 'ms', H, [1, 3], null],
      ['a', 'k:v', 'ms', H, [2], null],
      ['a', '', 'h', H, [4], null],
      ['a', '', 'ms', H + 3600, [5], null],
      ['u', '', 's', H, [], ['alice']],
    ]);
    expect(b.size).toBe(0);
    expect(b.take()).toEqual([]);
  });

  it('materialises weights and delta flags only when needed, keeping earlier values at 1 and 0', () => {
    const b = new BatchBuilder();
    b.sample('a', '', 'ms', 1, 1, false, H);
    b.sample('a', '', 'ms', 2, 10, false, H);
    b.sample('g', '', 'g', 5, 1, false, H);
    b.sample('g', '', 'g', -1, 1, true, H);
    const [a, g] = b.take();
    expect(a.weights).toEqual([1, 10]);
    expect(a.deltas).toBeNull();
    expect(g.deltas).toEqual([0, 1]);
    expect(g.weights).toBeNull();
  });
});

describe('BatchBuilder across batches', () => {
  it('a taken batch stays intact while the next one fills', () => {
    const b = new BatchBuilder();
    b.sample('a', '', 'ms', 1, 1, false, H);
    const first = b.take();
    b.sample('a', '', 'ms', 2, 1, false, H);
    b.sample('a', '', 'ms', 3, 2, false, H);
    expect(first.map((s) => [s.values, s.weights])).toEqual([[[1], null]]);
    expect(b.take().map((s) => [s.values, s.weights])).toEqual([[[2, 3], [1, 2]]]);
  });

  it('a series idle for many batches is forgotten, and comes back when it is sent again', () => {
    const b = new BatchBuilder();
    b.sample('quiet', '', 'ms', 1, 1, false, H);
    b.sample('busy', '', 'ms', 1, 1, false, H);
    b.take();
    for (let i = 0; i < 200; i++) {
      b.sample('busy', '', 'ms', i, 1, false, H);
      expect(b.take().map((s) => s.name)).toEqual(['busy']);
    }
    b.sample('quiet', 'k:v', 'ms', 5, 1, false, H);
    b.sample('quiet', '', 'ms', 6, 1, false, H);
    expect(b.take().map((s) => [s.name, s.tags, s.values])).toEqual([
      ['quiet', 'k:v', [5]],
      ['quiet', '', [6]],
    ]);
  });
});

describe('batch codec', () => {
  it('round-trips every kind of series', () => {
    const b = new BatchBuilder();
    b.sample('api.checkout', 'env:prod,route:/pay', 'ms', 118.5, 1, false, H);
    b.sample('api.checkout', 'env:prod,route:/pay', 'ms', 0.1, 4, false, H);
    b.sample('caf\u00e9', '', 'h', -3, 1, false, H);
    b.sample('g', '', 'g', 7, 1, false, H);
    b.sample('g', '', 'g', -2, 1, true, H);
    b.member('users', 'k:\u00fc', 'b\u00f6b', H);
    b.member('users', 'k:\u00fc', 'alice', H);
    b.sample('hits', '', 'c', 1, 10, false, H + 7200);
    const series = b.take();
    const encoded = encodeBatch(series, 1234.5);
    const decoded = decodeBatch(encoded);
    expect(decoded.createdMs).toBe(1234.5);
    expect(decoded.series.map(plain)).toEqual(series.map(plain));
  });

  it('decodes from an unaligned copy (as a network message may be)', () => {
    const b = new BatchBuilder();
    b.sample('a', '', 'ms', 1.5, 1, false, H);
    const encoded = encodeBatch(b.take(), 1);
    const shifted = new Uint8Array(encoded.length + 3);
    shifted.set(encoded, 3);
    expect(Array.from(decodeBatch(shifted.subarray(3)).series[0].values)).toEqual([1.5]);
  });

  it('refuses garbage and truncated input with a named error', () => {
    expect(() => decodeBatch(new Uint8Array(16))).toThrow(BatchDecodeError);
    const b = new BatchBuilder();
    b.sample('a', '', 'ms', 1, 1, false, H);
    const encoded = encodeBatch(b.take(), 1);
    expect(() => decodeBatch(encoded.subarray(0, encoded.length - 8))).toThrow(/truncated/);
  });
});
