/**
 * The query API (SPEC §4): GET /<key>/<stat_type>/<date>/<hour>, over the store's reader only.
 *
 * Built by a function and listened on elsewhere (runtime/ adds /metrics, /healthz and, in the
 * all role, the ingest routes to the same app), so tests use app.inject(). Every parameter is
 * validated as a string with explicit rules: no schema coercion, which would take `1e1`, `0x0A`,
 * `13.0` or `-0` for an hour.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { METRIC_TYPES, RETRY_AFTER_SEC, SECONDS_PER_HOUR, fail, hourEndMs, installProblemHandlers, problem, sendProblem, type Clock, type MetricType } from '../core/index.js';
import { StoreUnavailableError, type RollupReader, type RollupRow } from '../store/index.js';
import type { QueryMetrics } from './metrics.js';
import { BUCKET_UNKNOWN_STATS, FAMILY_OF, STATS, computeStatistic, isBucketRow, isQuantile, rowsAreExact, type Stat } from './statistics.js';

export interface QueryAppOptions {
  readonly reader: RollupReader;
  readonly clock: Clock;
  readonly metrics: QueryMetrics;
  readonly flushIntervalMs: number;
  readonly maxKeyBytes: number;
}

/** What the query API serves, for the not-found answer. */
export const QUERY_API_HINT = 'the query API is GET /<key>/<stat_type>/<YYYY-MM-DD>/<hour>';
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const HOUR = /^\d{1,2}$/;
const QUERY_PARAMS = ['tag', 'type'];

interface Params {
  key: string;
  stat: string;
  date: string;
  hour: string;
}

function validateKey(key: string, maxKeyBytes: number): void {
  const why = `key must be a StatsD metric name: 1 to ${maxKeyBytes} bytes, without ':', '|' or control characters`;
  if (key.length === 0 || Buffer.byteLength(key) > maxKeyBytes) fail('HG_INVALID_KEY', why);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 32 || c === 127 || c === 58 || c === 124) fail('HG_INVALID_KEY', why);
  }
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
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/:key/:stat/:date/:hour', handler: notAllowed });
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
    const families = [...new Set(rows.map((r) => FAMILY_OF[r.type]))];
    if (families.length > 1) {
      const types = [...new Set(rows.map((r) => r.type))].join(', ');
      fail('HG_MIXED_TYPES', `${JSON.stringify(key)} has samples of types ${types} in that hour; choose one with ?type=`);
    }
    if (rows[0].type === 's' && stat !== 'count') fail('HG_STAT_NOT_APPLICABLE', `${JSON.stringify(key)} is a set: only count (distinct members) applies`);
    const bucketed = rows.filter(isBucketRow).length;
    if (bucketed > 0 && bucketed < rows.length) {
      fail('HG_MIXED_TYPES', `${JSON.stringify(key)} has both a remote-written histogram (buckets) and samples in that hour; choose one with ?tag=`);
    }
    if (bucketed > 0 && BUCKET_UNKNOWN_STATS.includes(stat)) {
      fail('HG_STAT_NOT_APPLICABLE', `${JSON.stringify(key)} is a Prometheus histogram sent by remote write: its buckets do not give ${stat}; count, sum, average, median and percentiles (estimated) apply`);
    }

    const needsChunks = (isQuantile(stat) || rows[0].type === 's') && rowsAreExact(rows);
    const result = computeStatistic(stat, rows, needsChunks ? await fromStore(reader.chunks(rows)) : null);
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

