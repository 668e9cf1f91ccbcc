/**
 * The batch builder: collects the gateway's parsed values into per-series buffers and hands
 * them over as one batch (bus/batch-codec.ts describes the batch) by size or time.
 */
import { appendHistogram, histogramFloats, type EncodedNames, type SeriesBatch } from '../bus/index.js';
import type { HistogramIncrements, MetricType } from '../core/index.js';
import type { SampleSink } from './line-parser.js';

/**
 * A series the builder has seen. It outlives a batch: a steady stream of the same keys then costs
 * no allocation per key per batch beyond its value arrays (measured with 10,000 keys, where a
 * fresh map per batch made the builder allocate two objects for every two lines).
 */
class SeriesBuffer {
  values: number[] = [];
  weights: number[] | null = null;
  deltas: number[] | null = null;
  members: string[] | null = null;
  /** Next series under the same name (a chain keeps lookups free of string concatenation). */
  next: SeriesBuffer | null = null;
  /** The batch (take count) that last had a value of this series. */
  lastBatch = -1;
  readonly nameBytes: Uint8Array;
  readonly tagsBytes: Uint8Array;
  constructor(
    readonly type: MetricType,
    readonly name: string,
    readonly tags: string,
    readonly hourSec: number,
    /** Values hold remote write histogram increments (bus/batch-codec.ts appendHistogram). */
    readonly histogram: boolean,
  ) {
    this.nameBytes = Buffer.from(name, 'utf8');
    this.tagsBytes = Buffer.from(tags, 'utf8');
  }
}

/** Series idle for this many batches are forgotten (their hour is over, or the key went quiet). */
const FORGET_AFTER_BATCHES = 64;

/** Collects parsed values into per-series buffers; `take()` hands them over and starts afresh. */
export class BatchBuilder implements SampleSink {
  private readonly byName = new Map<string, SeriesBuffer>();
  private touched: SeriesBuffer[] = [];
  private batch = 0;
  /** Values (and set members) held, for the size trigger. */
  size = 0;

  sample(name: string, tags: string, type: MetricType, value: number, weight: number, delta: boolean, hourSec: number): void {
    const s = this.lookup(name, tags, type, hourSec, false);
    if (weight !== 1 && s.weights === null) s.weights = new Array<number>(s.values.length).fill(1);
    if (delta && s.deltas === null) s.deltas = new Array<number>(s.values.length).fill(0);
    s.values.push(value);
    if (s.weights !== null) s.weights.push(weight);
    if (s.deltas !== null) s.deltas.push(delta ? 1 : 0);
    this.size++;
  }

  member(name: string, tags: string, member: string, hourSec: number): void {
    const s = this.lookup(name, tags, 's', hourSec, false);
    (s.members ??= []).push(member);
    this.size++;
  }

  /**
   * A classic histogram's increments from remote write: a series of type `h` of its own (beside
   * any StatsD `h` samples of the same name), counted in `size` by the floats it takes.
   */
  histogram(name: string, tags: string, hourSec: number, increments: HistogramIncrements): void {
    const s = this.lookup(name, tags, 'h', hourSec, true);
    appendHistogram(s.values, increments);
    this.size += histogramFloats(increments.upperBounds.length);
  }

  /** The series that received values since the last take, in first-seen order. */
  take(): (SeriesBatch & EncodedNames)[] {
    const taken = this.touched.map((s) => {
      const out = { type: s.type, name: s.name, tags: s.tags, hourSec: s.hourSec, values: s.values, weights: s.weights, deltas: s.deltas, members: s.members, histogram: s.histogram, nameBytes: s.nameBytes, tagsBytes: s.tagsBytes };
      s.values = [];
      s.weights = null;
      s.deltas = null;
      s.members = null;
      return out;
    });
    this.touched = [];
    this.size = 0;
    this.batch++;
    if (this.batch % FORGET_AFTER_BATCHES === 0) this.forgetIdle();
    return taken;
  }

  private lookup(name: string, tags: string, type: MetricType, hourSec: number, histogram: boolean): SeriesBuffer {
    const head = this.byName.get(name) ?? null;
    let s = head;
    while (s !== null && !(s.type === type && s.hourSec === hourSec && s.tags === tags && s.histogram === histogram)) s = s.next;
    if (s === null) {
      s = new SeriesBuffer(type, name, tags, hourSec, histogram);
      s.next = head;
      this.byName.set(name, s);
    }
    if (s.lastBatch !== this.batch) {
      s.lastBatch = this.batch;
      this.touched.push(s);
    }
    return s;
  }

  private forgetIdle(): void {
    const horizon = this.batch - FORGET_AFTER_BATCHES;
    for (const [name, head] of this.byName) {
      let kept: SeriesBuffer | null = null;
      for (let s: SeriesBuffer | null = head; s !== null; ) {
        const next: SeriesBuffer | null = s.next;
        if (s.lastBatch >= horizon) {
          s.next = kept;
          kept = s;
        }
        s = next;
      }
      if (kept === null) this.byName.delete(name);
      else this.byName.set(name, kept);
    }
  }
}

