/**
 * The Flux queries of the InfluxDB 2 store (schema: rollup/influx-line-protocol.ts). Pure.
 *
 * Every value goes through the client's `flux` template as fluxString or fluxDateTime, so a
 * metric name is always a Flux string literal and never code (SPEC §4: parameters are never
 * spliced into query text). Tag values are compared in their stored (percent-encoded) form.
 * Each query pivots fields into columns: one record per point, as InfluxQL's SELECT * gives.
 */
import { flux, fluxDateTime, fluxInteger, fluxString, type ParameterizedQuery } from '@influxdata/influxdb-client';
import { SECONDS_PER_DAY, SECONDS_PER_HOUR } from '../core/index.js';
import { RAW_MEASUREMENT, ROLLUP_MEASUREMENT, WATERMARK_MEASUREMENT, encodeTagValue, rfc3339Ns } from './influx-line-protocol.js';
import type { RollupRow, SeriesKey } from './schema.js';

const time = (sec: number, offsetNs = 0) => fluxDateTime(rfc3339Ns(sec, offsetNs));
const tag = (value: string) => fluxString(encodeTagValue(value));
const PIVOT = flux`pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`;

/** `a or b or c`: each part already built by the flux template. */
const anyOf = (parts: readonly ParameterizedQuery[]) => parts.reduce((all, part) => flux`${all} or ${part}`);

/** Every row of a name-hour. */
export function rowsOfNameHourFlux(bucket: string, name: string, hourSec: number): ParameterizedQuery {
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(hourSec)}, stop: ${time(hourSec + SECONDS_PER_HOUR)})
  |> filter(fn: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and r.name == ${tag(name)})
  |> ${PIVOT}`;
}

/** The rows of one writer for these series of one hour (the keys' hourSec is not read). */
export function rowsOfKeysFlux(bucket: string, hourSec: number, keys: readonly SeriesKey[], writer: string): ParameterizedQuery {
  const series = anyOf(keys.map((k) => flux`r.name == ${tag(k.name)} and r.tagset == ${tag(k.tags)} and r.type == ${tag(k.type)}`));
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(hourSec)}, stop: ${time(hourSec + SECONDS_PER_HOUR)})
  |> filter(fn: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and r.writer == ${tag(writer)} and (${series}))
  |> ${PIVOT}`;
}

/**
 * The raw chunks of these rows of one hour, up to the largest chunk count among them; the
 * caller drops chunks at or past their own row's count.
 */
export function chunksOfRowsFlux(bucket: string, hourSec: number, rows: readonly RollupRow[]): ParameterizedQuery {
  const maxChunks = Math.max(...rows.map((r) => r.chunks));
  const series = anyOf(rows.map((r) => flux`r.name == ${tag(r.name)} and r.tagset == ${tag(r.tags)} and r.type == ${tag(r.type)} and r.writer == ${tag(r.writer)}`));
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(hourSec)}, stop: ${time(hourSec, maxChunks)})
  |> filter(fn: (r) => r._measurement == ${fluxString(RAW_MEASUREMENT)} and (${series}))
  |> ${PIVOT}`;
}

/** The gauge value of the latest hour before `beforeHourSec` that has one (the latest update wins a tie). */
export function lastGaugeFlux(bucket: string, name: string, tags: string, beforeHourSec: number): ParameterizedQuery {
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(0)}, stop: ${time(beforeHourSec)})
  |> filter(fn: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and r.name == ${tag(name)} and r.tagset == ${tag(tags)} and r.type == "g" and (r._field == "last" or r._field == "updated_ms"))
  |> ${PIVOT}
  |> filter(fn: (r) => exists r.last)
  |> group()
  |> sort(columns: ["_time", "updated_ms"], desc: true)
  |> limit(n: 1)`;
}

/** The writer's latest watermark point. */
export function watermarkFlux(bucket: string, writer: string): ParameterizedQuery {
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(0)})
  |> filter(fn: (r) => r._measurement == ${fluxString(WATERMARK_MEASUREMENT)} and r.writer == ${tag(writer)} and r._field == "seq")
  |> last()`;
}

/** Every row of a name over the 24 hours from `dayStartSec` (the day form, SPEC §4.1). */
export function rowsOfNameDayFlux(bucket: string, name: string, dayStartSec: number): ParameterizedQuery {
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(dayStartSec)}, stop: ${time(dayStartSec + SECONDS_PER_DAY)})
  |> filter(fn: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and r.name == ${tag(name)})
  |> ${PIVOT}`;
}

/**
 * The stored names starting with `prefix` (stored form), sorted, at most `limit`: from the tag
 * index (schema.tagValues), not the points. `_value` holds each name.
 */
export function namesFlux(bucket: string, prefix: string, limit: number): ParameterizedQuery {
  // the empty prefix stays empty: encodeTagValue would store it as a marker
  const stored = prefix === '' ? '' : encodeTagValue(prefix);
  return flux`import "influxdata/influxdb/schema"
import "strings"
schema.tagValues(bucket: ${fluxString(bucket)}, tag: "name", start: ${time(0)},
  predicate: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and strings.hasPrefix(v: r.name, prefix: ${fluxString(stored)}))
  |> sort()
  |> limit(n: ${fluxInteger(limit)})`;
}

/** The types of each of these names, from the tag index: records with `name` and `type` (stored forms). */
export function typesOfNamesFlux(bucket: string, names: readonly string[]): ParameterizedQuery {
  const parts = names.map(
    (name) => flux`schema.tagValues(bucket: ${fluxString(bucket)}, tag: "type", start: ${time(0)},
    predicate: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and r.name == ${tag(name)})
    |> map(fn: (r) => ({name: ${tag(name)}, type: r._value}))`,
  );
  // union() needs two streams at least
  const all = parts.length === 1 ? parts[0] : flux`union(tables: [${parts.reduce((list, part) => flux`${list},
  ${part}`)}])`;
  return flux`import "influxdata/influxdb/schema"
${all}`;
}

/** How many rows the writer has for the hour (every row has the field n; rows sit at the hour start). */
export function rowCountFlux(bucket: string, hourSec: number, writer: string): ParameterizedQuery {
  return flux`from(bucket: ${fluxString(bucket)})
  |> range(start: ${time(hourSec)}, stop: ${time(hourSec, 1)})
  |> filter(fn: (r) => r._measurement == ${fluxString(ROLLUP_MEASUREMENT)} and r.writer == ${tag(writer)} and r._field == "n")
  |> group()
  |> count()`;
}
