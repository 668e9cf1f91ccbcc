/**
 * `hourglass agent`: log files in, a gateway's `POST /ingest` out, with /metrics and /healthz on
 * HTTP_ADDRESS (the ops server every role without the query API has).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { AGENT_DEFAULTS, Agent, createAgentMetrics } from '../agent/index.js';
import { systemClock, type Clock, type Logger } from '../core/index.js';
import type { Config } from './config.js';
import type { RunningRole } from './gateway-role.js';
import { createProcessRegistry } from './metrics.js';
import { buildOpsApp, listen } from './ops-server.js';

/** Resolves after `ms`, or early (never rejecting) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

export async function startAgentRole(config: Config, logger: Logger, clock: Clock = systemClock): Promise<RunningRole> {
  const settings = config.agent;
  if (settings === undefined) throw new Error('agent role without agent settings');
  const registry = createProcessRegistry();
  const agent = new Agent({
    ...AGENT_DEFAULTS,
    patterns: settings.files,
    format: settings.format,
    gatewayUrl: settings.gatewayUrl,
    dataDir: config.dataDir,
    maxLineBytes: config.maxLineBytes,
    maxBatchLines: config.maxBatchLines,
    pollIntervalMs: config.flushIntervalMs,
    random: Math.random,
    sleep,
    clock,
    metrics: createAgentMetrics(registry, settings.files),
    logger,
    // The crash a fault test needs: acknowledged by the gateway, offset not yet saved.
    afterAcknowledged: config.failpoint === 'agent-exit-after-send' ? () => process.kill(process.pid, 'SIGKILL') : undefined,
  });
  let closing = false;
  // Healthy while it runs: a gateway that is down is the agent's to wait out, said in the body.
  const ops = buildOpsApp({ registry, healthy: () => !closing, details: () => ({ gatewayReachable: agent.gatewayReachable, filesFollowed: agent.files().length }) });
  const httpPort = await listen(ops, config.httpAddress);
  await agent.start();
  logger.info({ http: `${config.httpAddress.host}:${httpPort}`, role: 'agent', files: settings.files, gateway: settings.gatewayUrl, dataDir: config.dataDir }, 'hourglass listening');
  return {
    httpPort,
    async close() {
      closing = true;
      await agent.stop();
      await ops.close();
    },
  };
}
