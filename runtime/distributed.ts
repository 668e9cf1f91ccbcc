/**
 * The distributed roles: `hourglass gateway` (StatsD in, JetStream out) and `hourglass rollup`
 * (JetStream in, store out), each with its own /metrics and /healthz. The query role and the
 * store selection live in roles.ts. Same Gateway, Rollup and codec as the embedded default: only
 * the bus adapters differ.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Gateway, gatewayOptions } from '../gateway/gateway.js';
import { JetStreamPublisher } from '../gateway/jetstream-publisher.js';
import { ensureStreams } from '../gateway/jetstream.js';
import { Spool } from '../gateway/spool.js';
import { PartitionWorker } from '../rollup/jetstream-worker.js';
import type { RollupStore } from '../rollup/schema.js';
import { buildQueryApp } from '../query/app.js';
import { systemClock, type Clock } from './clock.js';
import type { Config, NatsConfig } from './config.js';
import { recordFlush } from './in-process-bus.js';
import type { Logger } from './logger.js';
import { createMetrics, readUdpKernelDrops, type Metrics } from './metrics.js';
import path from 'node:path';

export interface RunningRole {
  readonly statsdPort?: number;
  readonly httpPort: number;
  close(): Promise<void>;
}

const PUBLISH_TIMEOUT_MS = 5000;
const MAX_IN_FLIGHT = 64;

/** Connects and keeps reconnecting forever (nats.js gives up after about 20 s by default). */
export function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: true, timeout: 5000 });
}

/** Serves /metrics and /healthz (and nothing else) for a role without the query API. */
async function listenOps(config: Config, metrics: Metrics, healthy: () => boolean, beforeScrape?: () => void) {
  const app = buildQueryApp({ reader: undefined, clock: systemClock, metrics, flushIntervalMs: config.flushIntervalMs, maxKeyBytes: config.maxLineBytes, healthy, beforeScrape });
  await app.listen({ host: config.httpAddress.host, port: config.httpAddress.port });
  const address = app.server.address();
  return { app, port: typeof address === 'object' && address !== null ? address.port : config.httpAddress.port };
}

export async function startGatewayRole(config: Config, logger: Logger, clock: Clock = systemClock): Promise<RunningRole> {
  const nats = config.nats as NatsConfig;
  const metrics = createMetrics({ nats: true });
  const log = logger.child({ component: 'gateway' });
  const publisher = new JetStreamPublisher(
    { stream: nats.stream, partitions: nats.partitions, idPrefix: `${config.gatewayId}.${clock.nowMs()}`, publishTimeoutMs: PUBLISH_TIMEOUT_MS, maxInFlight: MAX_IN_FLIGHT, nowMs: () => clock.nowMs() },
    new Spool(path.join(config.dataDir, 'spool'), config.spoolMaxBytes),
    metrics,
    log.child({ component: 'publisher' }),
  );
  const gateway = new Gateway(gatewayOptions(config, { clock, publisher, metrics, logger: log }));

  // Listen first: StatsD clients are served (into the spool) even while NATS is unreachable.
  const statsdPort = await gateway.start();
  let nc: NatsConnection | undefined;
  let closing = false;
  const connecting = (async () => {
    nc = await connectNats(nats.url, `hourglass-gateway-${config.gatewayId}`);
    if (closing) return;
    await ensureStreams(await jetstreamManager(nc), nats);
    const js = jetstream(nc);
    publisher.connected(js);
    log.info({ nats: nats.url, stream: nats.stream }, 'publishing to JetStream');
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') publisher.disconnected();
      else if (status.type === 'reconnect') publisher.connected(js);
    }
  })().catch((err: unknown) => {
    if (!closing) log.error({ err }, 'NATS connection ended');
  });
  const ops = await listenOps(config, metrics, () => !closing, () => gateway.syncMetrics(readUdpKernelDrops()));
  logger.info({ statsd: `${config.statsdAddress.host}:${statsdPort}`, http: `${config.httpAddress.host}:${ops.port}`, role: 'gateway' }, 'hourglass listening');
  return {
    statsdPort,
    httpPort: ops.port,
    async close() {
      await gateway.close();
      await publisher.close();
      closing = true;
      await nc?.drain().catch(() => undefined);
      await connecting;
      await ops.app.close();
    },
  };
}

export async function startRollupRole(config: Config, store: RollupStore, logger: Logger, clock: Clock = systemClock): Promise<RunningRole> {
  const nats = config.nats as NatsConfig;
  const metrics = createMetrics({ nats: true });
  const log = logger.child({ component: 'rollup' });
  const nc = await connectNats(nats.url, `hourglass-rollup-${process.pid}`);
  metrics.natsConnected.set(1);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') metrics.natsConnected.set(0);
      else if (status.type === 'reconnect') metrics.natsConnected.set(1);
    }
  })();
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, nats);
  const js = jetstream(nc);
  const partitions = config.rollupPartitions ?? Array.from({ length: nats.partitions }, (_, p) => p);
  const onFlushed = recordFlush(metrics, log);
  const workers = partitions.map(
    (partition) =>
      new PartitionWorker({
        stream: nats.stream,
        partition,
        store,
        clock,
        flushIntervalMs: config.flushIntervalMs,
        metrics,
        logger: log,
        onFlushed,
        exitAfterStoreWrite: config.failpoint === 'exit-after-store-write',
      }),
  );
  for (const w of workers) await w.start(js, jsm);
  let closing = false;
  const ops = await listenOps(config, metrics, () => !closing);
  logger.info({ http: `${config.httpAddress.host}:${ops.port}`, role: 'rollup', partitions }, 'hourglass listening');
  return {
    httpPort: ops.port,
    async close() {
      closing = true;
      await Promise.all(workers.map((w) => w.stop()));
      await nc.drain().catch(() => undefined);
      await store.close();
      await ops.app.close();
    },
  };
}
