/**
 * The query API (SPEC §4, §4.1): GET /<key>/<stat_type>/<date>/<hour>, the day form
 * /<key>/<stat_type>/<date>, GET /-/keys, and the web page at GET / (query/web/), over the
 * store's reader only.
 *
 * Built by a function and listened on elsewhere (runtime/ adds /metrics, /healthz and, in the
 * all role, the ingest routes to the same app), so tests use app.inject(). Every parameter is
 * validated as a string with explicit rules: no schema coercion, which would take `1e1`, `0x0A`,
 * `13.0` or `-0` for an hour.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { METRIC_TYPES, RETRY_AFTER_SEC, SECONDS_PER_DAY, SECONDS_PER_HOUR, fail, hourEndMs, installProblemHandlers, problem, sendProblem, type Clock, type MetricType } from '../core/index.js';
import { StoreUnavailableError, type RawChunk, type RollupReader, type RollupRow, type StatsRow } from '../store/index.js';
import type { QueryMetrics } from './metrics.js';
import { BUCKET_UNKNOWN_STATS, FAMILY_OF, STATS, computeStatistic, isBucketRow, isQuantile, rowsAreExact, type Stat, type Statistic } from './statistics.js';
import { registerWebPage } from './web/index.js';

export interface QueryAppOptions {
  readonly reader: RollupReader;
  readonly clock: Clock;
  readonly metrics: QueryMetrics;
  readonly flushIntervalMs: number;
  readonly maxKeyBytes: number;
}

/** What the query API serves, for the not-found answer. */
export const QUERY_API_HINT = 'the query API is GET /<key>/<stat_type>/<YYYY-MM-DD>/<hour>, GET /<key>/<stat_type>/<YYYY-MM-DD> and GET /-/keys; the web page is GET /';
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const HOUR = /^\d{1,2}$/;
const QUERY_PARAMS = ['tag', 'type'];
const KEYS_PARAMS = ['prefix', 'limit'];
/** GET /-/keys: names per answer by default, and at most (SPEC §4.1); a bound on one answer's size. */
export const KEYS_DEFAULT_LIMIT = 1000;
export const KEYS_MAX_LIMIT = 10_000;

interface Params {
  key: string;
  stat: string;
  date: string;
  hour: string;
}

function validateKey(key: string, maxKeyBytes: number): void {
  const why = `key must be a metric name: 1 to ${maxKeyBytes} bytes, without '|' or control characters`;
  if (key.length === 0 || Buffer.byteLength(key) > maxKeyBytes) fail('HG_INVALID_KEY', why);
  if (!isNameText(key)) fail('HG_INVALID_KEY', why);
}

/**
 * No '|' or control characters. ':' is allowed: no StatsD name holds one, but Prometheus names
 * sent by remote write do (recording rules: `job:http_requests:rate5m`), and they must be queryable.
 */
function isNameText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 || c === 127 || c === 124) return false;
  }
  return true;
}

function validateStat(stat: string): Stat {
  if (!(STATS as readonly string[]).includes(stat)) fail('HG_INVALID_STAT', `stat_type ${JSON.stringify(stat)} is not one of ${STATS.join(', ')}`);
  return stat as Stat;
}

/** A real calendar date within the store's range: returns the Unix seconds of its midnight. */
function validateDate(date: string): number {
  const m = DATE.exec(date);
  const why = `date ${JSON.stringify(date)} must be a calendar date written YYYY-MM-DD, from 1970-01-01 to 2105-12-31`;
  if (!m) return fail('HG_INVALID_DATE', why);
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(year, month - 1, day);
  const d = new Date(ms);
  if (year < 1970 || year > 2105 || d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) fail('HG_INVALID_DATE', why);
  return ms / 1000;
}

function validateHour(hour: string): number {
  if (!HOUR.test(hour) || Number(hour) > 23) fail('HG_INVALID_HOUR', `hour ${JSON.stringify(hour)} must be a whole number from 0 to 23 (UTC), such as 7 or 07`);
  return Number(hour);
}

interface Filters {
  tags: string[];
  type: MetricType | undefined;
}

function validateQuery(query: Record<string, unknown>): Filters {
  for (const name of Object.keys(query)) {
    if (!QUERY_PARAMS.includes(name)) fail('HG_INVALID_QUERY', `unknown query parameter ${JSON.stringify(name)}; allowed: tag (repeatable, k:v), type (${METRIC_TYPES.join(', ')})`);
  }
  const rawTags = query.tag === undefined ? [] : Array.isArray(query.tag) ? query.tag : [query.tag];
  const tags = rawTags.map(String);
  for (const t of tags) {
    if (t.length === 0 || /[,|\u0000-\u001f\u007f]/.test(t)) fail('HG_INVALID_QUERY', `tag ${JSON.stringify(t)} must be a DogStatsD tag such as env:prod, without ',', '|' or control characters`);
  }
  let type: MetricType | undefined;
  if (query.type !== undefined) {
    if (Array.isArray(query.type) || !(METRIC_TYPES as readonly string[]).includes(String(query.type))) {
      fail('HG_INVALID_QUERY', `type must be one of ${METRIC_TYPES.join(', ')}`);
    }
    type = query.type as MetricType;
  }
  return { tags, type };
}

/** The rows of a name-hour that carry every requested tag and the requested type. */
function selectRows(rows: readonly RollupRow[], filters: Filters): RollupRow[] {
  return rows.filter((r) => {
    if (filters.type !== undefined && r.type !== filters.type) return false;
    if (filters.tags.length === 0) return true;
    const own = r.tags.split(',');
    return filters.tags.every((t) => own.includes(t));
  });
}

export function buildQueryApp(options: QueryAppOptions): FastifyInstance {
  const { reader, metrics, maxKeyBytes } = options;
  const app = Fastify({
    logger: false,
    // a percent-encoded key may be three times its length
    routerOptions: { maxParamLength: 3 * maxKeyBytes + 16 },
    // errors raised before routing (a malformed percent-encoding...) get problem+json too
    frameworkErrors: (err, _request, reply) => sendProblem(reply, problem('HG_BAD_REQUEST', err.message)),
  });
  installProblemHandlers(app, QUERY_API_HINT);

  app.addHook('onResponse', async (request, reply) => {
    const stat = (request as { hgStat?: string }).hgStat;
    if (stat !== undefined) metrics.queryDuration.observe({ stat, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  registerQueryRoute(app, reader, options);
  const notAllowed = async (_request: unknown, reply: FastifyReply) =>
    sendProblem(reply, problem('HG_METHOD_NOT_ALLOWED', 'the query API answers GET and HEAD only'));
  registerDayRoute(app, reader, options);
  registerKeysRoute(app, reader, options);
  // the page for people, wherever the API is (the query and all roles)
  registerWebPage(app, { clock: options.clock, flushIntervalMs: options.flushIntervalMs });
  for (const url of ['/:key/:stat/:date/:hour', '/:key/:stat/:date', '/-/keys', '/']) {
    app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url, handler: notAllowed });
  }
  return app;
}

/** The store could not be read: 503 with Retry-After (SPEC §4). */
async function fromStore<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof StoreUnavailableError) fail('HG_STORE_UNAVAILABLE', `the store did not answer: ${err.message}; retry in ${RETRY_AFTER_SEC} s`);
    throw err;
  }
}

function registerQueryRoute(app: FastifyInstance, reader: RollupReader, options: QueryAppOptions): void {
  const { clock, flushIntervalMs, maxKeyBytes } = options;
  app.get<{ Params: Params; Querystring: Record<string, unknown> }>('/:key/:stat/:date/:hour', async (request) => {
    const { key, stat: rawStat, date, hour: rawHour } = request.params;
    (request as { hgStat?: string }).hgStat = (STATS as readonly string[]).includes(rawStat) ? rawStat : 'invalid';
    validateKey(key, maxKeyBytes);
    const stat = validateStat(rawStat);
    const dayStartSec = validateDate(date);
    const hour = validateHour(rawHour);
    const filters = validateQuery(request.query);
    const hourSec = dayStartSec + hour * SECONDS_PER_HOUR;

    const rows = selectRows(await fromStore(reader.rows(key, hourSec)), filters);
    if (rows.length === 0) fail('HG_NO_DATA', `no samples of ${JSON.stringify(key)}${filters.tags.length ? ` with tags ${filters.tags.join(',')}` : ''} in ${date} hour ${hour} (UTC)`);
    checkRows(rows, key, stat, 'in that hour');

    const merges = isQuantile(stat) || rows[0].type === 's';
    const stored = merges && reader.stats !== undefined ? fromStatsPoint(stat, rows, filters, await fromStore(reader.stats(key, hourSec))) : undefined;
    const result = stored ?? computeStatistic(stat, rows, merges && rowsAreExact(rows) ? await fromStore(reader.chunks(rows)) : null);
    return {
      key,
      stat,
      date,
      hour,
      value: result.value,
      count: result.count,
      exact: result.exact,
      ...(result.relativeError !== undefined ? { relative_error: result.relativeError } : {}),
      // the hour is over and its last samples have had time to be flushed (SPEC §4)
      complete: clock.nowMs() >= hourEndMs(hourSec) + 2 * flushIntervalMs,
    };
  });
}

/**
 * The answer from the rollup_stats point that stands for exactly these rows, if there is one: one
 * writer's rows, all of a family (no filter) or a single series, and a point whose count and
 * values received match the rows' (so it was written with them: n only grows). Saves reading the
 * raw values and merging sketches; otherwise undefined and the caller merges.
 */
function fromStatsPoint(stat: Stat, rows: readonly RollupRow[], filters: Filters, points: readonly StatsRow[]): Statistic | undefined {
  const writer = rows[0].writer;
  if (rows.some((r) => r.writer !== writer)) return undefined;
  let point: StatsRow | undefined;
  if (rows.length === 1) {
    const r = rows[0];
    point = points.find((p) => p.writer === writer && p.tags === r.tags && p.type === r.type);
  } else if (filters.tags.length === 0 && filters.type === undefined) {
    const family = FAMILY_OF[rows[0].type];
    point = points.find((p) => p.writer === writer && p.tags === null && p.family === family);
  }
  if (point === undefined) return undefined;
  let n = 0;
  let count = 0;
  for (const r of rows) {
    n += r.n;
    count += r.count;
  }
  // a set's rows count their own distinct members, which the merged count does not add up to
  if (point.n !== n || (rows[0].type !== 's' && point.count !== count)) return undefined;
  const value = point[stat];
  if (Number.isNaN(value)) return undefined;
  const exact = isQuantile(stat) || rows[0].type === 's' ? point.exact : true;
  return { value, count: point.count, exact, ...(!exact && Number.isFinite(point.relativeError) ? { relativeError: point.relativeError } : {}) };
}

/** The checks the hourly and day forms share once rows are selected: one family, a stat that applies. */
function checkRows(rows: readonly RollupRow[], key: string, stat: Stat, when: string): void {
  const families = new Set(rows.map((r) => FAMILY_OF[r.type]));
  if (families.size > 1) {
    const types = [...new Set(rows.map((r) => r.type))].join(', ');
    fail('HG_MIXED_TYPES', `${JSON.stringify(key)} has samples of types ${types} ${when}; choose one with ?type=`);
  }
  if (rows[0].type === 's' && stat !== 'count') fail('HG_STAT_NOT_APPLICABLE', `${JSON.stringify(key)} is a set: only count (distinct members) applies`);
  const bucketed = rows.filter(isBucketRow).length;
  if (bucketed > 0 && bucketed < rows.length) {
    fail('HG_MIXED_TYPES', `${JSON.stringify(key)} has both a remote-written histogram (buckets) and samples ${when}; choose one with ?tag=`);
  }
  if (bucketed > 0 && BUCKET_UNKNOWN_STATS.includes(stat)) {
    fail('HG_STAT_NOT_APPLICABLE', `${JSON.stringify(key)} is a Prometheus histogram sent by remote write: its buckets do not give ${stat}; count, sum, average, median and percentiles (estimated) apply`);
  }
}

/**
 * GET /<key>/<stat_type>/<date> (SPEC §4.1): every hour of the day holding data, each computed as
 * the hourly form computes it, from one read of the day's rows plus, where the answer can be
 * exact, one read of those hours' raw chunks (what 24 hourly queries would read, no more).
 */
function registerDayRoute(app: FastifyInstance, reader: RollupReader, options: QueryAppOptions): void {
  const { clock, flushIntervalMs, maxKeyBytes } = options;
  app.get<{ Params: Omit<Params, 'hour'>; Querystring: Record<string, unknown> }>('/:key/:stat/:date', async (request) => {
    const { key, stat: rawStat, date } = request.params;
    (request as { hgStat?: string }).hgStat = (STATS as readonly string[]).includes(rawStat) ? rawStat : 'invalid';
    validateKey(key, maxKeyBytes);
    const stat = validateStat(rawStat);
    const dayStartSec = validateDate(date);
    const filters = validateQuery(request.query);
    const dayEndSec = dayStartSec + SECONDS_PER_DAY;

    const rows = selectRows(await fromStore(reader.rowsOfDay(key, dayStartSec)), filters).filter((r) => r.hourSec >= dayStartSec && r.hourSec < dayEndSec);
    if (rows.length === 0) fail('HG_NO_DATA_IN_DAY', `no samples of ${JSON.stringify(key)}${filters.tags.length ? ` with tags ${filters.tags.join(',')}` : ''} on ${date} (UTC)`);
    checkRows(rows, key, stat, `on ${date}`);

    const byHour = new Map<number, RollupRow[]>();
    for (const r of rows) {
      const group = byHour.get(r.hourSec);
      if (group === undefined) byHour.set(r.hourSec, [r]);
      else group.push(r);
    }
    const wantsChunks = isQuantile(stat) || rows[0].type === 's';
    const exactHours = wantsChunks ? [...byHour.values()].filter(rowsAreExact) : [];
    const chunksByHour = new Map<number, RawChunk[]>();
    if (exactHours.length > 0) {
      for (const c of await fromStore(reader.chunks(exactHours.flat()))) {
        const group = chunksByHour.get(c.hourSec);
        if (group === undefined) chunksByHour.set(c.hourSec, [c]);
        else group.push(c);
      }
    }
    const nowMs = clock.nowMs();
    const hours = [...byHour.keys()]
      .sort((a, b) => a - b)
      .map((hourSec) => {
        const hourRows = byHour.get(hourSec)!;
        const exact = wantsChunks && rowsAreExact(hourRows);
        const result = computeStatistic(stat, hourRows, exact ? (chunksByHour.get(hourSec) ?? []) : null);
        return {
          hour: (hourSec - dayStartSec) / SECONDS_PER_HOUR,
          value: result.value,
          count: result.count,
          exact: result.exact,
          ...(result.relativeError !== undefined ? { relative_error: result.relativeError } : {}),
          // as the hourly form says it (SPEC §4)
          complete: nowMs >= hourEndMs(hourSec) + 2 * flushIntervalMs,
        };
      });
    return { key, stat, date, hours };
  });
}

/** GET /-/keys?prefix=&limit= (SPEC §4.1): the names holding data, sorted, with their types. */
function registerKeysRoute(app: FastifyInstance, reader: RollupReader, options: QueryAppOptions): void {
  const { maxKeyBytes } = options;
  app.get<{ Querystring: Record<string, unknown> }>('/-/keys', async (request) => {
    (request as { hgStat?: string }).hgStat = 'keys';
    const query = request.query;
    for (const name of Object.keys(query)) {
      if (!KEYS_PARAMS.includes(name)) fail('HG_INVALID_QUERY', `unknown query parameter ${JSON.stringify(name)}; allowed: prefix (the start of a name), limit (1 to ${KEYS_MAX_LIMIT})`);
    }
    const { prefix = '', limit: rawLimit } = query;
    if (typeof prefix !== 'string' || Buffer.byteLength(prefix) > maxKeyBytes || !isNameText(prefix)) {
      fail('HG_INVALID_QUERY', `prefix must be given once, at most ${maxKeyBytes} bytes, without '|' or control characters`);
    }
    let limit = KEYS_DEFAULT_LIMIT;
    if (rawLimit !== undefined) {
      if (typeof rawLimit !== 'string' || !/^\d{1,6}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > KEYS_MAX_LIMIT) {
        fail('HG_INVALID_QUERY', `limit must be given once, a whole number from 1 to ${KEYS_MAX_LIMIT} (default ${KEYS_DEFAULT_LIMIT})`);
      }
      limit = Number(rawLimit);
    }
    // one more than asked tells whether there are more
    const found = await fromStore(reader.keys(prefix as string, limit + 1));
    const typeOrder = (t: MetricType) => METRIC_TYPES.indexOf(t);
    return {
      keys: found.slice(0, limit).map((k) => ({ key: k.name, types: [...k.types].sort((a, b) => typeOrder(a) - typeOrder(b)) })),
      truncated: found.length > limit,
    };
  });
}
