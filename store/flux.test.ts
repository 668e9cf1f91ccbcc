import { describe, expect, it } from 'vitest';
import type { RollupRow } from './schema.js';
import { chunksOfRowsFlux, lastGaugeFlux, rowsOfKeysFlux, rowsOfNameHourFlux, watermarkFlux } from './flux.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
const HOSTILE = 'x") |> drop() //';
const HOSTILE_TEMPLATE = 'a\\"${x}\n") |> yield(name: "pwned") //';

/** The query with every string literal emptied: what a value must never change. */
const skeleton = (query: string) => query.replace(/"(?:\\.|[^"\\])*"/g, '""');

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
  chunks: 1,
  seq: 0,
  updatedMs: 0,
  ...p,
});

describe('Flux text', () => {
  it('rows of a name-hour', () => {
    expect(rowsOfNameHourFlux('hourglass', 'api.checkout', H).toString()).toBe(
      `from(bucket: "hourglass")
  |> range(start: time(v: "2026-11-22T21:00:00.000000000Z"), stop: time(v: "2026-11-22T22:00:00.000000000Z"))
  |> filter(fn: (r) => r._measurement == "rollup" and r.name == "api.checkout")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
    );
  });

  it('a hostile key stays inside its string literal', () => {
    const query = rowsOfNameHourFlux('my"bucket', HOSTILE, H).toString();
    expect(query).toContain('from(bucket: "my\\"bucket")');
    expect(query).toContain('r.name == "x\\") |> drop() //")');
    expect(skeleton(query)).toBe(skeleton(rowsOfNameHourFlux('hourglass', 'api.checkout', H).toString()));
    // backslashes and newlines are percent-encoded tag values; `${` (Flux interpolation) is escaped
    const template = rowsOfNameHourFlux('hourglass', HOSTILE_TEMPLATE, H).toString();
    expect(template).toContain('r.name == "a%5C\\"\\${x}%0A\\") |> yield(name: \\"pwned\\") //")');
    expect(skeleton(template)).toBe(skeleton(query));
  });

  it('rows of one writer for several series of an hour', () => {
    const keys = [
      { name: 'api.checkout', tags: '', type: 'ms' as const, hourSec: H },
      { name: HOSTILE, tags: 'env:prod,route:/pay', type: 'c' as const, hourSec: H },
    ];
    const query = rowsOfKeysFlux('hourglass', H, keys, 'p0').toString();
    expect(query).toBe(
      `from(bucket: "hourglass")
  |> range(start: time(v: "2026-11-22T21:00:00.000000000Z"), stop: time(v: "2026-11-22T22:00:00.000000000Z"))
  |> filter(fn: (r) => r._measurement == "rollup" and r.writer == "p0" and (r.name == "api.checkout" and r.tagset == "%none" and r.type == "ms" or r.name == "x\\") |> drop() //" and r.tagset == "env:prod,route:/pay" and r.type == "c"))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
    );
  });

  it('chunks of rows reach up to the largest chunk count', () => {
    const query = chunksOfRowsFlux('hourglass', H, [row({ chunks: 3 }), row({ tags: 'k:v', writer: 'p1', chunks: 1 })]).toString();
    expect(query).toBe(
      `from(bucket: "hourglass")
  |> range(start: time(v: "2026-11-22T21:00:00.000000000Z"), stop: time(v: "2026-11-22T21:00:00.000000003Z"))
  |> filter(fn: (r) => r._measurement == "rollup_raw" and (r.name == "api.checkout" and r.tagset == "%none" and r.type == "ms" and r.writer == "p0" or r.name == "api.checkout" and r.tagset == "k:v" and r.type == "ms" and r.writer == "p1"))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
    );
    expect(skeleton(chunksOfRowsFlux('b', H, [row({ name: HOSTILE_TEMPLATE, writer: HOSTILE })]).toString())).toBe(skeleton(chunksOfRowsFlux('b', H, [row({})]).toString()));
  });

  it('the last gauge value before an hour', () => {
    expect(lastGaugeFlux('hourglass', 'queue.depth', 'host:a', H).toString()).toBe(
      `from(bucket: "hourglass")
  |> range(start: time(v: "1970-01-01T00:00:00.000000000Z"), stop: time(v: "2026-11-22T21:00:00.000000000Z"))
  |> filter(fn: (r) => r._measurement == "rollup" and r.name == "queue.depth" and r.tagset == "host:a" and r.type == "g" and (r._field == "last" or r._field == "updated_ms"))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => exists r.last)
  |> group()
  |> sort(columns: ["_time", "updated_ms"], desc: true)
  |> limit(n: 1)`,
    );
    expect(skeleton(lastGaugeFlux('hourglass', HOSTILE, HOSTILE_TEMPLATE, H).toString())).toBe(skeleton(lastGaugeFlux('hourglass', 'g', '', H).toString()));
  });

  it('the watermark of a writer', () => {
    expect(watermarkFlux('hourglass', 'p3').toString()).toBe(
      `from(bucket: "hourglass")
  |> range(start: time(v: "1970-01-01T00:00:00.000000000Z"))
  |> filter(fn: (r) => r._measurement == "rollup_watermark" and r.writer == "p3" and r._field == "seq")
  |> last()`,
    );
    expect(skeleton(watermarkFlux('hourglass', HOSTILE).toString())).toBe(skeleton(watermarkFlux('hourglass', 'p3').toString()));
  });
});
