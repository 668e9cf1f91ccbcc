/**
 * The InfluxDB form of the store schema (schema.ts), both ways: rows and chunks to line protocol,
 * and query results (InfluxQL JSON or Flux CSV, as plain records) back to rows and chunks. Pure.
 *
 * Measurement `rollup`, one point per (name, hour, tags, type, writer):
 *   tags   name, tagset (our `tags`), type, writer
 *   fields count, sum, min, max, last (floats; omitted when not finite, read back as NaN, as
 *          sqlite-store does with NULL), n, chunks, seq, updated_ms (integers),
 *          sketch (string: base64 of the bytes)
 *   time   the hour start
 * Measurement `rollup_raw`, one point per (name, hour, tags, type, writer, chunk):
 *   same tags; fields vals and weights (base64 of the Float64Array bytes; weights is "" when null)
 *   or, for sets, members (JSON array); time = hour start + chunk nanoseconds.
 * Measurement `rollup_stats`, one point per series-hour and per (name-hour, family), per writer:
 *   tags   name, family (value, counter, gauge, set), writer, and for a series-hour tagset and
 *          type; a name-hour (every tag set and type of the family merged) has neither tag, so
 *          InfluxQL selects it with `"tagset" = ''` (a tag set without tags is `%none`, below)
 *   fields count, n, sum, average, min, max, median, p90, p95, p99, relative_error (floats,
 *          omitted when not finite or not applicable), exact (boolean), updated_ms (integer)
 *   time   the hour start
 * Measurement `rollup_watermark`, one point per writer and hour of writing: tag writer, field seq
 *   (integer); its latest point is the writer's watermark. A point per hour rather than one at a
 *   fixed time, which would fall out of a bucket's retention; an older point only lowers the
 *   watermark, which redoes work but never skips any.
 * A rewrite of the same series and time overwrites, so writes are idempotent.
 *
 * Tags keep a name-hour query an index lookup. Tag values are stored percent-encoded for `%`,
 * `\` and control characters, because servers and clients disagree on backslashes in tag values
 * (influxd 1.6 reads `\\` as two backslashes), a trailing backslash escapes the separator after
 * it, and a newline ends the point. The empty string, which InfluxDB drops as a tag value, is
 * stored as `%none` (the encoding never produces `%n`). The rest (spaces, commas, `=`, quotes,
 * unicode) is escaped as line protocol says, so names stay readable in Grafana: `a b,c` is
 * written `a\ b\,c` and stored `a b,c`; `x\y` is stored `x%5Cy`.
 *
 * Weights are written as "" rather than omitted because InfluxDB merges the field set of an
 * overwritten point: an omitted field keeps the value of the previous write. A row's floats are
 * omitted when not finite, which leaves a stale value only if a sum or gauge that was finite
 * overflows ±1.8e308.
 */
import { SECONDS_PER_HOUR, type Family, type MetricType } from '../core/index.js';
import type { RawChunk, RollupRow, StatsRow, Watermark } from './schema.js';

export const ROLLUP_MEASUREMENT = 'rollup';
export const RAW_MEASUREMENT = 'rollup_raw';
export const WATERMARK_MEASUREMENT = 'rollup_watermark';
export const STATS_MEASUREMENT = 'rollup_stats';
/** How the empty string is stored as a tag value. */
const EMPTY_TAG_VALUE = '%none';

const NS_PER_SEC = 1_000_000_000n;

const percent = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;

/** A tag value as stored (before line protocol escaping, and as compared in queries). */
export function encodeTagValue(value: string): string {
  if (value === '') return EMPTY_TAG_VALUE;
  return value.replace(/[%\\\u0000-\u001f\u007f]/g, percent);
}

export function decodeTagValue(stored: string): string {
  if (stored === EMPTY_TAG_VALUE) return '';
  return stored.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Line protocol escaping of a tag value (after encodeTagValue: no backslash, no newline left). */
const tagValue = (value: string) => encodeTagValue(value).replace(/[ ,=]/g, '\\$&');

const stringField = (value: string) => `"${value.replace(/[\\"]/g, '\\$&')}"`;

const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
const base64Floats = (a: Float64Array) => base64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/** Nanoseconds since the epoch as line protocol digits (past 2^53, so not a Number). */
function pointTimeNs(hourSec: number, offsetNs = 0): string {
  return (BigInt(hourSec) * NS_PER_SEC + BigInt(offsetNs)).toString();
}

/** RFC 3339 with nanoseconds, as InfluxQL time parameters and Flux time(v:) take it. */
export function rfc3339Ns(sec: number, offsetNs = 0): string {
  const wholeSec = sec + Math.floor(offsetNs / 1e9);
  const ns = offsetNs % 1e9;
  return `${new Date(wholeSec * 1000).toISOString().slice(0, 19)}.${String(ns).padStart(9, '0')}Z`;
}

/** Seconds and nanoseconds of an RFC 3339 UTC time as InfluxDB returns it (`...:00Z`, `...:00.000000003Z`). */
export function parseRfc3339(time: string): { sec: number; ns: number } {
  const sec = Date.parse(`${time.slice(0, 19)}Z`) / 1000;
  if (Number.isNaN(sec) || !time.endsWith('Z')) throw new Error(`unexpected time from InfluxDB: ${JSON.stringify(time.slice(0, 40))}`);
  const ns = time.charCodeAt(19) === 46 /* . */ ? Number(time.slice(20, -1).padEnd(9, '0')) : 0;
  return { sec, ns };
}

function seriesKey(measurement: string, s: { name: string; tags: string; type: string; writer: string }): string {
  return `${measurement},name=${tagValue(s.name)},tagset=${tagValue(s.tags)},type=${tagValue(s.type)},writer=${tagValue(s.writer)}`;
}

export function rowLine(r: RollupRow): string {
  const fields: string[] = [];
  for (const [key, value] of [['count', r.count], ['sum', r.sum], ['min', r.min], ['max', r.max], ['last', r.last]] as const) {
    if (Number.isFinite(value)) fields.push(`${key}=${value}`);
  }
  fields.push(`n=${r.n}i`, `sketch=${stringField(base64(r.sketch))}`, `chunks=${r.chunks}i`, `seq=${r.seq}i`, `updated_ms=${r.updatedMs}i`);
  return `${seriesKey(ROLLUP_MEASUREMENT, r)} ${fields.join(',')} ${pointTimeNs(r.hourSec)}`;
}

export function chunkLine(c: RawChunk): string {
  const fields =
    c.members !== null
      ? `members=${stringField(JSON.stringify(c.members))}`
      : `vals=${stringField(base64Floats(c.values))},weights=${stringField(c.weights === null ? '' : base64Floats(c.weights))}`;
  return `${seriesKey(RAW_MEASUREMENT, c)} ${fields} ${pointTimeNs(c.hourSec, c.chunk)}`;
}

const STATS_FLOATS = ['count', 'n', 'sum', 'average', 'min', 'max', 'median', 'p90', 'p95', 'p99'] as const;

export function statsLine(s: StatsRow): string {
  let key = `${STATS_MEASUREMENT},family=${tagValue(s.family)},name=${tagValue(s.name)}`;
  if (s.tags !== null) key += `,tagset=${tagValue(s.tags)}`;
  if (s.type !== null) key += `,type=${tagValue(s.type)}`;
  key += `,writer=${tagValue(s.writer)}`;
  const fields: string[] = [];
  for (const f of STATS_FLOATS) if (Number.isFinite(s[f])) fields.push(`${f}=${s[f]}`);
  if (Number.isFinite(s.relativeError)) fields.push(`relative_error=${s.relativeError}`);
  fields.push(`exact=${s.exact}`, `updated_ms=${s.updatedMs}i`);
  return `${key} ${fields.join(',')} ${pointTimeNs(s.hourSec)}`;
}

export function statsFromRecord(rec: PointRecord): StatsRow {
  const tags = rec.tagset;
  const type = rec.type;
  return {
    name: decodeTagValue(text(rec, 'name')),
    hourSec: parseRfc3339(text(rec, 'time')).sec,
    tags: typeof tags === 'string' && tags !== '' ? decodeTagValue(tags) : null,
    type: typeof type === 'string' && type !== '' ? (decodeTagValue(type) as MetricType) : null,
    family: decodeTagValue(text(rec, 'family')) as Family,
    writer: decodeTagValue(text(rec, 'writer')),
    count: num(rec, 'count'),
    n: num(rec, 'n'),
    sum: num(rec, 'sum'),
    average: num(rec, 'average'),
    min: num(rec, 'min'),
    max: num(rec, 'max'),
    median: num(rec, 'median'),
    p90: num(rec, 'p90'),
    p95: num(rec, 'p95'),
    p99: num(rec, 'p99'),
    exact: rec.exact === true,
    relativeError: num(rec, 'relative_error'),
    updatedMs: num(rec, 'updated_ms'),
  };
}

export function watermarkLine(w: Watermark, hourSec: number): string {
  return `${WATERMARK_MEASUREMENT},writer=${tagValue(w.writer)} seq=${w.seq}i ${pointTimeNs(hourSec)}`;
}

/** One point of a query result: tag and field columns by name, `time` as RFC 3339. */
export type PointRecord = Readonly<Record<string, unknown>>;

const text = (rec: PointRecord, key: string): string => {
  const v = rec[key];
  if (typeof v !== 'string') throw new Error(`InfluxDB point without ${key}`);
  return v;
};
const num = (rec: PointRecord, key: string): number => {
  const v = rec[key];
  return typeof v === 'number' ? v : NaN;
};

/** A Float64Array over base64 bytes, copied so it is 8-byte aligned. */
function floats(b64: string): Float64Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function rowFromRecord(rec: PointRecord): RollupRow {
  const sketch = Buffer.from(text(rec, 'sketch'), 'base64');
  return {
    name: decodeTagValue(text(rec, 'name')),
    hourSec: parseRfc3339(text(rec, 'time')).sec,
    tags: decodeTagValue(text(rec, 'tagset')),
    type: decodeTagValue(text(rec, 'type')) as MetricType,
    writer: decodeTagValue(text(rec, 'writer')),
    count: num(rec, 'count'),
    n: num(rec, 'n'),
    sum: num(rec, 'sum'),
    min: num(rec, 'min'),
    max: num(rec, 'max'),
    last: num(rec, 'last'),
    sketch: new Uint8Array(sketch.buffer, sketch.byteOffset, sketch.byteLength),
    chunks: num(rec, 'chunks'),
    seq: num(rec, 'seq'),
    updatedMs: num(rec, 'updated_ms'),
  };
}

export function chunkFromRecord(rec: PointRecord): RawChunk {
  const { sec, ns } = parseRfc3339(text(rec, 'time'));
  const hourSec = sec - (sec % SECONDS_PER_HOUR);
  const vals = rec.vals;
  const weights = rec.weights;
  const members = rec.members;
  return {
    name: decodeTagValue(text(rec, 'name')),
    hourSec,
    tags: decodeTagValue(text(rec, 'tagset')),
    type: decodeTagValue(text(rec, 'type')) as MetricType,
    writer: decodeTagValue(text(rec, 'writer')),
    chunk: (sec - hourSec) * 1e9 + ns,
    values: typeof vals === 'string' && vals !== '' ? floats(vals) : new Float64Array(0),
    weights: typeof weights === 'string' && weights !== '' ? floats(weights) : null,
    members: typeof members === 'string' && members !== '' ? (JSON.parse(members) as string[]) : null,
  };
}
