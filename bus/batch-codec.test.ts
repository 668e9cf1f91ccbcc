import { describe, expect, it } from 'vitest';
import { BatchBuilder } from '../gateway/index.js';
import { BatchDecodeError, decodeBatch, encodeBatch, type SeriesBatch } from './batch-codec.js';

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
