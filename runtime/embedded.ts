/**
 * The embedded default (`npm start`, role `all` without NATS_URL): gateway, in-process bus,
 * rollup and query in one process, with the SQLite store under DATA_DIR. The rollup runs in a
 * worker thread (rollup-thread.ts) so the socket loop does no rollup work, or on the main thread
 * in tests (where the compiled worker file may be absent); the same driver either way.
 */
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { InProcessBus, QueueSource, countDrop, createBusMetrics, type BusMetrics, type InProcessBatch } from '../bus/index.js';
import { systemClock, type Clock, type Logger } from '../core/index.js';
import { Gateway, createGatewayMetrics, readUdpKernelDrops, registerIngestRoute, registerRemoteWrite } from '../gateway/index.js';
import { buildQueryApp, createQueryMetrics } from '../query/index.js';
import { Rollup, RollupDriver, RollupTelemetry, SeriesBudget, createRollupMetrics, type DriverEvents } from '../rollup/index.js';
import { SqliteReader, SqliteStore, openDatabase } from '../store/index.js';
import type { Config } from './config.js';
import { expositionListener } from './exposition-listener.js';
import { gatewayOptions } from './gateway-role.js';
import { createLogger } from './logger.js';
import { createProcessRegistry } from './metrics.js';
import { listen, registerOpsRoutes } from './ops-server.js';
import type { FromRollupThread, RollupThreadData, ToRollupThread } from './rollup-thread.js';

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

/** The rollup side of the in-process bus, wherever it runs. */
interface EmbeddedRollup {
  deliver(batch: InProcessBatch): void;
  /** Writes everything up to the batch of this sequence. */
  flush(throughCount: number): Promise<void>;
  close(): Promise<void>;
}

/** Rollup on this thread. */
function rollupHere(config: Config, clock: Clock, events: DriverEvents, bus: () => InProcessBus, logger: Logger): EmbeddedRollup {
  const store = new SqliteStore(openDatabase(config.dataDir));
  const source = new QueueSource(EMBEDDED_WRITER, () => bus().taken(), (seq) => bus().acked(seq));
  const driver = new RollupDriver({ source, rollup: new Rollup({ store, writer: EMBEDDED_WRITER, clock, budget: new SeriesBudget(config.maxSeriesPerHour) }), store, flushIntervalMs: config.flushIntervalMs, events, logger });
  const started = driver.start();
  return {
    deliver: (batch) => source.push(batch),
    flush: async (throughCount) => {
      await started;
      await driver.flush(throughCount);
    },
    close: async () => {
      await started;
      await driver.stop();
      await store.close();
    },
  };
}

/** Rollup in a worker thread; batches are transferred, not copied. */
function rollupInThread(config: Config, events: DriverEvents, bus: () => InProcessBus): EmbeddedRollup {
  const data: RollupThreadData = { dataDir: config.dataDir, flushIntervalMs: config.flushIntervalMs, writer: EMBEDDED_WRITER, logLevel: config.logLevel, maxSeriesPerHour: config.maxSeriesPerHour };
  const worker = new Worker(new URL('./rollup-thread.js', import.meta.url), { workerData: data });
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited: Error | undefined;
  const settle = (id: number, error: string | undefined) => {
    const w = waiting.get(id);
    if (w === undefined) return;
    waiting.delete(id);
    if (error === undefined) w.resolve();
    else w.reject(new Error(error));
  };
  worker.on('message', (m: FromRollupThread) => {
    if (m.kind === 'taken') bus().taken();
    else if (m.kind === 'acked') bus().acked(m.seq);
    else if (m.kind === 'event') (events[m.name] as (arg: unknown) => void)(m.arg);
    else if (m.kind === 'done') settle(m.id, m.error);
  });
  const fail = (err: Error) => {
    if (exited !== undefined) return;
    exited = err;
    bus().failed(err);
    for (const id of [...waiting.keys()]) settle(id, err.message);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`rollup thread exited with code ${code}`)));
  const request = (message: Extract<ToRollupThread, { id: number }>) => {
    if (exited !== undefined) return Promise.reject(exited);
    return new Promise<void>((resolve, reject) => {
      waiting.set(message.id, { resolve, reject });
      worker.postMessage(message);
    });
  };
  return {
    deliver: (batch) => {
      const message: ToRollupThread = { kind: 'batch', ...batch };
      worker.postMessage(message, [batch.data.buffer as ArrayBuffer]);
    },
    flush: (throughCount) => request({ kind: 'flush', id: nextId++, throughCount }),
    close: async () => {
      await request({ kind: 'close', id: nextId++ });
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}

export async function startEmbedded(options: StartOptions): Promise<RunningHourglass> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const registry = createProcessRegistry();
  const busMetrics: BusMetrics = createBusMetrics(registry);
  const telemetry = new RollupTelemetry(createRollupMetrics(registry), logger.child({ component: 'rollup' }), () => clock.nowMs());
  const events = telemetry.eventsOf(EMBEDDED_WRITER, (values) => countDrop(busMetrics, 'apply_failed', values));

  let bus: InProcessBus | undefined;
  const theBus = () => bus as InProcessBus;
  const rollup = (options.rollupThread ?? true) ? rollupInThread(config, events, theBus) : rollupHere(config, clock, events, theBus, logger.child({ component: 'rollup' }));
  bus = new InProcessBus({ deliver: (batch) => rollup.deliver(batch) }, clock, busMetrics, logger.child({ component: 'bus' }));

  const prometheus = expositionListener(config, registry, clock, logger);
  const gatewayMetrics = createGatewayMetrics(registry);
  const gateway = new Gateway(gatewayOptions(config, { clock, publisher: bus, metrics: gatewayMetrics, logger: logger.child({ component: 'gateway' }), alsoTo: prometheus.exposition }));

  // Queries read through their own connection: WAL lets them run beside the rollup's writes.
  const reader = new SqliteReader(openDatabase(config.dataDir));
  let closing = false;
  const app: FastifyInstance = buildQueryApp({ reader, clock, metrics: createQueryMetrics(registry), flushIntervalMs: config.flushIntervalMs, maxKeyBytes: config.maxLineBytes });
  registerIngestRoute(app, {
    gateway,
    metrics: gatewayMetrics,
    maxBodyBytes: config.maxHttpBodyBytes,
    clock,
    logger: logger.child({ component: 'ingest' }),
    // SPEC §3.1: the embedded default remembers idempotency keys in the store, written with the data
    storedKey: (key) => reader.hasIdempotencyKey(key, clock.nowMs()),
  });
  registerOpsRoutes(app, {
    registry,
    beforeScrape: () => gateway.syncMetrics(readUdpKernelDrops()),
    healthy: () => !closing && bus?.failure === undefined,
  });
  // Prometheus remote write (SPEC §3.2) on the same listener, into the gateway's batches.
  await registerRemoteWrite(app, { maxBodyBytes: config.maxHttpBodyBytes, sink: gateway.sink(), registry });

  let statsdPort: number;
  let httpPort: number;
  let prometheusPort: number | undefined;
  try {
    statsdPort = await gateway.start();
    httpPort = await listen(app, config.httpAddress);
    prometheusPort = await prometheus.listen();
  } catch (err) {
    await prometheus.close().catch(() => undefined);
    await app.close().catch(() => undefined);
    await gateway.close().catch(() => undefined);
    await rollup.close().catch(() => undefined);
    await reader.close();
    throw err;
  }
  logger.info({ statsd: `${config.statsdAddress.host}:${statsdPort}`, http: `${config.httpAddress.host}:${httpPort}`, prometheus: prometheusPort === undefined ? 'off' : `${config.prometheusAddress?.host}:${prometheusPort}`, dataDir: config.dataDir }, 'hourglass listening');

  return {
    statsdPort,
    httpPort,
    prometheusPort,
    reloadMapping: () => prometheus.reloadMapping(),
    async flush() {
      gateway.flush(true);
      await rollup.flush(theBus().handedOn);
    },
    async close() {
      closing = true;
      await gateway.close();
      await rollup.close();
      gateway.syncMetrics(undefined);
      await prometheus.close();
      await app.close();
      await reader.close();
      logger.info('hourglass stopped');
    },
  };
}
