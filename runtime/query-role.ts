/** `hourglass query`: the query API over the configured store, with /metrics and /healthz. */
import { systemClock, type Clock, type Logger } from '../core/index.js';
import { buildQueryApp, createQueryMetrics } from '../query/index.js';
import { openReader } from '../store/index.js';
import type { Config } from './config.js';
import type { RunningRole } from './gateway-role.js';
import { createProcessRegistry } from './metrics.js';
import { listen, registerOpsRoutes } from './ops-server.js';

export async function startQueryRole(config: Config, logger: Logger, clock: Clock = systemClock): Promise<RunningRole> {
  const registry = createProcessRegistry();
  const reader = openReader(config);
  const app = buildQueryApp({ reader, clock, metrics: createQueryMetrics(registry), flushIntervalMs: config.flushIntervalMs, maxKeyBytes: config.maxLineBytes });
  let closing = false;
  registerOpsRoutes(app, { registry, healthy: () => !closing });
  const httpPort = await listen(app, config.httpAddress);
  logger.info({ http: `${config.httpAddress.host}:${httpPort}`, role: 'query', dataDir: config.dataDir }, 'hourglass listening');
  return {
    httpPort,
    async close() {
      closing = true;
      await app.close();
      await reader.close();
    },
  };
}
