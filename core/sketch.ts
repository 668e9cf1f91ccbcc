/**
 * A DDSketch (Masson, Rim, Lee: "DDSketch: a fast and fully-mergeable quantile sketch with
 * relative-error guarantees", VLDB 2019): logarithmic buckets, so any quantile is returned
 * within RELATIVE_ACCURACY of the true value, and two sketches merge by adding bucket counts.
 *
 * Written here rather than taken from @datadog/sketches-js because that package's merge drops
 * negative values (its issue #22), its protobuf round trip needs protobufjs and loses nothing we
 * could not keep ourselves only by adding another codec, and we need float weights (1/sample
 * rate) and a compact encoding of our own for the store. Count, sum, min and max are kept
 * exactly beside the sketch by the caller.
 */

import { rankBounds } from './quantile.js';

/** Bound on the relative error of a quantile; below the SPEC's 1 % to leave room for rounding. */
export const RELATIVE_ACCURACY = 0.009;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Magnitudes below this count as zero (1e-9 ms is far below any clock's resolution). */
const MIN_INDEXABLE = 1e-9;
/** Buckets per sign before the smallest magnitudes are collapsed: bounds memory per series. */
const MAX_BUCKETS = 4096;

function indexOf(magnitude: number): number {
  return Math.ceil(Math.log(magnitude) / LN_GAMMA);
}

/** The value that represents bucket i: within RELATIVE_ACCURACY of every value in it. */
function valueOf(index: number): number {
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

/** Counts of consecutive bucket indexes [offset, offset + counts.length). */
class DenseStore {
  offset = 0;
  counts = new Float64Array(0);
  total = 0;

  add(index: number, weight: number): void {
    if (this.counts.length === 0) {
      this.offset = index;
      this.counts = new Float64Array(16);
    }
    let i = index - this.offset;
    if (i < 0 || i >= this.counts.length) i = this.grow(index);
    this.counts[i] += weight;
    this.total += weight;
  }

  merge(other: DenseStore): void {
    for (let i = 0; i < other.counts.length; i++) {
      if (other.counts[i] !== 0) this.add(other.offset + i, other.counts[i]);
    }
  }

  /** Makes room for `index`; collapses the lowest buckets into one when over MAX_BUCKETS. */
  private grow(index: number): number {
    // Bounds of the buckets in use, not of the array: the array is over-allocated when doubled.
    const used = trim(this);
    const low = Math.min(index, used.counts.length > 0 ? used.offset : index);
    const high = Math.max(index, used.counts.length > 0 ? used.offset + used.counts.length - 1 : index);
    const newLow = high - low + 1 > MAX_BUCKETS ? high - MAX_BUCKETS + 1 : low;
    const length = Math.min(MAX_BUCKETS, Math.max(high - newLow + 1, this.counts.length * 2));
    const grown = new Float64Array(length);
    for (let i = 0; i < used.counts.length; i++) {
      const c = used.counts[i];
      if (c !== 0) grown[Math.max(used.offset + i, newLow) - newLow] += c;
    }
    this.offset = newLow;
    this.counts = grown;
    return Math.max(index, newLow) - newLow;
  }
}

export class Sketch {
  private zero = 0;
  private readonly positive = new DenseStore();
  private readonly negative = new DenseStore();

  get count(): number {
    return this.zero + this.positive.total + this.negative.total;
  }

  add(value: number, weight = 1): void {
    if (value > MIN_INDEXABLE) this.positive.add(indexOf(value), weight);
    else if (value < -MIN_INDEXABLE) this.negative.add(indexOf(-value), weight);
    else this.zero += weight;
  }

  merge(other: Sketch): void {
    this.zero += other.zero;
    this.positive.merge(other.positive);
    this.negative.merge(other.negative);
  }

  /**
   * The q-quantile, 0 <= q <= 1, in the SPEC's sense: the mean of the first value whose
   * cumulative weight reaches q*count and the first that passes it. NaN when empty.
   */
  quantile(q: number): number {
    const total = this.count;
    if (total === 0) return NaN;
    const { reach, pass } = rankBounds(q, total);
    return (this.valueAtRank(reach, false) + this.valueAtRank(pass, true)) / 2;
  }

  /** First value with cumulative weight >= rank (or > rank when `strictly`). */
  private valueAtRank(rank: number, strictly: boolean): number {
    const reached = (cumulative: number) => (strictly ? cumulative > rank : cumulative >= rank);
    let cumulative = 0;
    const neg = this.negative;
    for (let i = neg.counts.length - 1; i >= 0; i--) {
      if (neg.counts[i] === 0) continue;
      cumulative += neg.counts[i];
      if (reached(cumulative)) return -valueOf(neg.offset + i);
    }
    if (this.zero > 0) {
      cumulative += this.zero;
      if (reached(cumulative)) return 0;
    }
    const pos = this.positive;
    let last = NaN;
    for (let i = 0; i < pos.counts.length; i++) {
      if (pos.counts[i] === 0) continue;
      cumulative += pos.counts[i];
      last = valueOf(pos.offset + i);
      if (reached(cumulative)) return last;
    }
    // rank == total with `strictly`: nothing passes it; the largest value stands.
    return Number.isNaN(last) ? (this.zero > 0 ? 0 : -valueOf(neg.offset)) : last;
  }

  // Encoding, version 3 (sparse; what encode() writes):
  //   u8 3 | f64 zero | store(positive) | store(negative)
  //   store: varint k (buckets with a count) | k x (zigzag varint index step | count)
  //   count: varint 2n for a whole n < 2^52, else varint 1 and the f64 itself
  // A sketch of response times uses tens of buckets spread over hundreds of indexes: the dense
  // version 1 (u8 1 | 7 pad | f64 zero | per store: i32 offset | u32 length | f64 counts[length])
  // wrote every empty bucket between them, about 2.6 KB of base64 per row of 90 samples, which
  // made the rows most of what the rollup sent InfluxDB at each flush. Version 1 is still read.

  encode(): Uint8Array {
    const out = new ByteWriter();
    out.u8(SPARSE_VERSION);
    out.f64(this.zero);
    for (const store of [this.positive, this.negative]) {
      let k = 0;
      for (let i = 0; i < store.counts.length; i++) if (store.counts[i] !== 0) k++;
      out.varint(k);
      let previous = 0;
      for (let i = 0; i < store.counts.length; i++) {
        const c = store.counts[i];
        if (c === 0) continue;
        const index = store.offset + i;
        out.varint(zigzag(index - previous));
        previous = index;
        if (Number.isInteger(c) && c >= 0 && c < 2 ** 52) out.varint(c * 2);
        else {
          out.varint(1);
          out.f64(c);
        }
      }
    }
    return out.bytes();
  }

  static decode(bytes: Uint8Array): Sketch {
    if (bytes.byteLength >= 1 && bytes[0] === SPARSE_VERSION) return Sketch.decodeSparse(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 32 || view.getUint8(0) !== 1) throw new Error('not a version 1 or 3 sketch');
    const sketch = new Sketch();
    sketch.zero = view.getFloat64(8, true);
    let o = 16;
    for (const store of [sketch.positive, sketch.negative]) {
      const offset = view.getInt32(o, true);
      const length = view.getUint32(o + 4, true);
      if (o + 8 + length * 8 > bytes.byteLength) throw new Error('sketch truncated');
      for (let i = 0; i < length; i++) {
        const c = view.getFloat64(o + 8 + i * 8, true);
        if (c !== 0) store.add(offset + i, c);
      }
      o += 8 + length * 8;
    }
    return sketch;
  }

  private static decodeSparse(bytes: Uint8Array): Sketch {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let o = 1;
    const need = (n: number) => {
      if (o + n > bytes.byteLength) throw new Error('sketch truncated');
    };
    const varint = () => {
      let v = 0;
      for (let scale = 1; ; scale *= 0x80) {
        need(1);
        const b = bytes[o++];
        v += (b & 0x7f) * scale;
        if (b < 0x80) return v;
        if (scale > 2 ** 49) throw new Error('sketch varint too long');
      }
    };
    const f64 = () => {
      need(8);
      const v = view.getFloat64(o, true);
      o += 8;
      return v;
    };
    const sketch = new Sketch();
    sketch.zero = f64();
    for (const store of [sketch.positive, sketch.negative]) {
      const k = varint();
      let index = 0;
      for (let j = 0; j < k; j++) {
        index += unzigzag(varint());
        const tag = varint();
        const c = tag === 1 ? f64() : tag / 2;
        if (c !== 0) store.add(index, c);
      }
    }
    return sketch;
  }
}

/** First byte of the sparse encoding (1 is the dense one; 2 is taken by bucket-histogram.ts). */
const SPARSE_VERSION = 3;

const zigzag = (n: number) => (n < 0 ? -2 * n - 1 : 2 * n);
const unzigzag = (z: number) => (z % 2 === 1 ? -(z + 1) / 2 : z / 2);

/** Little-endian bytes with LEB128 varints of non-negative whole numbers below 2^53. */
class ByteWriter {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  private length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }

  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }

  varint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function trim(store: { offset: number; counts: Float64Array }): { offset: number; counts: Float64Array } {
  let first = 0;
  let end = store.counts.length;
  while (first < end && store.counts[first] === 0) first++;
  while (end > first && store.counts[end - 1] === 0) end--;
  return { offset: store.offset + first, counts: store.counts.subarray(first, end) };
}
