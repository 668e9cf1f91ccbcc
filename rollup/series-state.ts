/**
 * The hourly tumbling window of one series (name, tags, type) for one UTC hour, as one writer
 * sees it: exact count, sum, min and max, a sketch for quantiles, and the raw values received
 * since the last flush while the series-hour is still under EXACT_SAMPLE_LIMIT values.
 *
 * Memory grows with series, not samples: past the limit only the sketch grows, and it is bounded
 * in buckets (see sketch.ts). Under the limit the state holds every value of the hour (not only
 * those since the last flush), so that the flush can write the hour's exact statistics
 * (rollup_stats) without reading the store; a state restored from the store holds only the values
 * since, until completeValues() is given the rest. Unit-weight values (nearly all) are kept in
 * order of size in a typed array (8 bytes each, outside the JS heap), the new ones merged in at
 * each flush: sorting every held value of every series at every flush made the statistics cost
 * grow with the hour (10,000 series of a few thousand values: seconds per flush). Once a value
 * with a sample rate arrives, values and weights are kept as they came (16 bytes a value).
 *
 * A remote-written classic histogram (SPEC §3.2) keeps, instead of the sketch, its cumulative
 * bucket counts (core/bucket-histogram.ts): count and sum stay exact, min and max are unknown,
 * quantiles are estimated from the buckets. The store row carries them in its sketch bytes.
 */
import { BucketHistogram, DistinctCounter, Sketch, isBucketHistogram, type HistogramIncrements, type MetricType, type StatChunk } from '../core/index.js';
import { EXACT_SAMPLE_LIMIT, type RawChunk, type RollupRow, type SeriesKey } from '../store/index.js';

export class SeriesState implements SeriesKey {
  count = 0;
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  last = NaN;
  sketch = new Sketch();
  chunks = 0;
  seq = 0;
  dirty = false;
  /** When a batch last brought data for it (the rollup's clock): idle closed hours leave memory. */
  touchedMs = 0;
  /** When its statistics were last written (rollup.ts STATISTICS_INTERVAL_MS); -Infinity: never. */
  statsWrittenMs = -Infinity;
  /** Sets: every member seen this hour, while there are at most EXACT_SAMPLE_LIMIT of them. */
  members: Set<string> | null = null;
  /** Sets: the estimate that takes over past the limit (always fed, so it is ready then). */
  distinct: DistinctCounter | null = null;
  /** A set past the exact limit got members since its count was last estimated. */
  private estimateStale = false;
  /** Remote-written histograms: cumulative counts by `le` bound, in place of the sketch. */
  buckets: BucketHistogram | null = null;
  /** The values (and weights, when some is not 1) since the last flush, as they came: the next chunk. */
  private pendingValues: number[] = [];
  private pendingWeights: number[] | null = null;
  /** Every value of the hour held for statistics (see above), while n <= EXACT_SAMPLE_LIMIT. */
  private held: HeldValues = new SortedValues();
  /** Chunks in the store whose values are not held (a restored state): completeValues() loads them. */
  chunksNotHeld = 0;
  private pendingMembers: string[] = [];

  constructor(
    readonly name: string,
    readonly tags: string,
    readonly type: MetricType,
    readonly hourSec: number,
  ) {
    if (type === 's') {
      this.members = new Set();
      this.distinct = new DistinctCounter();
    }
  }

  /** Continues from what the store holds (after a restart, or for a late sample). */
  restore(row: RollupRow, members: readonly string[] | null): void {
    this.count = row.count;
    this.n = row.n;
    this.sum = row.sum;
    this.min = row.min;
    this.max = row.max;
    this.last = row.last;
    this.chunks = row.chunks;
    this.chunksNotHeld = row.chunks;
    this.seq = row.seq;
    if (this.type === 's') {
      this.distinct = new DistinctCounter(Uint8Array.from(row.sketch));
      this.members = row.n <= EXACT_SAMPLE_LIMIT ? new Set(members) : null;
    } else if (isBucketHistogram(row.sketch)) {
      this.buckets = BucketHistogram.decode(row.sketch);
    } else {
      this.sketch = Sketch.decode(row.sketch);
    }
  }

  /** A sample of a value metric or a counter; `weight` is 1/sample_rate. */
  addValue(value: number, weight: number): void {
    this.count += weight;
    this.n++;
    this.sum += value * weight;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.sketch.add(value, weight);
    // a StatsD `h` value sent to a remote-written histogram's series-hour lands in its buckets
    this.buckets?.addValue(value, weight);
    if (this.n <= EXACT_SAMPLE_LIMIT) {
      this.pendingValues.push(value);
      if (weight !== 1 && this.pendingWeights === null) this.pendingWeights = new Array<number>(this.pendingValues.length - 1).fill(1);
      this.pendingWeights?.push(weight);
      if (weight !== 1 && this.held instanceof SortedValues) this.held = this.held.weighted();
      this.held.add(value, weight);
    } else if (this.pendingValues.length > 0 || this.held.size > 0 || this.chunksNotHeld > 0) {
      // Past the limit the query uses the sketch: raw values are no longer needed.
      this.pendingValues = [];
      this.pendingWeights = null;
      this.held = new SortedValues();
      this.chunksNotHeld = 0;
    }
    this.dirty = true;
  }

  /** A gauge update: `delta` adds to the current value (0 when there is none yet, as StatsD does). */
  addGauge(value: number, delta: boolean): void {
    const current = delta ? (Number.isNaN(this.last) ? 0 : this.last) + value : value;
    this.last = current;
    this.addValue(current, 1);
  }

  /**
   * One remote write increment of a classic histogram: exact count and sum, bucket counts added.
   * `n` counts increments (it decides nothing here: a bucketed row is never exact).
   */
  addHistogram(increments: HistogramIncrements): void {
    this.buckets ??= new BucketHistogram();
    this.buckets.add(increments.upperBounds, increments.counts);
    this.count += increments.count;
    this.sum += increments.sum;
    this.n++;
    this.dirty = true;
  }

  addMember(member: string): void {
    (this.distinct as DistinctCounter).add(member);
    const members = this.members;
    if (members === null) {
      // past the limit: the estimate counts, and any member may be new. The estimate reads every
      // register (16 KB), so it is taken once per flush in toRow(), not per member: per member it
      // made 15,000 members past the limit cost ~10 s of CPU.
      this.estimateStale = true;
      this.dirty = true;
      return;
    }
    if (members.has(member)) return;
    members.add(member);
    this.count++;
    this.n++;
    this.dirty = true;
    if (this.n <= EXACT_SAMPLE_LIMIT) {
      this.pendingMembers.push(member);
    } else {
      this.members = null;
      this.pendingMembers = [];
    }
  }

  toRow(writer: string, updatedMs: number): RollupRow {
    if (this.estimateStale) {
      this.count = this.n = (this.distinct as DistinctCounter).estimate();
      this.estimateStale = false;
    }
    return {
      name: this.name,
      tags: this.tags,
      type: this.type,
      hourSec: this.hourSec,
      writer,
      count: this.count,
      n: this.n,
      sum: this.sum,
      min: this.min,
      max: this.max,
      last: this.last,
      sketch: this.distinct !== null ? this.distinct.registers : this.buckets !== null ? this.buckets.encode() : this.sketch.encode(),
      chunks: this.chunks + (this.hasPending() ? 1 : 0),
      seq: this.seq,
      updatedMs,
    };
  }

  /** The raw values since the last flush, as the next chunk; null when there are none. */
  pendingChunk(writer: string): RawChunk | null {
    if (!this.hasPending()) return null;
    return {
      name: this.name,
      tags: this.tags,
      type: this.type,
      hourSec: this.hourSec,
      writer,
      chunk: this.chunks,
      values: Float64Array.from(this.pendingValues),
      weights: this.pendingWeights && Float64Array.from(this.pendingWeights),
      members: this.type === 's' ? this.pendingMembers : null,
    };
  }

  /** The row and chunk from toRow/pendingChunk are durable: start the next flush afresh. */
  written(): void {
    if (this.hasPending()) this.chunks++;
    this.pendingValues = [];
    this.pendingWeights = null;
    this.pendingMembers = [];
    this.dirty = false;
  }

  /**
   * Every value (sets: member) of the hour, as a chunk for core/statistics.ts; undefined when not
   * all are held (past EXACT_SAMPLE_LIMIT, or restored and not completed).
   */
  allValues(): StatChunk | undefined {
    if (this.type === 's') return this.members === null ? undefined : { values: [], weights: null, members: [...this.members] };
    if (this.n > EXACT_SAMPLE_LIMIT || this.chunksNotHeld > 0) return undefined;
    return this.held.chunk();
  }

  /** A restored state's stored values (its first `chunksNotHeld` chunks, in order): now it holds them all. */
  completeValues(stored: readonly StatChunk[]): void {
    if (this.chunksNotHeld === 0 || this.n > EXACT_SAMPLE_LIMIT) return;
    for (const c of stored) {
      for (let i = 0; i < c.values.length; i++) {
        const w = c.weights === null ? 1 : c.weights[i];
        if (w !== 1 && this.held instanceof SortedValues) this.held = this.held.weighted();
        this.held.add(c.values[i], w);
      }
    }
    this.chunksNotHeld = 0;
  }

  private hasPending(): boolean {
    return this.pendingValues.length > 0 || this.pendingMembers.length > 0;
  }
}

/** The values of a series-hour held for its exact statistics: the order they came in does not matter. */
interface HeldValues {
  readonly size: number;
  add(value: number, weight: number): void;
  chunk(): StatChunk;
}

/** Unit weights: every value in order of size, the ones added since the last chunk() merged in then. */
class SortedValues implements HeldValues {
  private sorted = new Float64Array(0);
  private length = 0;
  private unmerged: number[] = [];

  get size(): number {
    return this.length + this.unmerged.length;
  }

  add(value: number): void {
    this.unmerged.push(value);
  }

  chunk(): StatChunk {
    this.merge();
    return { values: this.sorted.subarray(0, this.length), weights: null, members: null, sorted: true };
  }

  /** The same values with weights, for a series that now has one that is not 1. */
  weighted(): WeightedValues {
    this.merge();
    const out = new WeightedValues();
    for (let i = 0; i < this.length; i++) out.add(this.sorted[i], 1);
    return out;
  }

  /** Merges the new values in from the end: one pass over the held ones, no other allocation than growth. */
  private merge(): void {
    const k = this.unmerged.length;
    if (k === 0) return;
    const fresh = Float64Array.from(this.unmerged).sort();
    this.unmerged = [];
    const total = this.length + k;
    if (total > this.sorted.length) {
      const grown = new Float64Array(Math.max(total, Math.min(EXACT_SAMPLE_LIMIT, this.sorted.length * 2), 16));
      grown.set(this.sorted.subarray(0, this.length));
      this.sorted = grown;
    }
    const a = this.sorted;
    let i = this.length - 1;
    let j = k - 1;
    for (let o = total - 1; j >= 0; o--) a[o] = i >= 0 && a[i] > fresh[j] ? a[i--] : fresh[j--];
    this.length = total;
  }
}

/** Some weight is not 1: values and weights as they came (the quantile sorts them). */
class WeightedValues implements HeldValues {
  private readonly values: number[] = [];
  private readonly weights: number[] = [];

  get size(): number {
    return this.values.length;
  }

  add(value: number, weight: number): void {
    this.values.push(value);
    this.weights.push(weight);
  }

  chunk(): StatChunk {
    return { values: this.values, weights: this.weights, members: null };
  }
}
