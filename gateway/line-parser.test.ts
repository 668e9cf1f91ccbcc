import { describe, expect, it } from 'vitest';
import { LineParser, parseDecimal, type SampleSink } from './line-parser.js';
import type { MetricType } from '../core/index.js';
import type { RejectReason } from './reject-reasons.js';

const HOUR = 1_795_381_200; // 2026-11-22T21:00:00Z
const T_HOUR = 1_700_000_000 - (1_700_000_000 % 3600);

type Sample = [name: string, tags: string, type: MetricType, value: number, weight: number, delta: boolean, hourSec: number];

function parse(text: string, maxLineBytes = 8192) {
  const samples: Sample[] = [];
  const members: [string, string, string, number][] = [];
  const rejects: [RejectReason, string][] = [];
  const sink: SampleSink = {
    sample: (...s) => samples.push(s),
    member: (...m) => members.push(m),
  };
  const parser = new LineParser(sink, { reject: (reason, line) => rejects.push([reason, line]) }, maxLineBytes);
  const lines = parser.parseLines(text, HOUR);
  return { samples, members, rejects, lines };
}

describe('accepted lines', () => {
  const cases: [title: string, line: string, expected: Sample[]][] = [
    ['timer', 'api.checkout:118|ms', [['api.checkout', '', 'ms', 118, 1, false, HOUR]]],
    ['decimal timer', 'a:118.25|ms', [['a', '', 'ms', 118.25, 1, false, HOUR]]],
    ['zero timer', 'a:0|ms', [['a', '', 'ms', 0, 1, false, HOUR]]],
    ['leading dot', 'a:.5|ms', [['a', '', 'ms', 0.5, 1, false, HOUR]]],
    ['exponent (hot-shots prints tiny numbers so)', 'a:1e-7|ms', [['a', '', 'ms', 1e-7, 1, false, HOUR]]],
    ['histogram', 'a:-3.5|h', [['a', '', 'h', -3.5, 1, false, HOUR]]],
    ['distribution', 'a:42|d', [['a', '', 'd', 42, 1, false, HOUR]]],
    ['counter', 'hits:1|c', [['hits', '', 'c', 1, 1, false, HOUR]]],
    ['negative counter', 'hits:-2|c', [['hits', '', 'c', -2, 1, false, HOUR]]],
    ['sampled counter', 'hits:1|c|@0.1', [['hits', '', 'c', 1, 10, false, HOUR]]],
    ['sampled timer', 'a:20|ms|@0.25', [['a', '', 'ms', 20, 4, false, HOUR]]],
    ['sample rate 1', 'a:20|ms|@1', [['a', '', 'ms', 20, 1, false, HOUR]]],
    ['gauge', 'g:5|g', [['g', '', 'g', 5, 1, false, HOUR]]],
    ['gauge increment', 'g:+5|g', [['g', '', 'g', 5, 1, true, HOUR]]],
    ['gauge decrement', 'g:-5|g', [['g', '', 'g', -5, 1, true, HOUR]]],
    ['gauge ignores sample rate', 'g:5|g|@0.5', [['g', '', 'g', 5, 1, false, HOUR]]],
    ['packed values', 'a:1:2:3|ms', [['a', '', 'ms', 1, 1, false, HOUR], ['a', '', 'ms', 2, 1, false, HOUR], ['a', '', 'ms', 3, 1, false, HOUR]]],
    ['tags', 'a:1|ms|#route:checkout', [['a', 'route:checkout', 'ms', 1, 1, false, HOUR]]],
    ['tags sorted into one series', 'a:1|ms|#z:1,a:2,m', [['a', 'a:2,m,z:1', 'ms', 1, 1, false, HOUR]]],
    ['rate and tags', 'a:1|ms|@0.5|#env:prod', [['a', 'env:prod', 'ms', 1, 2, false, HOUR]]],
    ['tags then rate', 'a:1|ms|#env:prod|@0.5', [['a', 'env:prod', 'ms', 1, 2, false, HOUR]]],
    ['timestamp', 'a:1|ms|T1700000000', [['a', '', 'ms', 1, 1, false, T_HOUR]]],
    ['everything', 'a:1:2|h|@0.5|#k:v|T1700000000', [['a', 'k:v', 'h', 1, 2, false, T_HOUR], ['a', 'k:v', 'h', 2, 2, false, T_HOUR]]],
    ['dogstatsd container field ignored', 'a:1|ms|#k:v|c:abc123', [['a', 'k:v', 'ms', 1, 1, false, HOUR]]],
    ['utf-8 name', 'caf\u00e9.latency:3|ms', [['caf\u00e9.latency', '', 'ms', 3, 1, false, HOUR]]],
    ['name with dots, dashes, slashes', 'api/v1.get-user:3|ms', [['api/v1.get-user', '', 'ms', 3, 1, false, HOUR]]],
    // Tags in the name, as statsd_exporter reads them (SPEC §3): same canonical string as `|#`.
    ['influxdb tags', 'hits,route=checkout,env=prod:1|c', [['hits', 'env:prod,route:checkout', 'c', 1, 1, false, HOUR]]],
    ['influxdb one tag', 'hits,env=prod:2|c|@0.5', [['hits', 'env:prod', 'c', 2, 2, false, HOUR]]],
    ['librato tags', 'hits#route=checkout,env=prod:1|c', [['hits', 'env:prod,route:checkout', 'c', 1, 1, false, HOUR]]],
    ['signalfx tags', 'hits[route=checkout,env=prod]:1|c', [['hits', 'env:prod,route:checkout', 'c', 1, 1, false, HOUR]]],
    ['signalfx tags mid-name', 'api[env=prod].latency:7|ms', [['api.latency', 'env:prod', 'ms', 7, 1, false, HOUR]]],
    ['influxdb tag value with =', 'q,filter=a=b:1|c', [['q', 'filter:a=b', 'c', 1, 1, false, HOUR]]],
    ['name tags with packed values', 'a,k=v:1:2|h', [['a', 'k:v', 'h', 1, 1, false, HOUR], ['a', 'k:v', 'h', 2, 1, false, HOUR]]],
    ['name tags with timestamp', 'a#k=v:1|ms|T1700000000', [['a', 'k:v', 'ms', 1, 1, false, T_HOUR]]],
    ['name tags on a gauge delta', 'g[k=v]:-3|g', [['g', 'k:v', 'g', -3, 1, true, HOUR]]],
  ];
  it.each(cases)('%s: %s', (_title, line, expected) => {
    const r = parse(line);
    expect(r.rejects).toEqual([]);
    expect(r.samples).toEqual(expected);
  });

  it('set member', () => {
    const r = parse('users:alice|s|#k:v');
    expect(r.rejects).toEqual([]);
    expect(r.members).toEqual([['users', 'k:v', 'alice', HOUR]]);
  });

  it('set member with influxdb tags', () => {
    const r = parse('users,k=v:alice|s');
    expect(r.rejects).toEqual([]);
    expect(r.members).toEqual([['users', 'k:v', 'alice', HOUR]]);
  });

  it('every tag style names the same series as the DogStatsD form', () => {
    const lines = ['lat:5|ms|#env:prod,route:a', 'lat,route=a,env=prod:5|ms', 'lat#env=prod,route=a:5|ms', 'lat[route=a,env=prod]:5|ms'];
    const series = lines.map((line) => {
      const r = parse(line);
      expect(r.rejects).toEqual([]);
      return `${r.samples[0][0]}|${r.samples[0][1]}`;
    });
    expect(new Set(series)).toEqual(new Set(['lat|env:prod,route:a']));
  });
});

describe('rejected lines', () => {
  const cases: [title: string, line: string, reason: RejectReason][] = [
    ['no value', 'a|ms', 'missing_value'],
    ['no colon at all', 'garbage', 'missing_value'],
    ['empty name', ':1|ms', 'bad_name'],
    ['no type', 'a:1', 'missing_type'],
    ['empty type', 'a:1|', 'missing_type'],
    ['unknown type', 'a:1|x', 'unknown_type'],
    ['type case matters', 'a:1|MS', 'unknown_type'],
    ['empty value', 'a:|ms', 'bad_value'],
    ['empty packed value', 'a:1::2|ms', 'bad_value'],
    ['hex', 'a:0x10|ms', 'bad_value'],
    ['trailing letters', 'a:12abc|ms', 'bad_value'],
    ['leading space', 'a: 1|ms', 'bad_value'],
    ['trailing space', 'a:1 |ms', 'bad_value'],
    ['Infinity word', 'a:Infinity|ms', 'bad_value'],
    ['NaN word', 'a:NaN|ms', 'bad_value'],
    ['underscore separator', 'a:1_000|ms', 'bad_value'],
    ['lone dot', 'a:.|ms', 'bad_value'],
    ['lone sign', 'a:-|c', 'bad_value'],
    ['two dots', 'a:1.2.3|ms', 'bad_value'],
    ['dangling exponent', 'a:1e|ms', 'bad_value'],
    ['overflow to infinity', 'a:1e309|ms', 'non_finite'],
    ['negative timer', 'a:-1|ms', 'negative_timer'],
    ['one bad packed value rejects the line', 'a:1:-2|ms', 'negative_timer'],
    ['zero sample rate', 'a:1|ms|@0', 'bad_sample_rate'],
    ['sample rate above 1', 'a:1|ms|@1.5', 'bad_sample_rate'],
    ['negative sample rate', 'a:1|ms|@-0.5', 'bad_sample_rate'],
    ['empty sample rate', 'a:1|ms|@', 'bad_sample_rate'],
    ['hex sample rate', 'a:1|ms|@0x1', 'bad_sample_rate'],
    ['empty tag list', 'a:1|ms|#', 'bad_tags'],
    ['empty tag in list', 'a:1|ms|#a:1,,b:2', 'bad_tags'],
    ['control character in tag', 'a:1|ms|#a\u0001b', 'bad_tags'],
    ['non-numeric timestamp', 'a:1|ms|Tsoon', 'bad_timestamp'],
    ['fractional timestamp', 'a:1|ms|T1700000000.5', 'bad_timestamp'],
    ['empty timestamp', 'a:1|ms|T', 'bad_timestamp'],
    ['unknown section', 'a:1|ms|x', 'bad_section'],
    ['empty section', 'a:1|ms||@0.5', 'bad_section'],
    ['control character in name', 'a\u0000b:1|ms', 'bad_name'],
    ['pipe in name', 'a|b:1|ms', 'bad_name'],
    ['dogstatsd event', '_e{5,4}:title|text', 'unsupported'],
    ['dogstatsd service check', '_sc|my.check|0', 'unsupported'],
    ['empty set member', 'users:|s', 'bad_value'],
    ['influxdb plus dogstatsd tags', 'a,k=v:1|c|#x:y', 'bad_tags'],
    ['librato plus dogstatsd tags', 'a#k=v:1|c|#x:y', 'bad_tags'],
    ['signalfx plus dogstatsd tags', 'a[k=v]:1|c|#x:y', 'bad_tags'],
    ['signalfx plus influxdb tags', 'a[k=v],x=y:1|c', 'bad_tags'],
    ['influxdb plus librato marker', 'a,k=v#x=y:1|c', 'bad_tags'],
    ['lone open bracket', 'a[k=v:1|c', 'bad_tags'],
    ['lone close bracket', 'ak=v]:1|c', 'bad_tags'],
    ['brackets reversed', 'a]k=v[:1|c', 'bad_tags'],
    ['empty signalfx tags', 'a[]:1|c', 'bad_tags'],
    ['name only brackets', '[k=v]:1|c', 'bad_tags'],
    ['name tag without =', 'a,flag:1|c', 'bad_tags'],
    ['name tag empty key', 'a,=v:1|c', 'bad_tags'],
    ['name tag empty value', 'a,k=:1|c', 'bad_tags'],
    ['empty name tag in list', 'a,k=v,,k2=v2:1|c', 'bad_tags'],
    ['trailing comma', 'a,k=v,:1|c', 'bad_tags'],
    ['nothing after marker', 'a#:1|c', 'bad_tags'],
    ['name is only tags', ',k=v:1|c', 'bad_tags'],
  ];
  it.each(cases)('%s: %j', (_title, line, reason) => {
    const r = parse(line);
    expect(r.samples).toEqual([]);
    expect(r.members).toEqual([]);
    expect(r.rejects).toEqual([[reason, line]]);
  });

  it('rejects an over-long line', () => {
    const line = `${'k'.repeat(100)}:1|ms`;
    const r = parse(line, 64);
    expect(r.rejects).toEqual([['line_too_long', line]]);
  });
});

describe('datagrams', () => {
  it('keeps every good line around bad ones', () => {
    const r = parse('a:1|ms\nbad\nb:2|c\na:0x10|ms\nc:3|g');
    expect(r.samples.map((s) => s[0])).toEqual(['a', 'b', 'c']);
    expect(r.rejects.map((x) => x[0])).toEqual(['missing_value', 'bad_value']);
    expect(r.lines).toBe(5);
  });

  it('tolerates \\r\\n and skips empty lines', () => {
    const r = parse('a:1|ms\r\n\r\nb:2|ms\n\n');
    expect(r.samples.map((s) => [s[0], s[3]])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(r.rejects).toEqual([]);
    expect(r.lines).toBe(2);
  });

  it('a line without a trailing newline is still a line', () => {
    expect(parse('a:1|ms').samples).toHaveLength(1);
  });
});

describe('parseDecimal', () => {
  const valid = ['0', '1', '-1', '+1', '118.5', '0.1', '.5', '5.', '1e3', '1E-3', '2.5e+2', '123456789012345678901234567890', '0.30000000000000004'];
  it.each(valid)('%s equals Number()', (s) => {
    expect(parseDecimal(s, 0, s.length)).toBe(Number(s));
  });
  const invalid = ['', '+', '-', '.', 'e5', '1e', '1e+', '0x10', '0b1', '1_0', ' 1', '1 ', 'Infinity', '--1', '1..2'];
  it.each(invalid)('%j is not a number', (s) => {
    expect(parseDecimal(s, 0, s.length)).toBeNaN();
  });
  it('agrees with Number() on many random decimals (fast path)', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < 20_000; i++) {
      const s = (random() * 10 ** Math.floor(random() * 12)).toFixed(Math.floor(random() * 10));
      expect(parseDecimal(s, 0, s.length)).toBe(Number(s));
    }
  });
});
