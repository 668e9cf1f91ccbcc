/**
 * `hourglass rollup`: a rollup worker, JetStream in, store out, with /metrics and /healthz. One
 * RollupDriver per owned partition, the same driver as the embedded default.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { PartitionSource, connectNats, countDrop, createBusMetrics, ensureStreams } from '../bus/index.js';
import { systemClock, type Clock, type Logger } from '../core/index.js';
import { Rollup, RollupDriver, RollupTelemetry, createRollupMetrics } from '../rollup/index.js';
import type { RollupStore } from '../store/index.js';
import type { Config, NatsConfig } from './config.js';
import type { RunningRole } from './gateway-role.js';
import { createProcessRegistry } from './metrics.js';
import { buildOpsApp, listen } from './ops-server.js';

export async function startRollupRole(config: Config, store: RollupStore, logger: Logger, clock: Clock = systemClock): Promise<RunningRole> {
  const nats = config.nats as NatsConfig;
  const registry = createProcessRegistry();
  const busMetrics = createBusMetrics(registry);
  const log = logger.child({ component: 'rollup' });
  const telemetry = new RollupTelemetry(createRollupMetrics(registry), log);
  const nc = await connectNats(nats.url, `hourglass-rollup-${process.pid}`);
  busMetrics.natsConnected.set(1);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') busMetrics.natsConnected.set(0);
      else if (status.type === 'reconnect') busMetrics.natsConnected.set(1);
    }
  })();
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, nats);
  const js = jetstream(nc);
  const partitions = config.rollupPartitions ?? Array.from({ length: nats.partitions }, (_, p) => p);
  const drivers: RollupDriver[] = [];
  for (const partition of partitions) {
    const source = new PartitionSource(js, jsm, { stream: nats.stream, partition, metrics: busMetrics, lagIntervalMs: config.flushIntervalMs, nc });
    const driver = new RollupDriver({
      source,
      rollup: new Rollup({ store, writer: source.writer, clock }),
      store,
      flushIntervalMs: config.flushIntervalMs,
      events: telemetry.eventsOf(source.writer, (values) => countDrop(busMetrics, 'apply_failed', values)),
      logger: log,
      exitAfterStoreWrite: config.failpoint === 'exit-after-store-write',
    });
    await source.start();
    await driver.start();
    drivers.push(driver);
    log.info({ partition }, 'rollup partition started');
  }
  let closing = false;
  const ops = buildOpsApp({ registry, healthy: () => !closing });
  const httpPort = await listen(ops, config.httpAddress);
  logger.info({ http: `${config.httpAddress.host}:${httpPort}`, role: 'rollup', partitions }, 'hourglass listening');
  return {
    httpPort,
    async close() {
      closing = true;
      await Promise.all(drivers.map((d) => d.stop()));
      await nc.drain().catch(() => undefined);
      await store.close();
      await ops.close();
    },
  };
}
