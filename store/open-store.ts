/** The one place that opens the configured store: InfluxDB when INFLUX_URL is set, else SQLite under DATA_DIR. */
import type { Clock } from '../core/index.js';
import type { InfluxSettings } from './influx-http.js';
import { openInfluxReader } from './influx-reader.js';
import { openInfluxStore } from './influx-store.js';
import type { RollupReader, RollupStore } from './schema.js';
import { SqliteReader, SqliteStore, openDatabase } from './sqlite-store.js';

export interface StoreSettings {
  readonly dataDir: string;
  readonly influx: InfluxSettings | undefined;
}

/** The store a rollup writes to. */
export function openStore(settings: StoreSettings, clock: Clock): RollupStore {
  return settings.influx !== undefined ? openInfluxStore(settings.influx, clock) : new SqliteStore(openDatabase(settings.dataDir));
}

/** The store the query service reads (its own connection: SQLite's WAL lets it read beside the writer). */
export function openReader(settings: StoreSettings): RollupReader {
  return settings.influx !== undefined ? openInfluxReader(settings.influx) : new SqliteReader(openDatabase(settings.dataDir));
}
