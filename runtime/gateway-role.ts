/**
 * `hourglass gateway`: StatsD in, NATS JetStream out, with /metrics and /healthz. The same
 * Gateway as the embedded default; only the publisher differs.
 */
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamPublisher, Spool, StreamRetentionError, connectNats, createBusMetrics, createNatsMetrics, ensureStreams } from '../bus/index.js';
import { systemClock, type Clock, type Logger } from '../core/index.js';
import { Gateway, createGatewayMetrics, readUdpKernelDrops, registerIngestRoute, registerRemoteWrite, type GatewayOptions } from '../gateway/index.js';
import type { Config, NatsConfig } from './config.js';
import { expositionListener } from './exposition-listener.js';
import { createProcessRegistry } from './metrics.js';
import { buildOpsApp, listen } from './ops-server.js';

export interface RunningRole {
  readonly statsdPort?: number;
  readonly httpPort: number;
  /** Gateway role: the statsd_exporter-style exposition's port (undefined when off). */
  readonly prometheusPort?: number;
  /** Gateway role: re-reads STATSD_MAPPING_CONFIG (SIGHUP); a bad file keeps the old mapping. True when swapped. */
  reloadMapping?(): boolean;
  close(): Promise<void>;
}

const PUBLISH_TIMEOUT_MS = 5000;
const MAX_IN_FLIGHT = 64;

/** The gateway's options from the process configuration, plus the parts each role supplies. */
export function gatewayOptions(config: Config, parts: Pick<GatewayOptions, 'clock' | 'publisher' | 'metrics' | 'logger' | 'alsoTo'>): GatewayOptions {
  return {
    address: config.statsdAddress,
    udpRecvBufferBytes: config.udpRecvBufferBytes,
    maxLineBytes: config.maxLineBytes,
    maxBatchLines: config.maxBatchLines,
    flushIntervalMs: config.flushIntervalMs,
    ...parts,
  };
}

export async function startGatewayRole(config: Config, logger: Logger, clock: Clock = systemClock): Promise<RunningRole> {
  const nats = config.nats as NatsConfig;
  const registry = createProcessRegistry();
  const busMetrics = { ...createBusMetrics(registry), ...createNatsMetrics(registry) };
  const log = logger.child({ component: 'gateway' });
  const publisher = new JetStreamPublisher(
    { stream: nats.stream, partitions: nats.partitions, idPrefix: `${config.gatewayId}.${clock.nowMs()}`, publishTimeoutMs: PUBLISH_TIMEOUT_MS, maxInFlight: MAX_IN_FLIGHT, nowMs: () => clock.nowMs() },
    new Spool(path.join(config.dataDir, 'spool'), config.spoolMaxBytes),
    busMetrics,
    log.child({ component: 'publisher' }),
  );
  const prometheus = expositionListener(config, registry, clock, logger);
  const gatewayMetrics = createGatewayMetrics(registry);
  const gateway = new Gateway(gatewayOptions(config, { clock, publisher, metrics: gatewayMetrics, logger: log, alsoTo: prometheus.exposition }));

  // Listen first: StatsD clients are served (into the spool) even while NATS is unreachable.
  const statsdPort = await gateway.start();
  let nc: NatsConnection | undefined;
  let closing = false;
  let streamsRefused = false;
  const connecting = (async () => {
    const connection = await connectNats(nats.url, `hourglass-gateway-${config.gatewayId}`);
    if (closing) {
      // NATS answered only after close() gave up waiting for it
      await connection.close();
      return;
    }
    nc = connection;
    // Retried: a timeout here under load once left the publisher never connected, the gateway
    // spooling for good while healthy. A stream the operator must change is not retried.
    for (let attempt = 1; ; attempt++) {
      try {
        await ensureStreams(await jetstreamManager(connection), nats);
        break;
      } catch (err) {
        if (closing) return;
        if (err instanceof StreamRetentionError) {
          streamsRefused = true;
          throw err;
        }
        log.warn({ err: (err as Error).message, attempt }, 'could not make sure of the JetStream streams; retrying (batches go to the spool meanwhile)');
        await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * attempt)));
      }
    }
    const js = jetstream(connection);
    publisher.connected(js);
    log.info({ nats: nats.url, stream: nats.stream }, 'publishing to JetStream');
    for await (const status of connection.status()) {
      // pings come every PING interval: only the events that change the link
      if (status.type !== 'ping') log.debug({ status }, 'NATS connection status');
      if (status.type === 'disconnect') publisher.disconnected();
      else if (status.type === 'reconnect') publisher.connected(js);
    }
    log.debug('NATS status events ended');
  })().catch((err: unknown) => {
    if (!closing) log.error({ err }, 'NATS connection ended');
  });
  const ops = buildOpsApp({ registry, healthy: () => !closing && !streamsRefused, beforeScrape: () => gateway.syncMetrics(readUdpKernelDrops()) }, 'GET /metrics and /healthz, POST /ingest and POST /api/v1/write');
  // a retried request keeps its message ids, so the stream's duplicate window counts it once
  registerIngestRoute(ops, { gateway, metrics: gatewayMetrics, maxBodyBytes: config.maxHttpBodyBytes, clock, logger: log.child({ component: 'ingest' }) });
  // Prometheus remote write (SPEC §3.2): into the same batches, published to JetStream like UDP.
  await registerRemoteWrite(ops, { maxBodyBytes: config.maxHttpBodyBytes, sink: gateway.sink(), registry });
  const httpPort = await listen(ops, config.httpAddress);
  const prometheusPort = await prometheus.listen();
  logger.info({ statsd: `${config.statsdAddress.host}:${statsdPort}`, http: `${config.httpAddress.host}:${httpPort}`, prometheus: prometheusPort === undefined ? 'off' : `${config.prometheusAddress?.host}:${prometheusPort}`, role: 'gateway' }, 'hourglass listening');
  return {
    statsdPort,
    httpPort,
    prometheusPort,
    reloadMapping: () => prometheus.reloadMapping(),
    async close() {
      await prometheus.close();
      await gateway.close();
      await publisher.close();
      closing = true;
      // never connected (NATS never answered): nothing to wait for, the connect is left behind
      if (nc !== undefined) {
        await nc.drain().catch(() => undefined);
        await connecting;
      }
      await ops.close();
    },
  };
}
