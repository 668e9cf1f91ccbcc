/**
 * The embedded default (`npm start`, role `all` without NATS_URL): gateway, in-process bus,
 * rollup and query in one process, with the SQLite store under DATA_DIR.
 */
import type { FastifyInstance } from 'fastify';
import { Gateway, gatewayOptions } from '../gateway/gateway.js';
import { buildQueryApp } from '../query/app.js';
import { Rollup } from '../rollup/rollup.js';
import { RollupService } from '../rollup/rollup-service.js';
import { SqliteReader, SqliteStore, openDatabase } from '../rollup/sqlite-store.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { DirectBus, ThreadBus, recordFlush, type InProcessBus } from './in-process-bus.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, readUdpKernelDrops } from './metrics.js';
import { expositionListener } from './exposition-listener.js';

export interface StartOptions {
  readonly config: Config;
  readonly clock?: Clock;
  /** Run the rollup in a worker thread (default, needs the built dist/) or on the main thread (tests). */
  readonly rollupThread?: boolean;
  readonly logger?: Logger;
}

export interface RunningHourglass {
  readonly statsdPort: number;
  readonly httpPort: number;
  /** The statsd_exporter-style exposition's port; undefined when PROMETHEUS_ADDRESS is off. */
  readonly prometheusPort: number | undefined;
  /** Re-reads STATSD_MAPPING_CONFIG (SIGHUP); a bad file keeps the old mapping. True when swapped. */
  reloadMapping(): boolean;
  /** Hands the current batch on and writes every pending rollup to the store. */
  flush(): Promise<void>;
  /** Stops listening, flushes, closes the store. */
  close(): Promise<void>;
}

const EMBEDDED_WRITER = 'embedded';

export async function startEmbedded(options: StartOptions): Promise<RunningHourglass> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const onFlushed = recordFlush(metrics, logger.child({ component: 'rollup' }));

  let bus: InProcessBus;
  let directStore: SqliteStore | undefined;
  if (options.rollupThread ?? true) {
    bus = new ThreadBus({ dataDir: config.dataDir, flushIntervalMs: config.flushIntervalMs, writer: EMBEDDED_WRITER }, onFlushed, clock, metrics, logger.child({ component: 'bus' }));
  } else {
    directStore = new SqliteStore(openDatabase(config.dataDir));
    const rollup = new Rollup({ store: directStore, writer: EMBEDDED_WRITER, clock });
    bus = new DirectBus(new RollupService(rollup, config.flushIntervalMs, onFlushed), clock, metrics, logger.child({ component: 'bus' }));
  }

  const prometheus = expositionListener(config, metrics.registry, clock, logger);
  const gateway = new Gateway(gatewayOptions(config, { clock, publisher: bus, metrics, logger: logger.child({ component: 'gateway' }), alsoTo: prometheus.exposition }));


  // Queries read through their own connection: WAL lets them run beside the rollup's writes.
  const reader = new SqliteReader(openDatabase(config.dataDir));
  let closing = false;
  const app: FastifyInstance = buildQueryApp({
    reader,
    clock,
    metrics,
    flushIntervalMs: config.flushIntervalMs,
    maxKeyBytes: config.maxLineBytes,
    beforeScrape: () => gateway.syncMetrics(readUdpKernelDrops()),
    healthy: () => !closing && !(bus instanceof ThreadBus && bus.failed !== undefined),
  });

  let statsdPort: number;
  let prometheusPort: number | undefined;
  try {
    statsdPort = await gateway.start();
    await app.listen({ host: config.httpAddress.host, port: config.httpAddress.port });
    prometheusPort = await prometheus.listen();
  } catch (err) {
    await prometheus.close().catch(() => undefined);
    await app.close().catch(() => undefined);
    await gateway.close().catch(() => undefined);
    await bus.close().catch(() => undefined);
    await reader.close();
    throw err;
  }
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpAddress.port;
  logger.info({ statsd: `${config.statsdAddress.host}:${statsdPort}`, http: `${config.httpAddress.host}:${httpPort}`, prometheus: prometheusPort === undefined ? 'off' : `${config.prometheusAddress?.host}:${prometheusPort}`, dataDir: config.dataDir }, 'hourglass listening');

  return {
    statsdPort,
    httpPort,
    prometheusPort,
    reloadMapping: () => prometheus.reloadMapping(),
    async flush() {
      gateway.flush(true);
      await bus.flush();
    },
    async close() {
      closing = true;
      await gateway.close();
      await bus.close();
      gateway.syncMetrics(undefined);
      await prometheus.close();
      await app.close();
      await reader.close();
      if (directStore !== undefined) await directStore.close();
      logger.info('hourglass stopped');
    },
  };
}
