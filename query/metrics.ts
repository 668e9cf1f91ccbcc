/** The query API's telemetry (SPEC §6), registered on the process registry the runtime passes in. */
import { Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS } from '../core/index.js';

export function createQueryMetrics(registry: Registry) {
  return {
    queryDuration: new Histogram({ name: 'hourglass_query_duration_seconds', help: 'Query API time, by stat and status', labelNames: ['stat', 'status'] as const, buckets: DURATION_BUCKETS_SECONDS, registers: [registry] }),
  };
}

export type QueryMetrics = ReturnType<typeof createQueryMetrics>;
