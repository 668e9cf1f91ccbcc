/**
 * Batches: the unit that crosses the bus (SPEC §1), owned by bus/. The gateway groups parsed
 * values by series (name, tags, type, hour) and hands a batch on by size or time; this codec
 * turns it into one binary message that the in-process bus and NATS JetStream carry alike.
 */
import { TYPE_BY_CODE, TYPE_CODE, type HistogramIncrements, type MetricType } from '../core/index.js';

/** The values of one series in one batch, in arrival order. */
export interface SeriesBatch {
  readonly type: MetricType;
  readonly name: string;
  /** Canonical tag set (sorted, comma-separated), '' for none. */
  readonly tags: string;
  /** Start of the UTC hour, Unix seconds. */
  readonly hourSec: number;
  readonly values: ArrayLike<number>;
  /** 1/sample_rate per value; null when every weight is 1. */
  readonly weights: ArrayLike<number> | null;
  /** Gauges: 1 where the value is a delta; null when none is. */
  readonly deltas: ArrayLike<number> | null;
  /** Sets: the members; values is empty then. */
  readonly members: readonly string[] | null;
  /**
   * True: `values` holds classic histogram increments from remote write (SPEC §3.2), laid out by
   * appendHistogram, not samples. Absent or false in batches from before it existed.
   */
  readonly histogram?: boolean;
}

/**
 * Appends one histogram increment to a histogram series' values: count, sum, k, the k `le`
 * bounds, the k cumulative count increases. Plain floats, so the codec carries them unchanged.
 */
export function appendHistogram(values: number[], increments: HistogramIncrements): void {
  const k = increments.upperBounds.length;
  values.push(increments.count, increments.sum, k);
  for (let i = 0; i < k; i++) values.push(increments.upperBounds[i]);
  for (let i = 0; i < k; i++) values.push(increments.counts[i]);
}

/** Floats appendHistogram uses for an increment of `bounds` buckets (for the batch size trigger). */
export const histogramFloats = (bounds: number) => 3 + 2 * bounds;

/** The increments of a histogram series' values, in order; BatchDecodeError when they do not add up. */
export function histogramsOf(values: ArrayLike<number>): HistogramIncrements[] {
  const floats = values instanceof Float64Array ? values : Float64Array.from(values);
  const out: HistogramIncrements[] = [];
  let o = 0;
  while (o < floats.length) {
    if (o + 3 > floats.length) throw new BatchDecodeError('histogram increment truncated');
    const k = floats[o + 2];
    if (!Number.isSafeInteger(k) || k < 0 || o + 3 + 2 * k > floats.length) throw new BatchDecodeError(`histogram increment with ${k} bounds does not fit its series`);
    out.push({ count: floats[o], sum: floats[o + 1], upperBounds: floats.subarray(o + 3, o + 3 + k), counts: floats.subarray(o + 3 + k, o + 3 + 2 * k) });
    o += 3 + 2 * k;
  }
  return out;
}

/** Wire form of a name or tag set, cached on the builder's series so each batch skips encoding it. */
export interface EncodedNames {
  readonly nameBytes?: Uint8Array;
  readonly tagsBytes?: Uint8Array;
}

//// Little-endian, 8-byte aligned so value arrays decode as Float64Array views without copying.
//   header:  u32 magic 'HGB1' | u32 series count | f64 created (Unix ms)
//   series:  u8 type | u8 flags (1 weights, 2 deltas, 4 histogram) | u16 0 | u32 hourSec | u32 n
//            | u16 name bytes | u16 tags bytes | name | tags | pad8
//            | f64 values[n] | f64 weights[n]? | u8 deltas[n]? pad8
//            | sets instead of values: n x (u32 bytes | utf8) | pad8

const MAGIC = 0x31424748;
const FLAG_WEIGHTS = 1;
const FLAG_DELTAS = 2;
/** Added with remote write: older batches never set it, so they decode as before. */
const FLAG_HISTOGRAM = 4;
const pad8 = (n: number) => (n + 7) & ~7;

export interface DecodedBatch {
  readonly createdMs: number;
  readonly series: SeriesBatch[];
}

export class BatchDecodeError extends Error {
  override readonly name = 'BatchDecodeError';
  readonly code = 'HG_ERR_BATCH_DECODE';
}

export function encodeBatch(series: readonly (SeriesBatch & EncodedNames)[], createdMs: number): Uint8Array {
  const nameBytes = series.map((s) => s.nameBytes?.length ?? Buffer.byteLength(s.name));
  const tagBytes = series.map((s) => s.tagsBytes?.length ?? Buffer.byteLength(s.tags));
  let size = 16;
  for (let i = 0; i < series.length; i++) {
    const s = series[i];
    size += pad8(16 + nameBytes[i] + tagBytes[i]);
    if (s.members !== null) {
      let m = 0;
      for (const member of s.members) m += 4 + Buffer.byteLength(member);
      size += pad8(m);
    } else {
      const n = s.values.length;
      size += n * 8 + (s.weights !== null ? n * 8 : 0) + (s.deltas !== null ? pad8(n) : 0);
    }
  }
  const buf = Buffer.from(new ArrayBuffer(size));
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, series.length, true);
  view.setFloat64(8, createdMs, true);
  let o = 16;
  for (let i = 0; i < series.length; i++) {
    const s = series[i];
    const n = s.members !== null ? s.members.length : s.values.length;
    view.setUint8(o, TYPE_CODE[s.type]);
    view.setUint8(o + 1, (s.weights !== null ? FLAG_WEIGHTS : 0) | (s.deltas !== null ? FLAG_DELTAS : 0) | (s.histogram === true ? FLAG_HISTOGRAM : 0));
    view.setUint32(o + 4, s.hourSec, true);
    view.setUint32(o + 8, n, true);
    view.setUint16(o + 12, nameBytes[i], true);
    view.setUint16(o + 14, tagBytes[i], true);
    if (s.nameBytes !== undefined) buf.set(s.nameBytes, o + 16);
    else buf.write(s.name, o + 16, 'utf8');
    if (s.tagsBytes !== undefined) buf.set(s.tagsBytes, o + 16 + nameBytes[i]);
    else buf.write(s.tags, o + 16 + nameBytes[i], 'utf8');
    o += pad8(16 + nameBytes[i] + tagBytes[i]);
    if (s.members !== null) {
      const start = o;
      for (const member of s.members) {
        const written = buf.write(member, o + 4, 'utf8');
        view.setUint32(o, written, true);
        o += 4 + written;
      }
      o = start + pad8(o - start);
      continue;
    }
    new Float64Array(buf.buffer, o, n).set(s.values);
    o += n * 8;
    if (s.weights !== null) {
      new Float64Array(buf.buffer, o, n).set(s.weights);
      o += n * 8;
    }
    if (s.deltas !== null) {
      new Uint8Array(buf.buffer, o, n).set(s.deltas);
      o += pad8(n);
    }
  }
  return buf;
}

export function decodeBatch(input: Uint8Array): DecodedBatch {
  // Float64Array views need an 8-byte aligned offset; a message from the network may not be.
  const bytes = input.byteOffset % 8 === 0 ? input : new Uint8Array(input);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (o: number, n: number) => {
    if (o + n > bytes.byteLength) throw new BatchDecodeError(`batch truncated at byte ${o}`);
  };
  need(0, 16);
  if (view.getUint32(0, true) !== MAGIC) throw new BatchDecodeError('not a Hourglass batch (bad magic)');
  const count = view.getUint32(4, true);
  const createdMs = view.getFloat64(8, true);
  const series: SeriesBatch[] = [];
  let o = 16;
  for (let i = 0; i < count; i++) {
    need(o, 16);
    const type = TYPE_BY_CODE[view.getUint8(o)];
    if (type === undefined) throw new BatchDecodeError(`unknown metric type code ${view.getUint8(o)}`);
    const flags = view.getUint8(o + 1);
    const hourSec = view.getUint32(o + 4, true);
    const n = view.getUint32(o + 8, true);
    const nameLength = view.getUint16(o + 12, true);
    const tagsLength = view.getUint16(o + 14, true);
    need(o, 16 + nameLength + tagsLength);
    const name = buf.toString('utf8', o + 16, o + 16 + nameLength);
    const tags = buf.toString('utf8', o + 16 + nameLength, o + 16 + nameLength + tagsLength);
    o += pad8(16 + nameLength + tagsLength);
    if (type === 's') {
      const start = o;
      const members: string[] = [];
      for (let k = 0; k < n; k++) {
        need(o, 4);
        const length = view.getUint32(o, true);
        need(o + 4, length);
        members.push(buf.toString('utf8', o + 4, o + 4 + length));
        o += 4 + length;
      }
      o = start + pad8(o - start);
      series.push({ type, name, tags, hourSec, values: new Float64Array(0), weights: null, deltas: null, members });
      continue;
    }
    need(o, n * 8);
    const values = new Float64Array(bytes.buffer, bytes.byteOffset + o, n);
    o += n * 8;
    let weights: Float64Array | null = null;
    if (flags & FLAG_WEIGHTS) {
      need(o, n * 8);
      weights = new Float64Array(bytes.buffer, bytes.byteOffset + o, n);
      o += n * 8;
    }
    let deltas: Uint8Array | null = null;
    if (flags & FLAG_DELTAS) {
      need(o, n);
      deltas = new Uint8Array(bytes.buffer, bytes.byteOffset + o, n);
      o += pad8(n);
    }
    if (flags & FLAG_HISTOGRAM) {
      histogramsOf(values); // checks the layout now: a bad batch fails here, whole, not half-applied
      series.push({ type, name, tags, hourSec, values, weights: null, deltas: null, members: null, histogram: true });
      continue;
    }
    series.push({ type, name, tags, hourSec, values, weights, deltas, members: null });
  }
  return { createdMs, series };
}
