/**
 * The distributed store: InfluxDB, with the schema of schema.ts encoded by influx-line-protocol.ts.
 * Writes are line protocol POSTed to /write (INFLUX_API=v1: InfluxDB 1.x, and 3.x's v1 API) or
 * /api/v2/write (v2); reads go through influx-reader.ts.
 *
 * Both APIs POST line protocol themselves rather than use the client's WriteApi, which batches,
 * retries and flushes on its own schedule: here each write() must end with an outcome the rollup
 * acts on at once. StoreUnavailableError (network, deadline, 429, 5xx, authentication, missing
 * bucket) means retry the flush later without acking; StoreRejectedError (400, 413, 422: the
 * points were refused) means dead-letter them.
 *
 * InfluxDB has no transactions. A write is split into bodies of at most MAX_BODY_BYTES and sent
 * in order, chunks before rows, so a stored row never counts a missing chunk; the watermark goes
 * alone once all of them are stored. A write that fails half way is repeated whole at the next
 * flush and overwrites what got through; a chunk beyond its row's count, left by a crash between
 * two requests, is ignored by readers and overwritten by the next chunk with that number.
 */
import { hourStartSec, systemClock, type Clock } from '../core/index.js';
import { accepted, authorization, endpoint, exchange, influxQl, v1Target, v2Target, type InfluxSettings, type V1Target, type V2Target } from './influx-http.js';
import { FluxReader, InfluxQlReader, type InfluxReads } from './influx-reader.js';
import { RAW_MEASUREMENT, ROLLUP_MEASUREMENT, STATS_MEASUREMENT, chunkLine, rfc3339Ns, rowLine, statsLine, watermarkLine } from './influx-line-protocol.js';
import type { RawChunk, RollupRow, RollupStore, SeriesKey, StatsRow, Watermark, WriterClaim } from './schema.js';

/**
 * One request's share of a write: InfluxData's recommended batch of 5,000 points, and well under
 * influxd 1.x's default max-body-size (25 MB). Each request has its own deadline (influx-http.ts):
 * a 4 MB body of 16,000 new series (the first flush of 10,000 new keys) outlasted it on a busy
 * machine at every retry, so the flush never got through.
 */
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_BODY_LINES = 5000;
const LINE_PROTOCOL = { 'content-type': 'text/plain; charset=utf-8' };

/** Lines joined into bodies of at most `maxBytes` and `maxLines` (a longer line goes alone). */
export function bodies(lines: readonly string[], maxBytes = MAX_BODY_BYTES, maxLines = MAX_BODY_LINES): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (current.length > 0 && (bytes + size > maxBytes || current.length === maxLines)) {
      out.push(current.join('\n'));
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += size;
  }
  if (current.length > 0) out.push(current.join('\n'));
  return out;
}

/** Sends one body of line protocol. */
type PostLines = (body: string) => Promise<void>;

/** v1: POST /write. */
function postV1(target: V1Target): PostLines {
  const url = endpoint(target.url, '/write', { db: target.database, precision: 'ns' });
  const headers = { ...LINE_PROTOCOL, ...authorization(target.token) };
  return async (body) => {
    accepted(await exchange(url, headers, body, 'write'), 'write');
  };
}

/**
 * v1: creates the database if it is missing, once, before the store's first request. influxd 1.x
 * creates none on write, and the rollup reads before it writes: with several statements, a
 * missing database answers "not executed", which says nothing. SHOW first, so a database made
 * beforehand (InfluxDB 3) needs no CREATE. The name is bound as an identifier, never spliced.
 */
function v1Database(target: V1Target): () => Promise<void> {
  let ready: Promise<void> | undefined;
  const create = async () => {
    const [databases] = await influxQl(target, ['SHOW DATABASES'], {});
    if (!databases.some((d) => d.name === target.database)) await influxQl(target, ['CREATE DATABASE $database'], { database: { identifier: target.database } });
  };
  return () =>
    (ready ??= create().catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));
}

/** v2: POST /api/v2/write to the bucket. */
function postV2(target: V2Target): PostLines {
  const url = endpoint(target.url, '/api/v2/write', { org: target.org, bucket: target.bucket, precision: 'ns' });
  const headers = { ...LINE_PROTOCOL, ...authorization(target.token) };
  return async (body) => {
    accepted(await exchange(url, headers, body, 'write'), 'write');
  };
}

/** Deletes the points of `rollup`, `rollup_raw` and `rollup_stats` in [fromSec, toSec), every writer (RollupStore.deleteHours). */
type DeleteHours = (fromSec: number, toSec: number) => Promise<void>;

/**
 * v1: InfluxQL DELETE by time range, the bounds bound as parameters (RFC 3339 strings, which
 * InfluxQL compares with time). A raw chunk's time is its hour start plus its number in
 * nanoseconds, so it falls in its hour.
 */
function deleteV1(target: V1Target): DeleteHours {
  return async (fromSec, toSec) => {
    const statements = [ROLLUP_MEASUREMENT, RAW_MEASUREMENT, STATS_MEASUREMENT].map((m) => `DELETE FROM "${m}" WHERE time >= $from AND time < $to`);
    await influxQl(target, statements, { from: rfc3339Ns(fromSec), to: rfc3339Ns(toSec) });
  };
}

/** A string literal of the delete predicate syntax: double quotes, with `\` and `"` escaped. */
export const deletePredicateString = (value: string) => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/**
 * v2: POST /api/v2/delete, once per measurement (the predicate syntax has no OR). Its `stop` is
 * inclusive, so it is the last nanosecond before `toSec`.
 */
export function deleteV2Requests(fromSec: number, toSec: number): { start: string; stop: string; predicate: string }[] {
  return [ROLLUP_MEASUREMENT, RAW_MEASUREMENT, STATS_MEASUREMENT].map((m) => ({ start: rfc3339Ns(fromSec), stop: rfc3339Ns(toSec - 1, 999_999_999), predicate: `_measurement=${deletePredicateString(m)}` }));
}

function deleteV2(target: V2Target): DeleteHours {
  const url = endpoint(target.url, '/api/v2/delete', { org: target.org, bucket: target.bucket });
  const headers = { 'content-type': 'application/json', ...authorization(target.token) };
  return async (fromSec, toSec) => {
    for (const request of deleteV2Requests(fromSec, toSec)) accepted(await exchange(url, headers, JSON.stringify(request), 'delete'), 'delete');
  };
}

export class InfluxStore implements RollupStore {
  constructor(
    private readonly reads: InfluxReads,
    private readonly post: PostLines,
    /** Before each request: makes sure the database exists (v1). */
    private readonly prepare: () => Promise<void>,
    /** Dates watermark points (see influx-line-protocol.ts). */
    private readonly clock: Clock = systemClock,
    private readonly eraseHours: DeleteHours = async () => {
      throw new Error('this InfluxStore cannot delete');
    },
  ) {}

  async loadRows(keys: readonly SeriesKey[], writer: string): Promise<(RollupRow | undefined)[]> {
    await this.prepare();
    return this.reads.rowsOf(keys, writer);
  }

  async loadNameHour(name: string, hourSec: number, writer: string): Promise<RollupRow[]> {
    await this.prepare();
    return (await this.reads.rows(name, hourSec)).filter((r) => r.writer === writer);
  }

  async loadChunks(rows: readonly RollupRow[]): Promise<RawChunk[]> {
    await this.prepare();
    return this.reads.chunks(rows);
  }

  async loadMembers(row: RollupRow): Promise<string[]> {
    await this.prepare();
    return (await this.reads.chunks([row])).flatMap((c) => c.members ?? []);
  }

  async lastGauge(name: string, tags: string, beforeHourSec: number): Promise<number | undefined> {
    await this.prepare();
    return this.reads.lastGauge(name, tags, beforeHourSec);
  }

  async countRows(hourSec: number, writer: string): Promise<number> {
    await this.prepare();
    return this.reads.rowCount(hourSec, writer);
  }

  /** Idempotency keys are not kept here: in the distributed setup they are JetStream message ids (schema.ts). */
  async write(rows: readonly RollupRow[], chunks: readonly RawChunk[], watermark?: Watermark, _keys?: readonly string[], stats: readonly StatsRow[] = []): Promise<void> {
    await this.prepare();
    const lines = chunks.map(chunkLine);
    for (const r of rows) lines.push(rowLine(r));
    // after the rows: statistics never describe a row that is not stored yet
    for (const s of stats) lines.push(statsLine(s));
    for (const body of bodies(lines)) await this.post(body);
    if (watermark !== undefined) await this.post(watermarkLine(watermark, hourStartSec(this.clock.nowMs() / 1000)));
  }

  async loadWatermark(writer: string): Promise<number> {
    await this.prepare();
    return this.reads.watermark(writer);
  }

  /**
   * No epoch: InfluxDB has no transaction in which to compare one before writing, so it cannot
   * refuse a superseded owner. The rollup workers' time fence (bus/lease-plan.ts) covers it.
   */
  async claimWriter(writer: string): Promise<WriterClaim> {
    return { seq: await this.loadWatermark(writer), epoch: 0 };
  }

  async deleteHours(fromSec: number, toSec: number): Promise<void> {
    await this.prepare();
    await this.eraseHours(fromSec, toSec);
  }

  close(): Promise<void> {
    return this.reads.close();
  }
}

export function openInfluxStore(config: InfluxSettings, clock: Clock = systemClock): InfluxStore {
  if (config.api === 'v1') {
    const target = v1Target(config);
    return new InfluxStore(new InfluxQlReader(target), postV1(target), v1Database(target), clock, deleteV1(target));
  }
  const target = v2Target(config);
  // a bucket is made by its owner, with its retention: a missing one is StoreUnavailableError
  return new InfluxStore(new FluxReader(target), postV2(target), async () => {}, clock, deleteV2(target));
}
