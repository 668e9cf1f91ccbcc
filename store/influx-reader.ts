/**
 * Reads the InfluxDB store (schema: store/schema.ts), for the query service and for the
 * rollup's InfluxStore (rows to continue from, set members, gauge carry-over): InfluxQL over the
 * 1.x /query API (INFLUX_API=v1, also InfluxDB 3's v1 API), Flux over /api/v2/query
 * (INFLUX_API=v2). Values are InfluxQL bound parameters (`params`) or Flux literals escaped by the
 * client's flux template (flux.ts); statement text never holds a value.
 */
import { SECONDS_PER_DAY, SECONDS_PER_HOUR, type MetricType } from '../core/index.js';
import { StoreRejectedError, type RawChunk, type RollupReader, type RollupRow, type SeriesKey, type StatsRow, type StoredKey } from './schema.js';
import { fluxQuery, influxQl, v1Target, v2Target, type InfluxSettings, type V1Target, type V2Target } from './influx-http.js';
import {
  RAW_MEASUREMENT,
  ROLLUP_MEASUREMENT,
  STATS_MEASUREMENT,
  WATERMARK_MEASUREMENT,
  chunkFromRecord,
  decodeTagValue,
  encodeTagValue,
  parseRfc3339,
  rfc3339Ns,
  rowFromRecord,
  statsFromRecord,
  type PointRecord,
} from './influx-line-protocol.js';
import { chunksOfRowsFlux, lastGaugeFlux, namesFlux, rowCountFlux, rowsOfKeysFlux, rowsOfNameDayFlux, rowsOfNameHourFlux, typesOfNamesFlux, watermarkFlux } from './flux.js';

/** Reads of the rollup's store beside those of the query service. */
export interface InfluxReads extends RollupReader {
  /** The rows of these series-hours for this writer (undefined where none). */
  rowsOf(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]>;
  /** The value of a gauge after its last update before `beforeHourSec`, if any. */
  lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined>;
  /** The writer's last written watermark; 0 when none. */
  watermark(writer: string): Promise<number>;
  /** How many rows this writer has for the hour. */
  rowCount(hourSec: number, writer: string): Promise<number>;
}

/** InfluxQL statements per request, and series per Flux query. */
const BATCH = 100;

const seriesId = (s: SeriesKey, writer: string) => `${s.type}\u0000${s.hourSec}\u0000${writer}\u0000${s.name}\u0000${s.tags}`;

function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function byHour<T extends { readonly hourSec: number }>(items: readonly T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const group = groups.get(item.hourSec);
    if (group === undefined) groups.set(item.hourSec, [item]);
    else group.push(item);
  }
  return groups;
}

/** Whether gauge record `a` is later than `b`: by time, then by update. */
function later(a: PointRecord, b: PointRecord): boolean {
  const [x, y] = [parseRfc3339(String(a.time)), parseRfc3339(String(b.time))];
  if (x.sec !== y.sec) return x.sec > y.sec;
  if (x.ns !== y.ns) return x.ns > y.ns;
  return Number(a.updated_ms) > Number(b.updated_ms);
}

/** INFLUX_API=v1: InfluxQL over /query. */
export class InfluxQlReader implements InfluxReads {
  constructor(private readonly target: V1Target) {}

  async rows(name: string, hourSec: number): Promise<RollupRow[]> {
    const [records] = await influxQl(this.target, [`SELECT * FROM "${ROLLUP_MEASUREMENT}" WHERE "name" = $name AND time >= $start AND time < $end`], {
      name: encodeTagValue(name),
      start: rfc3339Ns(hourSec),
      end: rfc3339Ns(hourSec + SECONDS_PER_HOUR),
    });
    return records.map(rowFromRecord);
  }

  async stats(name: string, hourSec: number): Promise<StatsRow[]> {
    const [records] = await influxQl(this.target, [`SELECT * FROM "${STATS_MEASUREMENT}" WHERE "name" = $name AND time = $time`], {
      name: encodeTagValue(name),
      time: rfc3339Ns(hourSec),
    });
    return records.map(statsFromRecord);
  }

  async chunks(rows: readonly RollupRow[]): Promise<RawChunk[]> {
    const out: RawChunk[] = [];
    for (const batch of batches(rows.filter((r) => r.chunks > 0), BATCH)) {
      const params: Record<string, unknown> = {};
      const statements = batch.map((r, i) => {
        Object.assign(params, {
          [`name${i}`]: encodeTagValue(r.name),
          [`tagset${i}`]: encodeTagValue(r.tags),
          [`type${i}`]: encodeTagValue(r.type),
          [`writer${i}`]: encodeTagValue(r.writer),
          [`start${i}`]: rfc3339Ns(r.hourSec),
          // chunks past the row's count (a crash between two requests of a write) are not its own
          [`end${i}`]: rfc3339Ns(r.hourSec, r.chunks),
        });
        return `SELECT * FROM "${RAW_MEASUREMENT}" WHERE "name" = $name${i} AND "tagset" = $tagset${i} AND "type" = $type${i} AND "writer" = $writer${i} AND time >= $start${i} AND time < $end${i}`;
      });
      for (const records of await influxQl(this.target, statements, params)) for (const rec of records) out.push(chunkFromRecord(rec));
    }
    return out;
  }

  async rowsOf(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]> {
    const out: (RollupRow | undefined)[] = [];
    for (const batch of batches(keys, BATCH)) {
      const params: Record<string, unknown> = { writer: encodeTagValue(writer) };
      const statements = batch.map((k, i) => {
        Object.assign(params, {
          [`name${i}`]: encodeTagValue(k.name),
          [`tagset${i}`]: encodeTagValue(k.tags),
          [`type${i}`]: encodeTagValue(k.type),
          [`time${i}`]: rfc3339Ns(k.hourSec),
        });
        return `SELECT * FROM "${ROLLUP_MEASUREMENT}" WHERE "name" = $name${i} AND "tagset" = $tagset${i} AND "type" = $type${i} AND "writer" = $writer AND time = $time${i}`;
      });
      for (const records of await influxQl(this.target, statements, params)) out.push(records.length === 0 ? undefined : rowFromRecord(records[0]));
    }
    return out;
  }

  async lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined> {
    // the latest point of each writer that has a value (`"last" = "last"` is false where the
    // field is absent: InfluxQL has no IS NOT NULL), then the latest of those, by update on a tie
    const [records] = await influxQl(
      this.target,
      [
        `SELECT "last", "updated_ms" FROM "${ROLLUP_MEASUREMENT}" WHERE "name" = $name AND "tagset" = $tagset AND "type" = $type AND time < $before AND "last" = "last" GROUP BY "writer" ORDER BY time DESC LIMIT 1`,
      ],
      { name: encodeTagValue(name), tagset: encodeTagValue(tags), type: 'g', before: rfc3339Ns(beforeHourSec) },
    );
    let best: PointRecord | undefined;
    for (const rec of records) if (best === undefined || later(rec, best)) best = rec;
    return best === undefined ? undefined : Number(best.last);
  }

  async rowsOfDay(name: string, dayStartSec: number): Promise<RollupRow[]> {
    const [records] = await influxQl(this.target, [`SELECT * FROM "${ROLLUP_MEASUREMENT}" WHERE "name" = $name AND time >= $start AND time < $end`], {
      name: encodeTagValue(name),
      start: rfc3339Ns(dayStartSec),
      end: rfc3339Ns(dayStartSec + SECONDS_PER_DAY),
    });
    return records.map(rowFromRecord);
  }

  async keys(prefix: string, limit: number): Promise<StoredKey[]> {
    // the tag index answers both, never the points; the prefix is a bound regex parameter
    // (influxd takes {"regex": ...} for a `=~ $param`), its metacharacters quoted
    const where = prefix === '' ? '' : ' WHERE "name" =~ $prefix';
    const [records] = await influxQl(this.target, [`SHOW TAG VALUES FROM "${ROLLUP_MEASUREMENT}" WITH KEY = "name"${where} LIMIT $limit`], {
      limit,
      ...(prefix === '' ? {} : { prefix: { regex: `^${encodeTagValue(prefix).replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')}` } }),
    });
    const stored = records.map((r) => String(r.value));
    const types = new Map<string, MetricType[]>();
    for (const batch of batches(stored, BATCH)) {
      const params: Record<string, unknown> = {};
      const statements = batch.map((name, i) => {
        params[`name${i}`] = name;
        return `SHOW TAG VALUES FROM "${ROLLUP_MEASUREMENT}" WITH KEY = "type" WHERE "name" = $name${i}`;
      });
      const answers = await influxQl(this.target, statements, params);
      batch.forEach((name, i) => types.set(name, answers[i].map((r) => decodeTagValue(String(r.value)) as MetricType)));
    }
    return stored.map((name) => ({ name: decodeTagValue(name), types: types.get(name) ?? [] }));
  }

  async rowCount(hourSec: number, writer: string): Promise<number> {
    // every row has the field n; rows sit at the hour start
    const [records] = await influxQl(this.target, [`SELECT count("n") FROM "${ROLLUP_MEASUREMENT}" WHERE "writer" = $writer AND time = $time`], {
      writer: encodeTagValue(writer),
      time: rfc3339Ns(hourSec),
    });
    return records.length === 0 ? 0 : Number(records[0].count);
  }

  async watermark(writer: string): Promise<number> {
    const [records] = await influxQl(this.target, [`SELECT "seq" FROM "${WATERMARK_MEASUREMENT}" WHERE "writer" = $writer ORDER BY time DESC LIMIT 1`], {
      writer: encodeTagValue(writer),
    });
    return records.length === 0 ? 0 : Number(records[0].seq);
  }

  async close(): Promise<void> {}
}

/** INFLUX_API=v2: Flux over /api/v2/query. */
export class FluxReader implements InfluxReads {
  constructor(private readonly target: V2Target) {}

  async rows(name: string, hourSec: number): Promise<RollupRow[]> {
    return (await fluxQuery(this.target, rowsOfNameHourFlux(this.target.bucket, name, hourSec))).map(rowFromRecord);
  }

  async chunks(rows: readonly RollupRow[]): Promise<RawChunk[]> {
    const found = new Map<string, RawChunk[]>();
    for (const [hourSec, group] of byHour(rows.filter((r) => r.chunks > 0))) {
      for (const batch of batches(group, BATCH)) {
        const wanted = new Map(batch.map((r) => [seriesId(r, r.writer), r]));
        for (const rec of await fluxQuery(this.target, chunksOfRowsFlux(this.target.bucket, hourSec, batch))) {
          const chunk = chunkFromRecord(rec);
          const id = seriesId(chunk, chunk.writer);
          const row = wanted.get(id);
          // chunks past the row's count (a crash between two requests of a write) are not its own
          if (row === undefined || chunk.chunk >= row.chunks) continue;
          const list = found.get(id);
          if (list === undefined) found.set(id, [chunk]);
          else list.push(chunk);
        }
      }
    }
    return rows.flatMap((r) => (found.get(seriesId(r, r.writer)) ?? []).sort((a, b) => a.chunk - b.chunk));
  }

  async rowsOf(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]> {
    const found = new Map<string, RollupRow>();
    for (const [hourSec, group] of byHour(keys)) {
      for (const batch of batches(group, BATCH)) {
        for (const rec of await fluxQuery(this.target, rowsOfKeysFlux(this.target.bucket, hourSec, batch, writer))) {
          const row = rowFromRecord(rec);
          found.set(seriesId(row, writer), row);
        }
      }
    }
    return keys.map((k) => found.get(seriesId(k, writer)));
  }

  async lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined> {
    const [rec] = await fluxQuery(this.target, lastGaugeFlux(this.target.bucket, name, tags, beforeHourSec));
    return rec === undefined ? undefined : Number(rec.last);
  }

  async rowsOfDay(name: string, dayStartSec: number): Promise<RollupRow[]> {
    return (await fluxQuery(this.target, rowsOfNameDayFlux(this.target.bucket, name, dayStartSec))).map(rowFromRecord);
  }

  async keys(prefix: string, limit: number): Promise<StoredKey[]> {
    const stored = (await fluxQuery(this.target, namesFlux(this.target.bucket, prefix, limit))).map((r) => String(r._value));
    const types = new Map<string, MetricType[]>();
    for (const batch of batches(stored, BATCH)) {
      for (const rec of await fluxQuery(this.target, typesOfNamesFlux(this.target.bucket, batch))) {
        const name = String(rec.name);
        const list = types.get(name) ?? [];
        list.push(decodeTagValue(String(rec.type)) as MetricType);
        types.set(name, list);
      }
    }
    return stored.map((name) => ({ name: decodeTagValue(name), types: types.get(name) ?? [] }));
  }

  async rowCount(hourSec: number, writer: string): Promise<number> {
    const [rec] = await fluxQuery(this.target, rowCountFlux(this.target.bucket, hourSec, writer));
    return rec === undefined ? 0 : Number(rec._value);
  }

  async watermark(writer: string): Promise<number> {
    const [rec] = await fluxQuery(this.target, watermarkFlux(this.target.bucket, writer));
    return rec === undefined ? 0 : Number(rec._value);
  }

  async close(): Promise<void> {}
}

export function openInfluxReader(config: InfluxSettings): InfluxReads {
  return config.api === 'v1' ? new InfluxQlReader(v1Target(config)) : new FluxReader(v2Target(config));
}
