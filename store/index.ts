/**
 * store/: the store contract (schema.ts: rows, chunks, watermarks, the reader and writer
 * interfaces, the two errors) and its adapters, SQLite (embedded default) and InfluxDB 1.x/2.x
 * (distributed), opened from the settings in one place.
 */
export { INFLUX_APIS, type InfluxApi, type InfluxSettings } from './influx-http.js';
export { openReader, openStore, type StoreSettings } from './open-store.js';
export {
  EXACT_SAMPLE_LIMIT,
  IDEMPOTENCY_KEEP_MS,
  StoreFencedError,
  StoreRejectedError,
  StoreUnavailableError,
  type RawChunk,
  type RollupReader,
  type RollupRow,
  type RollupStore,
  type SeriesKey,
  type StatsRow,
  type StoredKey,
  type Watermark,
  type WriterClaim,
} from './schema.js';
export { SQLITE_FILE, SqliteReader, SqliteStore, openDatabase } from './sqlite-store.js';
