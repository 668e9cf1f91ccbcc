import { describe, expect, it } from 'vitest';
import { canonicalTags } from '../line-parser.js';
import { RemoteWriteConverter, tagsOf } from './converter.js';
import type { RemoteWriteRequest, RemoteWriteSeries } from './decode.js';
import { SinkUnavailableError } from './errors.js';
import { RecordingSink } from './recording-sink.js';
import { PROM_METRIC_TYPE } from './schema.js';

const H21 = Date.UTC(2026, 10, 22, 21) / 1000; // 2026-11-22T21:00Z, seconds
const H22 = H21 + 3600;
const at = (hourSec: number, second: number) => (hourSec + second) * 1000; // ms timestamp

/** Stands for a stale marker in these tables (decode.ts turns the real bit pattern into `stale`). */
const STALE = Symbol('stale');

function series(labels: Record<string, string>, samples: [number, number | typeof STALE][], metricType = 0): RemoteWriteSeries {
  const { __name__: name, ...rest } = labels;
  const made = samples.map(([timestampMs, value]) => (value === STALE ? { timestampMs, value: NaN, stale: true } : { timestampMs, value, stale: false }));
  return { name, labels: Object.entries(rest), samples: made, metricType, nativeHistograms: 0, exemplars: 0 };
}

function request(s: RemoteWriteSeries[], familyTypes: [string, number][] = []): RemoteWriteRequest {
  return { version: '1.0', series: s, familyTypes: new Map(familyTypes) };
}

function setup(maxSeries?: number) {
  const sink = new RecordingSink();
  return { sink, converter: new RemoteWriteConverter(sink, { maxSeries }) };
}

describe('tags', () => {
  it('are the canonical string the StatsD parser makes for the same tags', () => {
    const labels: [string, string][] = [['route', '/pay'], ['env', 'prod'], ['a_b', 'x'], ['a', 'y']];
    const statsd = 'route:/pay,env:prod,a_b:x,a:y';
    expect(tagsOf(labels)).toBe(canonicalTags(statsd, 0, statsd.length));
  });

  it('leave out empty values and make commas and control characters `_`', () => {
    expect(tagsOf([['b', 'x,y'], ['a', ''], ['c', 'l\nm']])).toBe('b:x_y,c:l_m');
  });
});

describe('gauges and untyped series', () => {
  it('become gauge values in the hour of their own timestamps', () => {
    const { sink, converter } = setup();
    const result = converter.apply(request([series({ __name__: 'temperature_celsius', room: 'b', site: 'a' }, [[at(H21, 3599), 20.5], [at(H22, 0), 21]])]));
    expect(sink.samples).toEqual([
      { name: 'temperature_celsius', tags: 'room:b,site:a', type: 'g', value: 20.5, hourSec: H21 },
      { name: 'temperature_celsius', tags: 'room:b,site:a', type: 'g', value: 21, hourSec: H22 },
    ]);
    expect(result.received.gauge).toBe(2);
    expect(result.samplesWritten).toBe(2);
  });

  it('take gauge metadata over nothing, and a series without __name__ is skipped and counted', () => {
    const { sink, converter } = setup();
    const result = converter.apply(request([series({ job: 'x' }, [[at(H21, 1), 1]]), series({ __name__: 'up' }, [[at(H21, 1), 1]], PROM_METRIC_TYPE.gauge)]));
    expect(sink.samples.map((s) => s.name)).toEqual(['up']);
    expect(result.skipped.no_name).toBe(1);
  });
});

describe('counters', () => {
  it('count their increase: first sample a baseline, drops are restarts, zero is no increase', () => {
    const { sink, converter } = setup();
    converter.apply(request([series({ __name__: 'http_requests_total', code: '200' }, [[at(H21, 0), 100], [at(H21, 15), 105], [at(H21, 30), 105], [at(H21, 45), 3], [at(H21, 60), 10]])]));
    // 105-100, (105-105 is no increase), restart to 3 counts 3, 10-3
    expect(sink.total('http_requests_total', 'code:200').values).toEqual([5, 3, 7]);
    expect(sink.samples.every((s) => s.type === 'c' && s.hourSec === H21)).toBe(true);
  });

  it('keep their baseline across requests; an increase belongs to the hour of the later sample', () => {
    const { sink, converter } = setup();
    converter.apply(request([series({ __name__: 'jobs_total' }, [[at(H21, 3590), 40]])]));
    expect(sink.samples).toEqual([]);
    converter.apply(request([series({ __name__: 'jobs_total' }, [[at(H22, 10), 46], [at(H22, 20), 50]])]));
    expect(sink.total('jobs_total', '', H21).count).toBe(0);
    expect(sink.total('jobs_total', '', H22)).toEqual({ sum: 10, count: 2, values: [6, 4] });
  });

  it('are recognised by 1.0 family metadata and by 2.0 series metadata without the _total suffix', () => {
    const { sink, converter } = setup();
    converter.apply(request([series({ __name__: 'bytes_sent' }, [[at(H21, 0), 1], [at(H21, 1), 4]])], [['bytes_sent', PROM_METRIC_TYPE.counter]]));
    converter.apply({ version: '2.0', series: [series({ __name__: 'packets' }, [[at(H21, 0), 7], [at(H21, 1), 9]], PROM_METRIC_TYPE.counter)], familyTypes: new Map() });
    expect(sink.samples).toEqual([
      { name: 'bytes_sent', tags: '', type: 'c', value: 3, hourSec: H21 },
      { name: 'packets', tags: '', type: 'c', value: 2, hourSec: H21 },
    ]);
  });

  it('a retried request is not counted twice', () => {
    const { sink, converter } = setup();
    const first = request([series({ __name__: 'a_total' }, [[at(H21, 0), 1], [at(H21, 10), 2]]), series({ __name__: 'g' }, [[at(H21, 0), 5]])]);
    converter.apply(first);
    const again = converter.apply(first);
    expect(sink.samples.map((s) => [s.name, s.value])).toEqual([['a_total', 1], ['g', 5]]);
    expect(again.skipped.duplicate).toBe(3);
    expect(again.samplesWritten).toBe(3); // a retry is a success for the sender
    // an overlapping retry applies only the samples after the last one applied
    converter.apply(request([series({ __name__: 'a_total' }, [[at(H21, 10), 2], [at(H21, 20), 6]])]));
    expect(sink.total('a_total').values).toEqual([1, 4]);
  });

  it('a stale marker ends the baseline; NaN and infinities are skipped and counted', () => {
    const { sink, converter } = setup();
    const result = converter.apply(request([series({ __name__: 'c_total' }, [[at(H21, 0), 10], [at(H21, 1), 15], [at(H21, 2), STALE], [at(H21, 3), 100], [at(H21, 4), NaN], [at(H21, 5), Infinity], [at(H21, 6), 104]])]));
    expect(sink.total('c_total').values).toEqual([5, 4]); // 100 after the stale marker is a new baseline
    expect(result.skipped).toMatchObject({ stale_marker: 1, nan: 1, infinite: 1 });
    expect(result.received.counter).toBe(7);
  });
});

describe('classic histograms', () => {
  const parts = (t: number, buckets: [string, number][], count: number, sum: number, extra: Record<string, string> = {}) => [
    ...buckets.map(([le, v]) => series({ __name__: 'latency_seconds_bucket', ...extra, le }, [[t, v]])),
    series({ __name__: 'latency_seconds_sum', ...extra }, [[t, sum]]),
    series({ __name__: 'latency_seconds_count', ...extra }, [[t, count]]),
  ];

  it('become one value metric whose increments are the increases of each part', () => {
    const { sink, converter } = setup();
    converter.apply(request(parts(at(H21, 0), [['0.1', 1], ['0.5', 2], ['+Inf', 2]], 2, 0.3, { route: 'pay' })));
    expect(sink.histograms).toEqual([]); // first scrape: baselines
    const result = converter.apply(request(parts(at(H21, 15), [['0.1', 4], ['0.5', 7], ['+Inf', 8]], 8, 2.1, { route: 'pay' })));
    expect(sink.histograms).toHaveLength(1);
    const h = sink.histograms[0];
    expect(h).toMatchObject({ name: 'latency_seconds', tags: 'route:pay', hourSec: H21, upperBounds: [0.1, 0.5, Infinity], counts: [3, 5, 6], count: 6 });
    expect(h.sum).toBeCloseTo(1.8, 12);
    expect(sink.samples).toEqual([]); // no gauge or counter named *_bucket/_sum/_count
    expect(result.received.histogram).toBe(5);
  });

  it('handle a restart; _sum follows the restarts of _count even when observations are negative', () => {
    const { sink, converter } = setup();
    converter.apply(request(parts(at(H21, 0), [['0', 1], ['+Inf', 3]], 3, 5)));
    converter.apply(request(parts(at(H21, 15), [['0', 2], ['+Inf', 5]], 5, 4))); // a negative observation: sum fell, no restart
    converter.apply(request(parts(at(H21, 30), [['0', 0], ['+Inf', 1]], 1, 2))); // restarted
    const total = sink.histogramTotal('latency_seconds');
    expect(total.count).toBe(2 + 1);
    expect(total.sum).toBe(-1 + 2);
    expect(total.buckets).toEqual(new Map([[0, 1], [Infinity, 2 + 1]]));
  });

  it('parts arriving in later requests without their buckets still count as the histogram', () => {
    const { sink, converter } = setup();
    converter.apply(request(parts(at(H21, 0), [['1', 1], ['+Inf', 1]], 1, 0.5)));
    converter.apply(request([series({ __name__: 'latency_seconds_count' }, [[at(H21, 15), 4]]), series({ __name__: 'latency_seconds_sum' }, [[at(H21, 15), 2]])]));
    expect(sink.histogramTotal('latency_seconds')).toMatchObject({ count: 3, sum: 1.5 });
    expect(sink.samples).toEqual([]);
  });

  it('a _count without any bucket or metadata is an untyped gauge; with histogram metadata it is a part', () => {
    const { sink, converter } = setup();
    converter.apply(request([series({ __name__: 'queue_count' }, [[at(H21, 0), 4]])]));
    expect(sink.samples).toEqual([{ name: 'queue_count', tags: '', type: 'g', value: 4, hourSec: H21 }]);
    converter.apply(request([series({ __name__: 'rpc_seconds_count' }, [[at(H21, 0), 4], [at(H21, 1), 6]])], [['rpc_seconds', PROM_METRIC_TYPE.histogram]]));
    expect(sink.histogramTotal('rpc_seconds').count).toBe(2);
  });

  it('a bucket whose le is not a number is skipped and counted', () => {
    const { converter } = setup();
    const result = converter.apply(request([series({ __name__: 'x_bucket', le: 'many' }, [[at(H21, 0), 1]])]));
    expect(result.skipped.bad_le).toBe(1);
  });
});

describe('the bound on per-series state', () => {
  it('pushes out the least recently used series and counts it; its next sample is a baseline', () => {
    const { sink, converter } = setup(2);
    converter.apply(request([series({ __name__: 'a_total' }, [[at(H21, 0), 1]]), series({ __name__: 'b_total' }, [[at(H21, 0), 1]])]));
    converter.apply(request([series({ __name__: 'a_total' }, [[at(H21, 1), 2]])])); // a is now the most recent
    const result = converter.apply(request([series({ __name__: 'c_total' }, [[at(H21, 0), 1]])]));
    expect(result.seriesEvicted).toBe(1);
    expect(converter.seriesInMemory).toBe(2);
    expect(converter.seriesEvictedTotal).toBe(1);
    converter.apply(request([series({ __name__: 'a_total' }, [[at(H21, 2), 3]]), series({ __name__: 'b_total' }, [[at(H21, 2), 9]])]));
    expect(sink.total('b_total').count).toBe(0); // b was pushed out: 9 is a new baseline
    expect(sink.total('a_total').values).toEqual([1, 1]);
  });
});

describe('the bound on metadata', () => {
  it('keeps the most recent family types and counts what it pushed out', () => {
    const sink = new RecordingSink();
    const converter = new RemoteWriteConverter(sink, { maxFamilies: 1 });
    const first = converter.apply(request([], [['a', PROM_METRIC_TYPE.counter]]));
    const second = converter.apply(request([], [['b', PROM_METRIC_TYPE.counter]]));
    expect([first.familiesEvicted, second.familiesEvicted, converter.familiesEvictedTotal]).toEqual([0, 1, 1]);
    converter.apply(request([series({ __name__: 'a' }, [[at(H21, 0), 1], [at(H21, 1), 2]]), series({ __name__: 'b' }, [[at(H21, 0), 1], [at(H21, 1), 2]])]));
    expect(sink.samples.map((s) => [s.name, s.type])).toEqual([['a', 'g'], ['a', 'g'], ['b', 'c']]);
  });
});

describe('a sink that cannot take data', () => {
  it('stops the request; what it refused is applied by the retry, what it took is not taken twice', () => {
    const { sink, converter } = setup();
    sink.refusal = 'return-false';
    sink.refuseAfter = 1;
    const req = request([series({ __name__: 'g1' }, [[at(H21, 0), 1]]), series({ __name__: 'g2' }, [[at(H21, 0), 2]])]);
    expect(() => converter.apply(req)).toThrow(SinkUnavailableError);
    sink.refusal = 'none';
    converter.apply(req);
    expect(sink.samples.map((s) => s.name)).toEqual(['g1', 'g2']);
  });
});
