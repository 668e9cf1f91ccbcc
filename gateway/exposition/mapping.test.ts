import { describe, expect, it } from 'vitest';
import { DEFAULT_BUCKETS, DEFAULT_QUANTILES, MappingError, loadMapping, parseGoDuration, type MapperMetricType } from './mapping.js';

const FILE = `
defaults:
  ttl: 10m
mappings:
  - match: "test.dispatcher.*.*.*"
    name: "dispatcher_events_total"
    labels:
      processor: "$1"
      action: "$2"
      outcome: "\${3}"
      job: "test_dispatcher"
  - match: "*.signup.*.*"
    name: "signup_events_total"
    labels:
      provider: "$2"
      outcome: "$3"
      job: "\${1}_server"
  - match: "api.*.latency"
    name: "api_latency_seconds"
    observer_type: histogram
    histogram_options:
      buckets: [0.01, 0.1, 1]
    labels:
      route: "$1"
  - match: "jobs.*.duration"
    timer_type: histogram
    name: "job_duration_seconds"
    labels: { job: "$1" }
  - match: "typed.*"
    match_metric_type: gauge
    name: "typed_gauge"
  - match: "typed.*"
    name: "typed_other"
  - match: "scaled.*"
    name: "scaled_bytes"
    scale: 1024
    help: "Bytes, from KiB"
    ttl: 1h
  - match: "summary.*"
    name: "summary_custom"
    summary_options:
      quantiles:
        - quantile: 0.75
          error: 0.01
      max_age: 30s
      age_buckets: 3
  - match: "noise.*"
    action: drop
    name: "dropped"
  - match: "(.*)\\\\.(.*)\\\\.regexed"
    match_type: regex
    name: "regexed_\${2}"
    labels:
      first: "$1"
  - match: "(?P<svc>[a-z]+)_req_(?P<code>\\\\d+)"
    match_type: regex
    name: "requests_total"
    labels:
      service: "$svc"
      code: "\${code}"
`;

describe('loadMapping: matching', () => {
  const mapping = loadMapping(FILE);
  const cases: [title: string, name: string, type: MapperMetricType, expected: { name: string; labels: Record<string, string>; rule: number }][] = [
    ['glob with three captures', 'test.dispatcher.FooProcessor.send.success', 'counter', { name: 'dispatcher_events_total', labels: { processor: 'FooProcessor', action: 'send', outcome: 'success', job: 'test_dispatcher' }, rule: 0 }],
    ['glob capture in the middle of a label', 'foo_product.signup.facebook.failure', 'counter', { name: 'signup_events_total', labels: { provider: 'facebook', outcome: 'failure', job: 'foo_product_server' }, rule: 1 }],
    ['glob observer', 'api.checkout.latency', 'observer', { name: 'api_latency_seconds', labels: { route: 'checkout' }, rule: 2 }],
    ['match_metric_type picks the gauge rule', 'typed.x', 'gauge', { name: 'typed_gauge', labels: {}, rule: 4 }],
    ['match_metric_type skips it for others', 'typed.x', 'counter', { name: 'typed_other', labels: {}, rule: 5 }],
    ['regex with numbered captures', 'a.b.regexed', 'gauge', { name: 'regexed_b', labels: { first: 'a' }, rule: 9 }],
    ['regex with named captures ((?P<n>) as in RE2)', 'cart_req_200', 'counter', { name: 'requests_total', labels: { service: 'cart', code: '200' }, rule: 10 }],
  ];
  it.each(cases)('%s', (_title, name, type, expected) => {
    const m = mapping.match(name, type);
    expect(m.matched).toBe(true);
    expect(m.rule.index).toBe(expected.rule);
    expect(m.name).toBe(expected.name);
    expect(Object.fromEntries(m.labels)).toEqual(expected.labels);
  });

  it('a glob * is one whole segment: more or fewer segments do not match', () => {
    expect(mapping.match('api.checkout.v2.latency', 'observer').matched).toBe(false);
    expect(mapping.match('api.latency', 'observer').matched).toBe(false);
  });

  it('an unmatched name keeps its StatsD name and the defaults', () => {
    const m = mapping.match('other.metric', 'counter');
    expect(m).toMatchObject({ matched: false, name: 'other.metric', labels: [] });
    expect(m.rule.ttlMs).toBe(600_000);
    expect(m.rule.observerType).toBe('summary');
  });

  it('options: observer types, buckets, timer_type, defaults, ttl, scale, help, drop, summary', () => {
    const api = mapping.match('api.x.latency', 'observer').rule;
    expect(api.observerType).toBe('histogram');
    expect(api.buckets).toEqual([0.01, 0.1, 1]);
    const job = mapping.match('jobs.a.duration', 'observer').rule;
    expect(job.observerType).toBe('histogram');
    expect(job.buckets).toEqual(DEFAULT_BUCKETS);
    const scaled = mapping.match('scaled.x', 'gauge').rule;
    expect(scaled).toMatchObject({ scale: 1024, help: 'Bytes, from KiB', ttlMs: 3_600_000 });
    expect(mapping.match('typed.x', 'gauge').rule.ttlMs).toBe(600_000); // the default ttl
    expect(mapping.match('noise.x', 'counter').rule.action).toBe('drop');
    const summary = mapping.match('summary.x', 'observer').rule.summary;
    expect(summary).toEqual({ quantiles: [{ quantile: 0.75, error: 0.01 }], maxAgeMs: 30_000, ageBuckets: 3 });
    expect(mapping.match('x', 'observer').rule.summary).toEqual({ quantiles: DEFAULT_QUANTILES, maxAgeMs: 600_000, ageBuckets: 5 });
  });

  it('an empty file is statsd_exporter defaults', () => {
    const m = loadMapping('').match('a.b', 'observer');
    expect(m.rule).toMatchObject({ observerType: 'summary', ttlMs: 0, buckets: DEFAULT_BUCKETS, action: 'map' });
  });

  it('defaults.observer_type histogram with default buckets applies to unmatched names', () => {
    const m = loadMapping('defaults:\n  observer_type: histogram\n  histogram_options:\n    buckets: [1, 2]\n').match('a', 'observer');
    expect(m.rule).toMatchObject({ observerType: 'histogram', buckets: [1, 2] });
  });

  it('defaults.match_type regex makes every mapping a regex', () => {
    const m = loadMapping('defaults:\n  match_type: regex\nmappings:\n  - match: "^foo_(.+)$"\n    name: "bar_$1"\n').match('foo_baz', 'gauge');
    expect(m.name).toBe('bar_baz');
  });

  it('globs win over regexes, in file order', () => {
    const m = loadMapping('mappings:\n  - match: ".*"\n    match_type: regex\n    name: "by_regex"\n  - match: "a.*"\n    name: "by_glob"\n  - match: "a.b"\n    name: "later_glob"\n');
    expect(m.match('a.b', 'counter').name).toBe('by_glob');
    expect(m.match('zzz', 'counter').name).toBe('by_regex');
  });

  it('a glob reference past the captures is empty', () => {
    const m = loadMapping('mappings:\n  - match: "x.*"\n    name: "x_$1"\n    labels:\n      l: "$2-${1}"\n').match('x.y', 'gauge');
    expect(m.name).toBe('x_y');
    expect(m.labels).toEqual([['l', '-y']]);
  });
});

describe('loadMapping: bad files name each problem', () => {
  const cases: [title: string, text: string, expected: string[]][] = [
    ['YAML syntax', 'mappings:\n  - match: "a\n', ['line']],
    ['top level not a map', '- a\n- b\n', ['(top level)']],
    ['unknown top-level field', 'mapping: []\n', ['(top level).mapping: unknown field']],
    ['unknown mapping field', 'mappings:\n  - match: a.b\n    name: x\n    lables: {}\n', ['mappings[0].lables: unknown field']],
    ['missing match', 'mappings:\n  - name: x\n', ['mappings[0].match: required']],
    ['missing name', 'mappings:\n  - match: a.b\n', ['mappings[0].name: required']],
    ['bad glob', 'mappings:\n  - match: "a.b*c"\n    name: x\n', ['mappings[0].match: "a.b*c" is not a glob']],
    ['bad regex', 'mappings:\n  - match: "a(("\n    match_type: regex\n    name: x\n', ['mappings[0].match: invalid regular expression']],
    ['bad metric name', 'mappings:\n  - match: a.b\n    name: "1abc"\n', ['mappings[0].name: "1abc" is not a metric name']],
    ['bad label name', 'mappings:\n  - match: a.b\n    name: x\n    labels:\n      "bad-label": "$1"\n', ['mappings[0].labels.bad-label: invalid label name']],
    ['bad observer type', 'mappings:\n  - match: a.b\n    name: x\n    observer_type: gauge\n', ['mappings[0].observer_type: "gauge" is not one of summary, histogram']],
    ['bad match type', 'mappings:\n  - match: a.b\n    name: x\n    match_type: fuzzy\n', ['mappings[0].match_type: "fuzzy"']],
    ['bad action', 'mappings:\n  - match: a.b\n    name: x\n    action: keep\n', ['mappings[0].action: "keep"']],
    ['bad match_metric_type', 'mappings:\n  - match: a.b\n    name: x\n    match_metric_type: set\n', ['mappings[0].match_metric_type: "set"']],
    ['bad ttl', 'mappings:\n  - match: a.b\n    name: x\n    ttl: soon\n', ['mappings[0].ttl: "soon" is not a duration']],
    ['bad default ttl', 'defaults:\n  ttl: 5 minutes\n', ['defaults.ttl']],
    ['buckets out of order', 'mappings:\n  - match: a.b\n    name: x\n    observer_type: histogram\n    histogram_options:\n      buckets: [1, 0.5]\n', ['mappings[0].histogram_options.buckets: buckets must be in increasing order']],
    ['buckets not numbers', 'mappings:\n  - match: a.b\n    name: x\n    observer_type: histogram\n    histogram_options:\n      buckets: [a]\n', ['mappings[0].histogram_options.buckets: expected a list of numbers']],
    ['histogram options on a summary', 'mappings:\n  - match: a.b\n    name: x\n    histogram_options:\n      buckets: [1]\n', ['mappings[0]: histogram options given for a summary observer']],
    ['summary options on a histogram', 'mappings:\n  - match: a.b\n    name: x\n    observer_type: histogram\n    summary_options:\n      max_age: 1m\n', ['mappings[0]: summary options given for a histogram observer']],
    ['quantile out of range', 'mappings:\n  - match: a.b\n    name: x\n    summary_options:\n      quantiles:\n        - quantile: 1.5\n          error: 0.1\n', ['mappings[0].summary_options.quantiles[0].quantile: must be within 0..1']],
    ['scale not a number', 'mappings:\n  - match: a.b\n    name: x\n    scale: big\n', ['mappings[0].scale: "big" is not a number']],
    ['duplicate key', 'mappings:\n  - match: a.b\n    match: c.d\n    name: x\n', ['line']],
    [
      'several problems at once',
      'mappings:\n  - match: a.b\n  - match: "a..b"\n    name: y\n  - match: c\n    name: z\n    ttl: x\n',
      ['mappings[0].name: required', 'mappings[1].match', 'mappings[2].ttl'],
    ],
  ];
  it.each(cases)('%s', (_title, text, expected) => {
    let error: unknown;
    try {
      loadMapping(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MappingError);
    const problems = (error as MappingError).problems;
    expect(problems).toHaveLength(expected.length);
    expected.forEach((start, i) => expect(problems[i].startsWith(start), `${problems[i]} starts with ${start}`).toBe(true));
    expect((error as MappingError).code).toBe('HG_ERR_MAPPING');
  });

  it('action: drop needs no name', () => {
    expect(loadMapping('mappings:\n  - match: a.*\n    action: drop\n').match('a.b', 'counter').rule.action).toBe('drop');
  });
});

describe('parseGoDuration', () => {
  const cases: [unknown, number | undefined][] = [
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['0.5s', 500],
    ['250ms', 250],
    ['0', 0],
    [0, 0],
    [1_000_000_000, 1000],
    ['10', undefined],
    ['m', undefined],
    ['10 m', undefined],
    ['-1s', undefined],
  ];
  it.each(cases)('%j -> %j', (input, expected) => {
    expect(parseGoDuration(input)).toBe(expected);
  });
});
