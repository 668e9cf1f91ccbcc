import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../bus/index.js';
import { BatchBuilder } from './batch-builder.js';
import { plainSeries as plain } from '../test-support/batches.js';

const H = 1_795_381_200;

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

