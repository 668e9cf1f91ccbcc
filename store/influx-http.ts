/**
 * The InfluxDB transport shared by the store's reader and writer: targets from the settings, one
 * POST with a deadline for the whole answer (so the query API can answer 503 within SPEC §4's
 * 5 s), the mapping of answers to StoreRejectedError / StoreUnavailableError, InfluxQL with bound
 * parameters and Flux through the same fetch (the client's QueryApi times out per socket read,
 * not per request; the client still parses the annotated CSV).
 */
import { linesToTables, stringToLines, type ParameterizedQuery } from '@influxdata/influxdb-client';
import { StoreRejectedError, StoreUnavailableError } from './schema.js';
import type { PointRecord } from './influx-line-protocol.js';

export const INFLUX_APIS = ['v2', 'v1'] as const;
export type InfluxApi = (typeof INFLUX_APIS)[number];

/** The InfluxDB target (INFLUX_* settings). */
export interface InfluxSettings {
  readonly url: string;
  readonly api: InfluxApi;
  readonly token: string | undefined;
  readonly org: string | undefined;
  readonly bucket: string | undefined;
  readonly database: string | undefined;
}

/** A deadline for one request, answer included. */
const REQUEST_TIMEOUT_MS = 4000;
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

function required(config: InfluxSettings, key: 'database' | 'org' | 'bucket' | 'token'): string {
  const value = config[key];
  if (value === undefined) throw new Error(`InfluxDB ${config.api} needs ${key}`);
  return value;
}

export const v1Target = (config: InfluxSettings): V1Target => ({ url: config.url, database: required(config, 'database'), token: config.token });

export const v2Target = (config: InfluxSettings): V2Target => ({
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
export async function fluxQuery(target: V2Target, query: ParameterizedQuery): Promise<PointRecord[]> {
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

