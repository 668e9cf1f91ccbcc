/** Wiring of `hourglass agent`: config, logger and a metrics registry handed to agent/. */
import { setTimeout as delay } from 'node:timers/promises';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { AGENT_DEFAULTS, Agent, createAgentMetrics, startStatusServer } from '../agent/index.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/** Resolves after `ms`, or early (never rejecting) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

export async function startAgentRole(config: Config, logger: Logger): Promise<{ close(): Promise<void> }> {
  const settings = config.agent;
  if (settings === undefined) throw new Error('agent role without agent settings');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createAgentMetrics(registry, settings.files);
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
    nowMs: () => Date.now(),
    metrics,
    logger,
    // The crash a fault test needs: acknowledged by the gateway, offset not yet saved.
    afterAcknowledged: config.failpoint === 'agent-exit-after-send' ? () => process.kill(process.pid, 'SIGKILL') : undefined,
  });
  const server = await startStatusServer(config.httpAddress.host, config.httpAddress.port, registry, () => ({ gatewayReachable: agent.gatewayReachable, filesFollowed: agent.files().length }));
  await agent.start();
  logger.info({ http: `${config.httpAddress.host}:${server.port}`, role: 'agent', files: settings.files, gateway: settings.gatewayUrl, dataDir: config.dataDir }, 'hourglass listening');
  return {
    async close() {
      await agent.stop();
      await server.close();
    },
  };
}
