/**
 * Reads the InfluxDB store (schema: rollup/influx-line-protocol.ts), for the query service and
 * for the rollup's InfluxStore (rows to continue from, set members, gauge carry-over): InfluxQL
 * over the 1.x /query API (INFLUX_API=v1, also InfluxDB 3's v1 API), Flux over /api/v2/query
 * (INFLUX_API=v2).
 *
 * Values are InfluxQL bound parameters (`params`) or Flux literals escaped by the client's flux
 * template (query/flux.ts); statement text never holds a value. Every request, reads and the
 * store's writes alike, goes through exchange(): one fetch with a REQUEST_TIMEOUT_MS deadline
 * for the whole answer, so the query API can answer 503 within SPEC §4's 5 s. Flux goes through
 * the same fetch rather than the client's QueryApi, whose timeout is per socket read, not per
 * request; the client still parses the annotated CSV.
 */
import { linesToTables, stringToLines, type ParameterizedQuery } from '@influxdata/influxdb-client';
import { SECONDS_PER_HOUR } from '../gateway/index.js';
import type { InfluxConfig } from '../runtime/config.js';
import type { MetricType } from '../gateway/index.js';
import { StoreRejectedError, StoreUnavailableError, type RawChunk, type RollupReader, type RollupRow, type SeriesKey, type StoredKey } from '../rollup/schema.js';
import {
  RAW_MEASUREMENT,
  ROLLUP_MEASUREMENT,
  WATERMARK_MEASUREMENT,
  chunkFromRecord,
  decodeTagValue,
  encodeTagValue,
  parseRfc3339,
  rfc3339Ns,
  rowFromRecord,
  type PointRecord,
} from '../rollup/influx-line-protocol.js';
import { chunksOfRowsFlux, lastGaugeFlux, namesFlux, rowsOfKeysFlux, rowsOfNameDayFlux, rowsOfNameHourFlux, typesOfNamesFlux, watermarkFlux } from './flux.js';

/** A deadline for one request, answer included. */
const REQUEST_TIMEOUT_MS = 4000;
/** InfluxQL statements per request, and series per Flux query. */
const BATCH = 100;
/** Status codes that refuse the request itself: sending it again cannot help. */
const REJECTING_STATUSES = new Set([400, 413, 422]);

// InfluxDB refusing a request as invalid (a bad point, a bad query) is StoreRejectedError:
// retrying cannot help, so the caller dead-letters it. Authentication and a missing database or
// bucket are StoreUnavailableError instead: they heal once an operator fixes them, and no data
// is dropped meanwhile.

export interface V1Target {
  readonly url: string;
  readonly database: string;
  readonly token: string | undefined;
}

export interface V2Target {
  readonly url: string;
  readonly org: string;
  readonly bucket: string;
  readonly token: string;
}

function required(config: InfluxConfig, key: 'database' | 'org' | 'bucket' | 'token'): string {
  const value = config[key];
  if (value === undefined) throw new Error(`InfluxDB ${config.api} needs ${key}`);
  return value;
}

export const v1Target = (config: InfluxConfig): V1Target => ({ url: config.url, database: required(config, 'database'), token: config.token });

export const v2Target = (config: InfluxConfig): V2Target => ({
  url: config.url,
  org: required(config, 'org'),
  bucket: required(config, 'bucket'),
  token: required(config, 'token'),
});

/** `base` + `path` with query parameters; `base` may carry a path prefix (a proxy). */
export function endpoint(base: string, path: string, query: Record<string, string>): URL {
  const url = new URL(`${base.replace(/\/+$/, '')}${path}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

export const authorization = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { authorization: `Token ${token}` });

export interface Answer {
  readonly status: number;
  readonly body: string;
}

const excerpt = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}...` : text);

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return err.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : `${err.message}${typeof code === 'string' ? ` (${code})` : ''}`;
}

/** One POST; a network failure or a missed deadline is StoreUnavailableError. */
export async function exchange(url: URL, headers: Record<string, string>, body: string, what: string): Promise<Answer> {
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    throw new StoreUnavailableError(`InfluxDB ${what} at ${url.origin} failed: ${describe(err)}`, { cause: err });
  }
}

/** The body of a 2xx answer; otherwise StoreRejectedError or StoreUnavailableError (429, 5xx, auth, not found). */
export function accepted(answer: Answer, what: string): string {
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  const message = `InfluxDB refused the ${what} (HTTP ${answer.status}): ${excerpt(answer.body)}`;
  if (REJECTING_STATUSES.has(answer.status)) throw new StoreRejectedError(message);
  throw new StoreUnavailableError(message);
}

interface InfluxQlResponse {
  error?: string;
  results?: {
    error?: string;
    partial?: boolean;
    series?: { tags?: Record<string, string>; columns: string[]; values?: unknown[][]; partial?: boolean }[];
  }[];
}

/** Runs InfluxQL statements (joined by `;`) with bound parameters: the records of each statement. */
export async function influxQl(target: V1Target, statements: readonly string[], params: Record<string, unknown>): Promise<PointRecord[][]> {
  const what = 'InfluxQL query';
  const url = endpoint(target.url, '/query', { db: target.database });
  const form = new URLSearchParams({ q: statements.join(';\n'), params: JSON.stringify(params) }).toString();
  const body = accepted(await exchange(url, { 'content-type': 'application/x-www-form-urlencoded', ...authorization(target.token) }, form, what), what);
  const response = JSON.parse(body) as InfluxQlResponse;
  const results = response.results ?? [];
  // influxd stops at the first failing statement and answers for that one only
  const failed = results.find((r) => r.error !== undefined)?.error ?? response.error;
  // InfluxStore creates the database at its start: until then, nothing is stored
  if (failed?.startsWith('database not found')) return statements.map(() => []);
  if (failed !== undefined || results.length !== statements.length) throw new StoreRejectedError(`InfluxDB refused the ${what}: ${failed ?? 'missing results'}`);
  return results.map((result) => {
    const records: PointRecord[] = [];
    for (const s of result.series ?? []) {
      if (result.partial || s.partial) throw new StoreRejectedError('InfluxDB truncated the answer: raise [http] max-row-limit');
      for (const values of s.values ?? []) {
        const rec: Record<string, unknown> = { ...s.tags };
        for (let i = 0; i < s.columns.length; i++) rec[s.columns[i]] = values[i];
        records.push(rec);
      }
    }
    return records;
  });
}

/** Runs a Flux query: its records, `_time` also as `time`. */
async function fluxQuery(target: V2Target, query: ParameterizedQuery): Promise<PointRecord[]> {
  const what = 'Flux query';
  const url = endpoint(target.url, '/api/v2/query', { org: target.org });
  const request = JSON.stringify({
    query: query.toString(),
    type: 'flux',
    dialect: { header: true, delimiter: ',', annotations: ['datatype', 'group', 'default'], dateTimeFormat: 'RFC3339Nano' },
  });
  const headers = { 'content-type': 'application/json', accept: 'application/csv', ...authorization(target.token) };
  const csv = accepted(await exchange(url, headers, request, what), what);
  const records: PointRecord[] = [];
  let failure: string | undefined;
  stringToLines(
    csv,
    linesToTables({
      next(values, meta) {
        const rec = meta.toObject(values);
        // a query that fails after the answer started sends an error table instead
        if ('error' in rec && 'reference' in rec) failure ??= String(rec.error);
        else records.push({ ...rec, time: rec._time });
      },
      error(err) {
        failure ??= err.message;
      },
      complete() {},
    }),
  );
  if (failure !== undefined) throw new StoreRejectedError(`InfluxDB could not run the ${what}: ${failure}`);
  return records;
}

/** Reads of the rollup's store beside those of the query service. */
export interface InfluxReads extends RollupReader {
  /** The rows of these series-hours for this writer (undefined where none). */
  rowsOf(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]>;
  /** The value of a gauge after its last update before `beforeHourSec`, if any. */
  lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined>;
  /** The writer's last written watermark; 0 when none. */
  watermark(writer: string): Promise<number>;
}

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
      end: rfc3339Ns(dayStartSec + 24 * SECONDS_PER_HOUR),
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

  async watermark(writer: string): Promise<number> {
    const [rec] = await fluxQuery(this.target, watermarkFlux(this.target.bucket, writer));
    return rec === undefined ? 0 : Number(rec._value);
  }

  async close(): Promise<void> {}
}

export function openInfluxReader(config: InfluxConfig): InfluxReads {
  return config.api === 'v1' ? new InfluxQlReader(v1Target(config)) : new FluxReader(v2Target(config));
}
