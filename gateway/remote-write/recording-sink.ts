/**
 * A RemoteWriteSink that keeps what it is given, for tests (the in-process and real-Prometheus
 * tests compare it with what was sent). Not exported by index.ts.
 */
import type { MetricType } from '../../core/index.js';
import type { HistogramIncrements, RemoteWriteSink } from './converter.js';
import { SinkUnavailableError } from './errors.js';

export interface RecordedSample {
  name: string;
  tags: string;
  type: MetricType;
  value: number;
  hourSec: number;
}

export interface RecordedHistogram {
  name: string;
  tags: string;
  hourSec: number;
  upperBounds: number[];
  counts: number[];
  count: number;
  sum: number;
}

export class RecordingSink implements RemoteWriteSink {
  readonly samples: RecordedSample[] = [];
  readonly histograms: RecordedHistogram[] = [];
  /** 'return-false' or 'throw' makes the sink refuse values; 'not-accepting' refuses up front. */
  refusal: 'none' | 'return-false' | 'throw' | 'not-accepting' = 'none';
  /** Refuse only after this many values were taken (for a refusal in mid-request). */
  refuseAfter = 0;

  private refuses(): boolean {
    if (this.refusal !== 'return-false' && this.refusal !== 'throw') return false;
    if (this.samples.length + this.histograms.length < this.refuseAfter) return false;
    if (this.refusal === 'throw') throw new SinkUnavailableError('test sink is full');
    return true;
  }

  accepting(): boolean {
    return this.refusal !== 'not-accepting';
  }

  sample(name: string, tags: string, type: MetricType, value: number, weight: number, delta: boolean, hourSec: number): boolean {
    if (weight !== 1 || delta) throw new Error('remote write values have weight 1 and are never deltas');
    if (this.refuses()) return false;
    this.samples.push({ name, tags, type, value, hourSec });
    return true;
  }

  histogram(name: string, tags: string, hourSec: number, increments: HistogramIncrements): boolean {
    if (this.refuses()) return false;
    this.histograms.push({ name, tags, hourSec, upperBounds: Array.from(increments.upperBounds), counts: Array.from(increments.counts), count: increments.count, sum: increments.sum });
    return true;
  }

  /** Sum and count of the `c`/`g` values of one series (all hours, or one). */
  total(name: string, tags = '', hourSec?: number): { sum: number; count: number; values: number[] } {
    const values = this.samples.filter((s) => s.name === name && s.tags === tags && (hourSec === undefined || s.hourSec === hourSec)).map((s) => s.value);
    return { sum: values.reduce((a, b) => a + b, 0), count: values.length, values };
  }

  /** A histogram's increments added up (all hours): count, sum and cumulative bucket counts by bound. */
  histogramTotal(name: string, tags = ''): { count: number; sum: number; buckets: Map<number, number> } {
    const out = { count: 0, sum: 0, buckets: new Map<number, number>() };
    for (const h of this.histograms) {
      if (h.name !== name || h.tags !== tags) continue;
      out.count += h.count;
      out.sum += h.sum;
      h.upperBounds.forEach((b, i) => out.buckets.set(b, (out.buckets.get(b) ?? 0) + h.counts[i]));
    }
    return out;
  }
}
