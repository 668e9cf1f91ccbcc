/**
 * agent/: `hourglass agent`, the first stage of the pipeline, before gateway/ (and usually on
 * another host). Follows log files and delivers their lines to a gateway's `POST /ingest` exactly
 * once (SPEC §2, §3.1, §5). Imports core/ and the gateway's line parser only; runtime/agent-role.ts
 * wires it (settings, clock, logger, the process registry, /metrics and /healthz).
 */
export { AGENT_DEFAULTS, Agent, type AgentOptions } from './agent.js';
export { createAgentMetrics, type AgentMetrics } from './agent-metrics.js';
export { AGENT_REJECT_REASONS, AgentFormatError, LineDecoder, parseAgentFormat, type AgentFormat, type AgentRejectReason } from './format.js';
export { backoffDelayMs, retryAfterMs, type Backoff } from './ingest-client.js';
