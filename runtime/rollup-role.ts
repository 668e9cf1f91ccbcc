/**
 * `hourglass rollup`: a rollup worker, JetStream in, store out, with /metrics and /healthz. One
 * RollupDriver per owned partition, the same driver as the embedded default. Which partitions it
 * owns: by default shared with the other workers through leases in NATS (bus/partition-leases.ts),
 * taken and given back while it runs; with ROLLUP_PARTITIONS, a fixed list.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { PartitionLeases, PartitionSource, connectNats, writerOfPartition, countDrop, createBusMetrics, createLeaseMetrics, createNatsMetrics, ensureStreams } from '../bus/index.js';
import { systemClock, type Clock, type Logger } from '../core/index.js';
import { Rollup, RollupDriver, RollupTelemetry, SeriesBudget, createRollupMetrics } from '../rollup/index.js';
import { StoreFencedError, type RollupStore } from '../store/index.js';
import type { Config, NatsConfig } from './config.js';
import type { RunningRole } from './gateway-role.js';
import { createProcessRegistry } from './metrics.js';
import { buildOpsApp, listen } from './ops-server.js';

/** Lease timing must not follow the wall clock (it may be set back): monotonic milliseconds. */
const monotonicClock: Clock = { nowMs: () => performance.now() };

export async function startRollupRole(config: Config, store: RollupStore, logger: Logger, clock: Clock = systemClock, workerId: string = randomUUID()): Promise<RunningRole> {
  const nats = config.nats as NatsConfig;
  const registry = createProcessRegistry();
  const busMetrics = createBusMetrics(registry);
  const { natsConnected } = createNatsMetrics(registry);
  const log = logger.child({ component: 'rollup' });
  const telemetry = new RollupTelemetry(createRollupMetrics(registry), log, () => clock.nowMs());
  // one bound for the whole worker, over every partition it owns (a handed-over partition: budget.forget(writer))
  const budget = new SeriesBudget(config.maxSeriesPerHour);
  const nc = await connectNats(nats.url, `hourglass-rollup-${process.pid}`);
  natsConnected.set(1);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') natsConnected.set(0);
      else if (status.type === 'reconnect') natsConnected.set(1);
    }
  })();
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, nats);
  const js = jetstream(nc);
  const drivers = new Map<number, RollupDriver>();
  let leases: PartitionLeases | undefined;
  const startPartition = async (partition: number): Promise<void> => {
    const source = new PartitionSource(js, jsm, { stream: nats.stream, partition, metrics: busMetrics, lagIntervalMs: config.flushIntervalMs, nc, logger: log, nowMs: () => clock.nowMs(), replicas: nats.replicas });
    const events = telemetry.eventsOf(source.writer, (values) => countDrop(busMetrics, 'apply_failed', values));
    const driver = new RollupDriver({
      source,
      rollup: new Rollup({ store, writer: source.writer, clock, budget }),
      store,
      flushIntervalMs: config.flushIntervalMs,
      events: {
        ...events,
        flushed(outcome) {
          events.flushed(outcome);
          // another owner claimed the writer in the store: this one is superseded, whatever its lease says
          if (outcome.error instanceof StoreFencedError) {
            if (leases !== undefined) leases.relinquish(partition);
            else log.error({ partition }, 'another worker claimed this partition in the store: give each partition to one worker, or use shared partitions');
          }
        },
      },
      logger: log,
      writeAllowed: leases === undefined ? undefined : () => (leases as PartitionLeases).mayWrite(partition),
      exitAfterStoreWrite: config.failpoint === 'exit-after-store-write',
    });
    // after a NATS reconnect the source recreates its consumer; first, what was handed on is written
    source.beforeReset = () => driver.flush();
    drivers.set(partition, driver);
    try {
      // resume after what the store holds: the stream keeps applied batches (limits retention)
      await source.start(await store.loadWatermark(source.writer));
      await driver.start();
    } catch (err) {
      if (drivers.get(partition) === driver) drivers.delete(partition);
      await driver.abort();
      throw err;
    }
    // lost while starting: stop what was just started
    if (drivers.get(partition) !== driver) await driver.abort();
    else log.info({ partition }, 'rollup partition started');
  };
  const takeDriver = (partition: number) => {
    const driver = drivers.get(partition);
    drivers.delete(partition);
    // the partition's next owner counts its series and reports its totals
    budget.forget(writerOfPartition(partition));
    telemetry.forget(writerOfPartition(partition));
    return driver;
  };
  if (config.rollupPartitions !== undefined) {
    for (const partition of config.rollupPartitions) await startPartition(partition);
  } else {
    leases = new PartitionLeases(js, {
      stream: nats.stream,
      partitions: nats.partitions,
      ttlMs: config.leaseTtlMs,
      replicas: nats.replicas,
      workerId,
      clock: monotonicClock,
      metrics: createLeaseMetrics(registry),
      logger: log.child({ component: 'leases', worker: workerId }),
      handler: {
        acquired: startPartition,
        async release(partition) {
          await takeDriver(partition)?.stop();
        },
        lost(partition) {
          void takeDriver(partition)?.abort();
        },
      },
    });
    await leases.start();
  }
  const partitions = config.rollupPartitions ?? 'shared';
  let closing = false;
  const ops = buildOpsApp({ registry, healthy: () => !closing });
  const httpPort = await listen(ops, config.httpAddress);
  logger.info({ http: `${config.httpAddress.host}:${httpPort}`, role: 'rollup', partitions }, 'hourglass listening');
  return {
    httpPort,
    async close() {
      closing = true;
      // shared: every partition given back gracefully (written, acknowledged, lease deleted)
      if (leases !== undefined) await leases.stop();
      await Promise.all([...drivers.values()].map((d) => d.stop()));
      await nc.drain().catch(() => undefined);
      await store.close();
      await ops.close();
    },
  };
}
