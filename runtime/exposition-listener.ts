/**
 * The statsd_exporter-style exposition of a process that runs a gateway (the gateway and all
 * roles): the Exposition the gateway tees samples into, its listener on PROMETHEUS_ADDRESS, and
 * the SIGHUP reload of STATSD_MAPPING_CONFIG.
 */
import type { Registry } from 'prom-client';
import { Exposition, MappingError, startExpositionServer, type RunningExpositionServer } from '../gateway/index.js';
import type { Clock, Logger } from '../core/index.js';
import { readMappingFile, type Config } from './config.js';

export interface ExpositionListener {
  readonly exposition: Exposition | undefined;
  /** Starts the listener (when PROMETHEUS_ADDRESS is not off); returns its port. */
  listen(): Promise<number | undefined>;
  /** Re-reads STATSD_MAPPING_CONFIG; a bad file keeps the old mapping and is logged. True when swapped. */
  reloadMapping(): boolean;
  close(): Promise<void>;
}

export function expositionListener(config: Config, registry: Registry, clock: Clock, logger: Logger): ExpositionListener {
  const log = logger.child({ component: 'exposition' });
  const address = config.prometheusAddress;
  const exposition = address === undefined ? undefined : new Exposition({ mapping: config.mapping, maxSeries: config.expositionMaxSeries, clock, registry });
  let server: RunningExpositionServer | undefined;
  return {
    exposition,
    async listen() {
      if (exposition === undefined || address === undefined) return undefined;
      server = await startExpositionServer({ host: address.host, port: address.port, exposition });
      return server.port;
    },
    reloadMapping() {
      const file = config.mappingFile;
      if (exposition === undefined || file === undefined) return false;
      try {
        exposition.setMapping(readMappingFile(file));
        log.info({ file }, 'mapping file reloaded');
        return true;
      } catch (err) {
        const problems = err instanceof MappingError ? err.problems : [(err as Error).message];
        log.error({ file, problems }, 'mapping file not reloaded: keeping the previous mapping');
        return false;
      }
    },
    async close() {
      await server?.close();
    },
  };
}
