import { describe, expect, it } from 'vitest';
import { BatchBuilder } from '../gateway/index.js';
import { BatchDecodeError, decodeBatch, encodeBatch, histogramsOf, type SeriesBatch } from './batch-codec.js';
import { plainSeries as plain } from '../test-support/batches.js';

const H = 1_795_381_200;

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

  it('carries remote write histogram increments as a series of their own, beside StatsD h samples', () => {
    const b = new BatchBuilder();
    b.sample('rpc_seconds', 'svc:x', 'h', 0.3, 1, false, H);
    b.histogram('rpc_seconds', 'svc:x', H, { upperBounds: [0.25, 1, Infinity], counts: [4, 7, 7], count: 7, sum: 4.5 });
    b.histogram('rpc_seconds', 'svc:x', H, { upperBounds: [Infinity], counts: [2], count: 2, sum: 1 });
    const decoded = decodeBatch(encodeBatch(b.take(), 1)).series;
    expect(decoded.map((s) => [s.type, s.histogram === true])).toEqual([
      ['h', false],
      ['h', true],
    ]);
    expect(Array.from(decoded[0].values)).toEqual([0.3]);
    const increments = histogramsOf(decoded[1].values).map((h) => ({ ...h, upperBounds: Array.from(h.upperBounds), counts: Array.from(h.counts) }));
    expect(increments).toEqual([
      { upperBounds: [0.25, 1, Infinity], counts: [4, 7, 7], count: 7, sum: 4.5 },
      { upperBounds: [Infinity], counts: [2], count: 2, sum: 1 },
    ]);
  });

  it('refuses a histogram series whose increments do not add up', () => {
    const series: SeriesBatch = { type: 'h', name: 'x', tags: '', hourSec: H, values: [1, 2, 5, 0.5], weights: null, deltas: null, members: null, histogram: true };
    expect(() => decodeBatch(encodeBatch([series], 1))).toThrow(/does not fit/);
  });

  it('decodes a batch written before the histogram flag existed (flags 0..3) as before', () => {
    // bytes as the codec wrote them before remote write: one ms series, one value, no flags
    const old = Buffer.alloc(16 + 24 + 8);
    old.writeUInt32LE(0x31424748, 0);
    old.writeUInt32LE(1, 4);
    old.writeDoubleLE(7, 8);
    old.writeUInt8(3, 16); // type code of ms
    old.writeUInt32LE(H, 20);
    old.writeUInt32LE(1, 24);
    old.writeUInt16LE(3, 28);
    old.write('lat', 32);
    old.writeDoubleLE(118.5, 40);
    const [s] = decodeBatch(new Uint8Array(old)).series;
    expect(s.histogram).toBeUndefined();
    expect(plain(s)).toEqual({ type: 'ms', name: 'lat', tags: '', hourSec: H, values: [118.5], weights: null, deltas: null, members: null });
  });
});
