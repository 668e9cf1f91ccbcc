import { describe, expect, it } from 'vitest';
import { AgentFormatError, LineDecoder, parseAgentFormat } from './format.js';
import { backoffDelayMs, retryAfterMs } from './ingest-client.js';

describe('parseAgentFormat', () => {
  it.each([
    ['statsd', 'statsd'],
    ['json', 'json'],
    [String.raw`(?<key>\S+) (?<value>\d+)`, 'regex'],
  ])('reads %j', (text, kind) => {
    expect(parseAgentFormat(text).kind).toBe(kind);
  });

  it.each([
    ['(', /expected statsd, json or a regular expression/],
    [String.raw`(?<value>\d+)`, /named group \(\?<key>/],
    [String.raw`(?<key>\S+) (\d+)`, /named group \(\?<value>/],
    ['STATSD', /named groups/],
  ])('refuses %j', (text, message) => {
    expect(() => parseAgentFormat(text)).toThrow(AgentFormatError);
    expect(() => parseAgentFormat(text)).toThrow(message);
  });

  it('notices an optional ts group', () => {
    expect(parseAgentFormat(String.raw`(?<key>\S+) (?<value>\S+)(?: (?<ts>\S+))?`)).toMatchObject({ kind: 'regex', hasTs: true });
  });
});

/** The read time handed to the decoder: 2026-11-22 21:30:00 UTC, in no way derived from the lines. */
const READ_SEC = Date.UTC(2026, 10, 22, 21, 30, 0) / 1000;

describe('LineDecoder, statsd', () => {
  const decoder = new LineDecoder({ kind: 'statsd' }, 64);
  it.each([
    ['api:118|ms', { ok: true, item: `api:118|ms|T${READ_SEC}` }],
    ['api:118|ms|@0.5|#route:pay', { ok: true, item: `api:118|ms|@0.5|#route:pay|T${READ_SEC}` }],
    ['users:alice|s', { ok: true, item: `users:alice|s|T${READ_SEC}` }],
    // A line with its own time goes as written, even T0.
    ['api:118|ms|T1795381200', { ok: true, item: 'api:118|ms|T1795381200' }],
    ['api:118|ms|T0', { ok: true, item: 'api:118|ms|T0' }],
    ['api:118|ms|#a:b|T1795381200', { ok: true, item: 'api:118|ms|#a:b|T1795381200' }],
    ['api:118|ms|Tsoon', { ok: false, reason: 'bad_timestamp' }],
    // 62 bytes: fits MAX_LINE_BYTES (64), the stamp would not, so it goes unstamped rather than refused.
    [`${'n'.repeat(57)}:1|ms`, { ok: true, item: `${'n'.repeat(57)}:1|ms` }],
  ])('%j', (line, expected) => {
    expect(decoder.decode(line, READ_SEC)).toEqual(expected);
  });
});

describe('LineDecoder, json', () => {
  const decoder = new LineDecoder({ kind: 'json' }, 8192);
  it('an object without timestamp gets the read time; one with it goes as written', () => {
    expect(decoder.decode('{"key":"a","value":1,"tags":{"r":"p"}}', READ_SEC)).toEqual({ ok: true, item: JSON.stringify({ key: 'a', value: 1, tags: { r: 'p' }, timestamp: READ_SEC }) });
    const own = '{"key":"a", "value":[1,2], "timestamp":1795381200}';
    expect(decoder.decode(own, READ_SEC)).toEqual({ ok: true, item: own });
    expect(decoder.decode('{"key":"a"}', READ_SEC)).toEqual({ ok: false, reason: 'bad_value' });
  });
});

describe('LineDecoder, regex', () => {
  const decoder = new LineDecoder(parseAgentFormat(String.raw`^(?<key>\S+) (?<value>\S+)(?: (?<ts>\S+))?$`), 8192);
  it.each([
    ['/pay 0.118', { ok: true, item: `/pay:0.118|ms|T${READ_SEC}` }],
    ['/pay 118 1795381200.75', { ok: true, item: '/pay:118|ms|T1795381200' }],
    ['/pay 1e-3', { ok: true, item: `/pay:1e-3|ms|T${READ_SEC}` }],
    ['nothing', { ok: false, reason: 'no_match' }],
    ['/pay 0x10', { ok: false, reason: 'bad_value' }],
    ['/pay -', { ok: false, reason: 'bad_value' }],
    ['/pay -5', { ok: false, reason: 'negative_timer' }],
    ['/pay 5 yesterday', { ok: false, reason: 'bad_timestamp' }],
    ['a|b 5', { ok: false, reason: 'bad_name' }],
    ['a:b 5', { ok: false, reason: 'bad_name' }],
    ['a#k:v 5', { ok: false, reason: 'bad_name' }],
  ])('%j', (line, expected) => {
    expect(decoder.decode(line, READ_SEC)).toEqual(expected);
  });
});

describe('backoff and Retry-After', () => {
  it('doubles up to the cap, each delay within [step/2, step]', () => {
    const backoff = { initialMs: 100, maxMs: 1000 };
    const steps = [100, 200, 400, 800, 1000, 1000];
    steps.forEach((step, attempt) => {
      expect(backoffDelayMs(attempt, backoff, () => 0)).toBe(step / 2);
      expect(backoffDelayMs(attempt, backoff, () => 0.999999)).toBeCloseTo(step, 2);
    });
  });

  it.each([
    ['5', 5000],
    ['0', 0],
    ['999999', 300_000],
    ['Wed, 21 Oct 2015 07:28:10 GMT', 10_000],
    ['soon', undefined],
  ])('Retry-After: %j', (header, ms) => {
    expect(retryAfterMs(header, Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(ms);
  });
});

describe('the README examples', () => {
  it.each([
    ['nginx $msec $server_name $request_time', String.raw`^(?<ts>\d+\.\d+) (?<key>\S+) (?<value>\d+\.\d+)$`, '1795381200.123 nginx.shop 0.118', 'nginx.shop:0.118|ms|T1795381200'],
    ['Apache %{%s}t %v %D', String.raw`^(?<ts>\d+) (?<key>\S+) (?<value>\d+)$`, '1795381200 apache.shop 118000', 'apache.shop:118000|ms|T1795381200'],
  ])('%s', (_name, regex, line, item) => {
    expect(new LineDecoder(parseAgentFormat(regex), 8192).decode(line, READ_SEC)).toEqual({ ok: true, item });
  });
});
