/**
 * Remote write series -> Hourglass values (SPEC §3.2). Pure and clock-free: every hour comes from
 * a sample's own timestamp. The state it keeps per series (last timestamp applied, last value)
 * is bounded, least recently used first out, and what the bound pushed out is counted.
 *
 * - gauges and untyped series: each sample is a gauge value (type `g`);
 * - counters (`_total`, or counter metadata): the first sample is a baseline; each later sample
 *   adds its increase (the new value after a drop, which means the counter restarted) as a `c`
 *   value in the hour of the later sample; a zero increase is not an increase and adds nothing;
 * - classic histograms (`<name>_bucket{le}`, `_sum`, `_count`): the increases of each part go to
 *   `sink.histogram` for the value metric `<name>`;
 * - a stale marker ends a series' baseline; other NaN and infinite values are skipped and counted;
 * - a sample at or before the series' last applied timestamp is skipped (`duplicate`), so a
 *   retried request is not counted twice.
 */
import { hourStartSec, type HistogramIncrements, type MetricType } from '../../core/index.js';
import type { RemoteWriteRequest, RemoteWriteSeries } from './decode.js';
import { SinkUnavailableError } from './errors.js';
import { PROM_METRIC_TYPE } from './schema.js';

export type { HistogramIncrements };

/**
 * Where converted values go. `sample` is gateway/line-parser.ts's SampleSink.sample. Return false
 * (or throw SinkUnavailableError) when the data cannot be taken now: the request gets 503 and the
 * value is not remembered as applied, so the sender's retry brings it again.
 */
export interface RemoteWriteSink {
  sample(name: string, tags: string, type: MetricType, value: number, weight: number, delta: boolean, hourSec: number): void | boolean;
  histogram(name: string, tags: string, hourSec: number, increments: HistogramIncrements): void | boolean;
  /** False when the sink cannot take data now; checked before a request is touched. */
  accepting?(): boolean;
}

export const SAMPLE_KINDS = ['gauge', 'counter', 'histogram', 'native_histogram'] as const;
export type SampleKind = (typeof SAMPLE_KINDS)[number];

/** The bounded `reason` label of the skipped-samples counter. */
export const SKIP_REASONS = ['duplicate', 'stale_marker', 'nan', 'infinite', 'bad_timestamp', 'no_name', 'bad_le', 'native_histogram'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface ConvertResult {
  readonly received: Record<SampleKind, number>;
  readonly skipped: Record<SkipReason, number>;
  /** Float samples taken (applied, or already applied before: a retry succeeds too). */
  samplesWritten: number;
  /** Series states the bound pushed out during this request. */
  seriesEvicted: number;
  /** 1.0 metadata family types the bound pushed out during this request. */
  familiesEvicted: number;
}

export interface ConverterOptions {
  /** Bound on per-series state (about 150 bytes a series). */
  readonly maxSeries?: number;
  /** Bound on the metric family types remembered from 1.0 metadata. */
  readonly maxFamilies?: number;
}

export const DEFAULT_MAX_SERIES = 1_000_000;
export const DEFAULT_MAX_FAMILIES = 100_000;

const KIND = { gauge: 0, counter: 1, histogramBucket: 2, histogramSum: 3, histogramCount: 4 } as const;
type Kind = (typeof KIND)[keyof typeof KIND];

class SeriesState {
  /** Timestamp (ms) of the last sample applied or stale marker seen; -Infinity before any. */
  lastTsMs = -Infinity;
  /** Last counter value; NaN when there is no baseline (new, stale, or not a counter). */
  lastValue = NaN;
  constructor(public kind: Kind) {}
}

const UNSAFE_TAG_CHARS = /[,\x00-\x1f\x7f]/g;

/**
 * The canonical tag string the StatsD parser makes (gateway/line-parser.ts canonicalTags):
 * `k:v` sorted, comma-joined. A comma or control character in a value would split or break
 * the tag, so it becomes `_`. An empty value means "no such label" in Prometheus, so it is left out.
 */
export function tagsOf(labels: readonly (readonly [string, string])[], without?: string): string {
  if (labels.length === 0) return '';
  const tags: string[] = [];
  for (const [name, value] of labels) {
    if (value === '' || name === without) continue;
    tags.push(`${name}:${value}`.replace(UNSAFE_TAG_CHARS, '_'));
  }
  tags.sort();
  return tags.join(',');
}

function leLabel(labels: readonly (readonly [string, string])[]): string | undefined {
  for (const [name, value] of labels) if (name === 'le') return value;
  return undefined;
}

/** `le` values as Prometheus writes them: a float, or `+Inf`. */
function parseLe(text: string): number {
  const t = text.trim();
  if (t === '+Inf' || t === 'Inf' || t === '+inf' || t === 'inf') return Infinity;
  return t === '' ? NaN : Number(t);
}

function stripSuffix(name: string, suffix: string): string | undefined {
  return name.length > suffix.length && name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
}

interface Classified {
  readonly series: RemoteWriteSeries;
  readonly kind: Kind;
  /** The metric name values are emitted under (the histogram's base name for its parts). */
  readonly name: string;
  readonly tags: string;
  readonly stateKey: string;
  readonly le: number;
}

interface HourIncrements {
  readonly buckets: Map<number, number>;
  count: number;
  sum: number;
}

function newCounts<T extends string>(names: readonly T[]): Record<T, number> {
  const out = {} as Record<T, number>;
  for (const n of names) out[n] = 0;
  return out;
}

export class RemoteWriteConverter {
  private readonly states = new Map<string, SeriesState>();
  private readonly familyTypes = new Map<string, number>();
  private readonly maxSeries: number;
  private readonly maxFamilies: number;
  /** Totals since start, for the bound's counter. */
  seriesEvictedTotal = 0;
  familiesEvictedTotal = 0;

  constructor(
    private readonly sink: RemoteWriteSink,
    options: ConverterOptions = {},
  ) {
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
    this.maxFamilies = options.maxFamilies ?? DEFAULT_MAX_FAMILIES;
  }

  get seriesInMemory(): number {
    return this.states.size;
  }

  /**
   * Applies one decoded request. Throws SinkUnavailableError when the sink refuses a value;
   * what was applied before that is remembered (a retry skips it), the rest is not.
   */
  apply(request: RemoteWriteRequest): ConvertResult {
    const result: ConvertResult = { received: newCounts(SAMPLE_KINDS), skipped: newCounts(SKIP_REASONS), samplesWritten: 0, seriesEvicted: 0, familiesEvicted: 0 };
    for (const [family, type] of request.familyTypes) if (this.rememberFamily(family, type)) result.familiesEvicted++;

    // Histogram `_sum`/`_count` are recognised by metadata, or by a `_bucket` series of the same
    // base name and tags in the same request (classic histograms are scraped together).
    const bucketKeys = new Set<string>();
    for (const s of request.series) {
      if (s.name === undefined) continue;
      const base = stripSuffix(s.name, '_bucket');
      if (base !== undefined && leLabel(s.labels) !== undefined) bucketKeys.add(`${base}\n${tagsOf(s.labels, 'le')}`);
    }

    const histograms = new Map<string, Classified[]>();
    for (const series of request.series) {
      if (series.nativeHistograms > 0) {
        result.received.native_histogram += series.nativeHistograms;
        result.skipped.native_histogram += series.nativeHistograms;
      }
      if (series.samples.length === 0) continue;
      if (series.name === undefined) {
        result.skipped.no_name += series.samples.length;
        continue;
      }
      const c = this.classify(series, series.name, bucketKeys);
      if (c.kind === KIND.gauge || c.kind === KIND.counter) {
        result.received[c.kind === KIND.gauge ? 'gauge' : 'counter'] += series.samples.length;
        this.applyScalar(c, result);
        continue;
      }
      result.received.histogram += series.samples.length;
      if (c.kind === KIND.histogramBucket && Number.isNaN(c.le)) {
        result.skipped.bad_le += series.samples.length;
        continue;
      }
      const key = `${c.name}\n${c.tags}`;
      const parts = histograms.get(key);
      if (parts === undefined) histograms.set(key, [c]);
      else parts.push(c);
    }
    for (const parts of histograms.values()) this.applyHistogram(parts, result);
    return result;
  }

  /** Returns true when the bound pushed out another family to make room. */
  private rememberFamily(family: string, type: number): boolean {
    let evicted = false;
    this.familyTypes.delete(family);
    if (this.familyTypes.size >= this.maxFamilies) {
      const oldest = this.familyTypes.keys().next().value as string;
      this.familyTypes.delete(oldest);
      this.familiesEvictedTotal++;
      evicted = true;
    }
    this.familyTypes.set(family, type);
    return evicted;
  }

  private classify(series: RemoteWriteSeries, name: string, bucketKeys: ReadonlySet<string>): Classified {
    const make = (kind: Kind, emitName: string, tags: string, le = NaN): Classified => ({ series, kind, name: emitName, tags, stateKey: `${name}\n${kind === KIND.histogramBucket ? `${tags}\nle=${le}` : tags}`, le });
    const le = leLabel(series.labels);
    const bucketBase = stripSuffix(name, '_bucket');
    if (bucketBase !== undefined && le !== undefined) return make(KIND.histogramBucket, bucketBase, tagsOf(series.labels, 'le'), parseLe(le));

    const tags = tagsOf(series.labels);
    const sumBase = stripSuffix(name, '_sum');
    const countBase = stripSuffix(name, '_count');
    const base = sumBase ?? countBase;
    const partKind = sumBase !== undefined ? KIND.histogramSum : KIND.histogramCount;
    const type = series.metricType || this.familyTypes.get(name) || (base !== undefined ? this.familyTypes.get(base) : undefined) || PROM_METRIC_TYPE.unknown;
    if (type === PROM_METRIC_TYPE.counter) return make(KIND.counter, name, tags);
    if (base !== undefined) {
      // A summary's _sum and _count only grow, like a counter's value.
      if (type === PROM_METRIC_TYPE.summary) return make(KIND.counter, name, tags);
      if (type === PROM_METRIC_TYPE.histogram) return make(partKind, base, tags);
    }
    if (name.endsWith('_total')) return make(KIND.counter, name, tags);
    if (base !== undefined && type === PROM_METRIC_TYPE.unknown) {
      if (bucketKeys.has(`${base}\n${tags}`)) return make(partKind, base, tags);
      const known = this.states.get(`${name}\n${tags}`);
      if (known !== undefined && known.kind === partKind) return make(partKind, base, tags);
    }
    return make(KIND.gauge, name, tags);
  }

  /** The state of a series, created (evicting the least recently used past the bound) if new. */
  private state(c: Classified, result: ConvertResult): SeriesState {
    let s = this.states.get(c.stateKey);
    if (s !== undefined) {
      this.states.delete(c.stateKey); // re-inserted below: Map order is the LRU order
      if (s.kind !== c.kind) {
        s.kind = c.kind;
        s.lastValue = NaN;
      }
    } else {
      if (this.states.size >= this.maxSeries) {
        const oldest = this.states.keys().next().value as string;
        this.states.delete(oldest);
        this.seriesEvictedTotal++;
        result.seriesEvicted++;
      }
      s = new SeriesState(c.kind);
    }
    this.states.set(c.stateKey, s);
    return s;
  }

  /**
   * The checks every sample goes through: a timestamp at or before the last applied is a
   * duplicate, a stale marker ends the baseline, NaN and infinities are skipped.
   * Returns true when the sample is a value to apply.
   */
  private admit(state: SeriesState, value: number, ts: number, stale: boolean, result: ConvertResult): boolean {
    if (!Number.isSafeInteger(ts)) {
      result.skipped.bad_timestamp++;
      return false;
    }
    if (ts <= state.lastTsMs) {
      result.skipped.duplicate++;
      result.samplesWritten++;
      return false;
    }
    if (value !== value) {
      if (stale) {
        result.skipped.stale_marker++;
        result.samplesWritten++;
        state.lastTsMs = ts;
        state.lastValue = NaN;
      } else {
        result.skipped.nan++;
      }
      return false;
    }
    if (value === Infinity || value === -Infinity) {
      result.skipped.infinite++;
      return false;
    }
    return true;
  }

  private emitSample(name: string, tags: string, type: MetricType, value: number, hourSec: number): void {
    if (this.sink.sample(name, tags, type, value, 1, false, hourSec) === false) throw new SinkUnavailableError('the sink refused a remote write value');
  }

  private applyScalar(c: Classified, result: ConvertResult): void {
    const state = this.state(c, result);
    for (const sample of c.series.samples) {
      const ts = sample.timestampMs;
      const value = sample.value;
      if (!this.admit(state, value, ts, sample.stale, result)) continue;
      const hourSec = hourStartSec(Math.floor(ts / 1000));
      if (c.kind === KIND.gauge) {
        this.emitSample(c.name, c.tags, 'g', value, hourSec);
      } else {
        const last = state.lastValue;
        // A drop means the counter restarted from zero since the last sample.
        const increase = last !== last ? 0 : value >= last ? value - last : value;
        if (increase > 0) this.emitSample(c.name, c.tags, 'c', increase, hourSec);
        state.lastValue = value;
      }
      state.lastTsMs = ts;
      result.samplesWritten++;
    }
  }

  /** All parts of one histogram (base name + tags) in this request, emitted per hour. */
  private applyHistogram(parts: readonly Classified[], result: ConvertResult): void {
    const hours = new Map<number, HourIncrements>();
    const hour = (ts: number): HourIncrements => {
      const hourSec = hourStartSec(Math.floor(ts / 1000));
      let h = hours.get(hourSec);
      if (h === undefined) {
        h = { buckets: new Map(), count: 0, sum: 0 };
        hours.set(hourSec, h);
      }
      return h;
    };
    // Observations can be negative, so `_sum` may fall without a restart: when `_count` is here,
    // its drops say when the histogram restarted.
    const countPart = parts.find((p) => p.kind === KIND.histogramCount);
    const resetsAt = countPart === undefined ? undefined : new Set<number>();
    const ordered = countPart === undefined ? parts : [countPart, ...parts.filter((p) => p !== countPart)];
    const pending: { state: SeriesState; lastTsMs: number; lastValue: number }[] = [];
    for (const part of ordered) {
      const state = this.state(part, result);
      // Work on copies: the state is committed once the sink took this histogram's increments.
      const shadow = new SeriesState(part.kind);
      shadow.lastTsMs = state.lastTsMs;
      shadow.lastValue = state.lastValue;
      for (const sample of part.series.samples) {
        const ts = sample.timestampMs;
        const value = sample.value;
        if (!this.admit(shadow, value, ts, sample.stale, result)) continue;
        const last = shadow.lastValue;
        if (last === last) {
          let restarted: boolean;
          if (part.kind === KIND.histogramSum && resetsAt !== undefined) restarted = resetsAt.has(ts);
          else restarted = value < last;
          if (part.kind === KIND.histogramCount && restarted) resetsAt?.add(ts);
          const increase = restarted ? value : value - last;
          if (increase !== 0) {
            const h = hour(ts);
            if (part.kind === KIND.histogramCount) h.count += increase;
            else if (part.kind === KIND.histogramSum) h.sum += increase;
            else h.buckets.set(part.le, (h.buckets.get(part.le) ?? 0) + increase);
          }
        }
        shadow.lastValue = value;
        shadow.lastTsMs = ts;
        result.samplesWritten++;
      }
      pending.push({ state, lastTsMs: shadow.lastTsMs, lastValue: shadow.lastValue });
    }
    const first = parts[0];
    for (const [hourSec, h] of hours) {
      const upperBounds = Float64Array.from([...h.buckets.keys()].sort((a, b) => a - b));
      const counts = new Float64Array(upperBounds.length);
      for (let i = 0; i < upperBounds.length; i++) counts[i] = h.buckets.get(upperBounds[i]) as number;
      if (this.sink.histogram(first.name, first.tags, hourSec, { upperBounds, counts, count: h.count, sum: h.sum }) === false) {
        throw new SinkUnavailableError('the sink refused a remote write histogram');
      }
    }
    for (const p of pending) {
      p.state.lastTsMs = p.lastTsMs;
      p.state.lastValue = p.lastValue;
    }
  }
}
