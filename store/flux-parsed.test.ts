/**
 * Every Flux query builder's text, parsed and checked by the real Flux parser
 * (test-support/flux-parser.ts), with ordinary and hostile values: the query must be valid Flux,
 * and each value must come out of the parser as one string literal holding exactly that value
 * (so no value can end a literal early or become code).
 */
import { describe, expect, it } from 'vitest';
import { checkFlux } from '../test-support/flux-parser.js';
import { chunksOfRowsFlux, lastGaugeFlux, rowCountFlux, rowsOfKeysFlux, rowsOfNameHourFlux, watermarkFlux } from './flux.js';
import { encodeTagValue } from './influx-line-protocol.js';
import type { RollupRow, SeriesKey } from './schema.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;

const VALUES = {
  plain: 'api.checkout',
  quote: 'x") |> drop() //',
  backslash: 'a\\b\\',
  'trailing backslash then quote': 'a\\"',
  newline: 'line1\nline2\r\n") |> yield(name: "pwned")',
  interpolation: '${r._value}',
  'interpolation after backslash': '\\${x}',
  unicode: 'latency.é€😀\u202e\u0000\u007f',
  empty: '',
} as const;

const row = (p: Partial<RollupRow>): RollupRow => ({
  name: 'api.checkout',
  hourSec: H,
  tags: '',
  type: 'ms',
  writer: 'p0',
  count: 1,
  n: 1,
  sum: 1,
  min: 1,
  max: 1,
  last: NaN,
  sketch: new Uint8Array(0),
  chunks: 2,
  seq: 0,
  updatedMs: 0,
  ...p,
});

/** Valid Flux, and each expected string literal present as itself. */
function expectFlux(query: string, literals: readonly string[]): void {
  const check = checkFlux(query);
  expect(check.syntaxErrors, query).toEqual([]);
  expect(check.valid, query).toBe(true);
  for (const s of literals) expect(check.strings, query).toContain(s);
}

describe('the real Flux parser', () => {
  it('rejects a broken query, and one calling a function that does not exist', () => {
    const good = rowsOfNameHourFlux('hourglass', 'api.checkout', H).toString();
    expect(checkFlux(good)).toMatchObject({ syntaxErrors: [], valid: true });
    const unclosed = checkFlux(good.replace('"api.checkout"', '"api.checkout'));
    expect(unclosed.valid).toBe(false);
    expect(unclosed.syntaxErrors.length).toBeGreaterThan(0);
    // a value spliced in without escaping: valid Flux that drops every column (the injection
    // these tests guard against), caught because the literal no longer holds the value
    const spliced = checkFlux(good.replace('"api.checkout"', `"${VALUES.quote}"`));
    expect(spliced.valid).toBe(true);
    expect(spliced.strings).not.toContain(VALUES.quote);
    expect(spliced.strings).toContain('x');
    const unknown = checkFlux(good.replace('pivot(', 'pivoot('));
    expect(unknown).toMatchObject({ syntaxErrors: [], valid: false });
  });
});

describe.each(Object.entries(VALUES))('every query builder gives valid Flux with a value that is %s', (_, value) => {
  // each place a value goes gets its own, so a single unescaped place shows
  const bucket = `bucket:${value}`;
  const [name, tags, writer] = ['name', 'tags', 'writer'].map((p) => `${p}:${value}`);
  const stored = (v: string) => encodeTagValue(v);

  it('rows of a name-hour', () => {
    expectFlux(rowsOfNameHourFlux(bucket, name, H).toString(), [bucket, stored(name)]);
  });

  it('rows of one writer for several series', () => {
    const keys: SeriesKey[] = [
      { name, tags: 'env:prod', type: 'ms', hourSec: H },
      { name: 'other', tags, type: 'c', hourSec: H },
    ];
    expectFlux(rowsOfKeysFlux(bucket, H, keys, writer).toString(), [bucket, stored(name), stored(tags), stored(writer)]);
  });

  it('chunks of rows', () => {
    const rows = [row({ name, writer }), row({ tags, chunks: 5 })];
    expectFlux(chunksOfRowsFlux(bucket, H, rows).toString(), [bucket, stored(name), stored(tags), stored(writer)]);
  });

  it('the last gauge value before an hour', () => {
    expectFlux(lastGaugeFlux(bucket, name, tags, H).toString(), [bucket, stored(name), stored(tags)]);
  });

  it('the watermark of a writer', () => {
    expectFlux(watermarkFlux(bucket, writer).toString(), [bucket, stored(writer)]);
  });

  it('the row count of a writer-hour', () => {
    expectFlux(rowCountFlux(bucket, H, writer).toString(), [bucket, stored(writer)]);
  });
});
