import { describe, expect, it } from 'vitest';
import { escapeMetricName } from './escape.js';

// Cases written from statsd_exporter's documented escaping: outside [a-zA-Z0-9_] becomes `_`,
// a dash run is one `_`, a leading digit gets a `_` in front.
describe('escapeMetricName', () => {
  const cases: [title: string, input: string, expected: string][] = [
    ['clean name kept', 'http_requests', 'http_requests'],
    ['dots', 'api.checkout.latency', 'api_checkout_latency'],
    ['leading digit', '5xx.count', '_5xx_count'],
    ['leading digit, clean otherwise', '9lives', '_9lives'],
    ['a dash', 'web-server', 'web_server'],
    ['two dashes are one', 'web--server', 'web_server'],
    ['three dashes are one', 'a---b-c', 'a_b_c'],
    ['dot then dash are two', 'a.-b', 'a__b'],
    ['other repeats are not collapsed', 'a.*.b', 'a___b'],
    ['slash and colon', 'api/v1:get', 'api_v1_get'],
    ['non-ASCII letter', 'caf\u00e9', 'caf_'],
    ['emoji is one character', 'with\u{1F631}emoji', 'with_emoji'],
    ['uppercase kept', 'HTTP.Status', 'HTTP_Status'],
    ['leading underscore kept', '_private.x', '_private_x'],
    ['space', 'a b', 'a_b'],
    ['empty', '', ''],
  ];
  it.each(cases)('%s: %j -> %j', (_title, input, expected) => {
    expect(escapeMetricName(input)).toBe(expected);
  });
});
