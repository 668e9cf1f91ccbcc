/**
 * The process's Prometheus registry (SPEC §6): one per process, with Node's default metrics; each
 * stage registers its own metrics on it (gateway/metrics.ts, bus/metrics.ts, rollup/metrics.ts,
 * query/metrics.ts) for the parts the role runs.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createProcessRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
