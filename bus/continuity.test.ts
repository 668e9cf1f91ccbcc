/**
 * Continuity stamps and their tracker, pure: a gateway run's numbering with its floor, and what
 * a worker reading the partition in stream order counts as removed before it was applied.
 */
import { describe, expect, it } from 'vitest';
import { ContinuityTracker, PublisherContinuity, formatStamp, parseStamp, type ResetReason, type Stamp } from './continuity.js';

const P = 1;

function tracker(strict = true) {
  const resets: ResetReason[] = [];
  const t = new ContinuityTracker({ strict, seq: 0 }, (r) => resets.push(r));
  let seq = 0;
  let batches = 0;
  let values = 0;
  /** Reads these stamps in stream order; returns the losses found. */
  const read = (...stamps: Stamp[]) => {
    for (const s of stamps) {
      const loss = t.observe(s, ++seq);
      batches += loss?.batches ?? 0;
      values += loss?.values ?? 0;
    }
    return { batches, values };
  };
  return { t, read, resets };
}

/** Stamps a message and settles it as stored before the next: a publisher with one publish at a time. */
function inOrder(pub: PublisherContinuity, values: number[]): Stamp[] {
  return values.map((v) => {
    const s = pub.stamp(P, v, false);
    pub.settled(s, P, 'stored');
    return s;
  });
}

describe('continuity stamps', () => {
  it('round-trip through the header text; anything else is no stamp', () => {
    const s: Stamp = { origin: 'gw 1.1795381200000', counter: 7, values: 3, floor: 5, storedBelow: 4, valuesBelow: 12 };
    expect(parseStamp(formatStamp(s))).toEqual(s);
    for (const bad of [undefined, '', '1 2 3', '1 2 3 4 5', 'a 2 1 0 0 gw', '0 1 1 0 0 gw', '3 1 4 0 0 gw', '1 -1 1 0 0 gw']) expect(parseStamp(bad)).toBeUndefined();
  });
});

describe('ContinuityTracker', () => {
  it('every batch read: nothing lost', () => {
    const { read } = tracker();
    expect(read(...inOrder(new PublisherContinuity('g'), [1, 2, 3, 4]))).toEqual({ batches: 0, values: 0 });
  });

  it('a run removed from the middle: counted with its values once a later batch is read', () => {
    const [a, b, c, d, e] = inOrder(new PublisherContinuity('g'), [1, 2, 3, 4, 5]);
    const { read } = tracker();
    expect(read(a, b)).toEqual({ batches: 0, values: 0 });
    expect(read(e)).toEqual({ batches: 2, values: c.values + d.values });
  });

  it('a publish that failed and was replayed from the spool after later ones: nothing lost', () => {
    const pub = new PublisherContinuity('g');
    const [a, b, c] = [1, 2, 3].map((v) => pub.stamp(P, v, false));
    pub.settled(b, P, 'stored');
    pub.settled(c, P, 'stored');
    const d = pub.stamp(P, 4, false); // a still unsettled: the floor stays at 1
    pub.settled(d, P, 'stored');
    pub.settled(a, P, 'duplicate'); // the replay of a batch whose ack was lost: itself
    const [e] = inOrder(pub, [5]);
    expect(e.floor).toBe(5);
    const { read } = tracker();
    expect(read(b, c, d, a, e)).toEqual({ batches: 0, values: 0 });
  });

  it('the same replayed batch removed: counted once', () => {
    const pub = new PublisherContinuity('g');
    const a = pub.stamp(P, 10, false);
    const [b] = inOrder(pub, [2]);
    pub.settled(a, P, 'stored');
    const [c] = inOrder(pub, [3]);
    const { read } = tracker();
    expect(read(b, c)).toEqual({ batches: 1, values: 10 });
  });

  it('dropped batches and Idempotency-Key duplicates were never stored as themselves: not counted', () => {
    const pub = new PublisherContinuity('g');
    const dropped = pub.stamp(P, 5, false);
    pub.settled(dropped, P, 'not_stored');
    const retry = pub.stamp(P, 6, true);
    pub.settled(retry, P, 'duplicate');
    const [c] = inOrder(pub, [1]);
    expect(c.floor).toBe(3);
    const { read } = tracker();
    expect(read(c)).toEqual({ batches: 0, values: 0 });
  });

  it('a batch read twice (redelivered) counts once; origins and partitions are apart', () => {
    const g = new PublisherContinuity('g');
    const h = new PublisherContinuity('h');
    const [g1, g2, g3] = inOrder(g, [1, 1, 1]);
    const [h1, h2] = inOrder(h, [7, 7]);
    const other = g.stamp(2, 9, false); // partition 2 has its own numbering
    expect(other.counter).toBe(1);
    const { read } = tracker();
    expect(read(g1, h1, g1, g2, g2, h2, g3)).toEqual({ batches: 0, values: 0 });
  });

  it('strict: an origin first met at its number 3 lost 1 and 2; otherwise tracking starts there', () => {
    const stamps = inOrder(new PublisherContinuity('g'), [1, 2, 3]);
    expect(tracker(true).read(stamps[2])).toEqual({ batches: 2, values: 3 });
    expect(tracker(false).read(stamps[2])).toEqual({ batches: 0, values: 0 });
  });

  it('goes on from a snapshot as if never stopped', () => {
    const [a, b, c, d] = inOrder(new PublisherContinuity('g'), [1, 2, 3, 4]);
    const first = tracker();
    first.read(a);
    const restored = new ContinuityTracker({ strict: true, seq: 1, state: JSON.parse(JSON.stringify(first.t.snapshot())) }, () => undefined);
    expect(restored.observe(b, 2)).toBeUndefined();
    expect(restored.observe(d, 3)).toMatchObject({ origin: 'g', batches: 1, values: c.values, afterSeq: 2, beforeSeq: 3 });
  });
});
