/**
 * The agent's own metrics (SPEC §6): names carry units and `_total`; labels are bounded: reasons
 * from fixed lists, HTTP statuses, and the globs of AGENT_FILES (bounded by configuration),
 * never file paths.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { REJECT_REASONS } from '../gateway/index.js';
import { AGENT_REJECT_REASONS } from './format.js';

export const SEND_ERROR_REASONS = ['unavailable', 'server_error', 'client_error', 'timeout', 'network'] as const;
/** Reasons the gateway may give for an item; anything else is `other`, so the label stays bounded. */
export const GATEWAY_REJECT_REASONS = [...REJECT_REASONS, 'other'] as const;

export function createAgentMetrics(registry: Registry, patterns: readonly string[]) {
  const registers = [registry];
  /** Set by the agent: refreshes the bytes-behind gauges from the open files at each scrape. */
  const hooks: { beforeCollect: (() => void) | undefined } = { beforeCollect: undefined };
  const metrics = {
    hooks,
    linesRead: new Counter({ name: 'hourglass_agent_lines_read_total', help: 'Complete lines read from followed files', registers }),
    linesSent: new Counter({ name: 'hourglass_agent_lines_sent_total', help: 'Items (lines or JSON objects) the gateway accepted', registers }),
    linesRejected: new Counter({ name: 'hourglass_agent_lines_rejected_total', help: 'Lines the agent skipped because they do not parse, by reason', labelNames: ['reason'] as const, registers }),
    linesRefused: new Counter({ name: 'hourglass_agent_lines_refused_by_gateway_total', help: 'Items the gateway refused (400 with per-item errors), by its reason', labelNames: ['reason'] as const, registers }),
    batchesSent: new Counter({ name: 'hourglass_agent_batches_sent_total', help: 'Batches the gateway acknowledged', registers }),
    requests: new Counter({ name: 'hourglass_agent_requests_total', help: 'Requests to POST /ingest, by HTTP status', labelNames: ['status'] as const, registers }),
    sendErrors: new Counter({ name: 'hourglass_agent_send_errors_total', help: 'Failed sends (each is retried), by reason', labelNames: ['reason'] as const, registers }),
    retries: new Counter({ name: 'hourglass_agent_send_retries_total', help: 'Sends repeated after a failure', registers }),
    // Not core's DURATION_BUCKETS_SECONDS (they end at 2.5 s): a send crosses the network and an
    // embedded gateway answers only once the data is in the store, up to a flush interval later.
    sendDuration: new Histogram({ name: 'hourglass_agent_send_duration_seconds', help: 'Time of one POST /ingest', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
    bytesBehind: new Gauge({ name: 'hourglass_agent_bytes_behind', help: 'Bytes written to followed files and not yet delivered', registers, collect: () => hooks.beforeCollect?.() }),
    patternBytesBehind: new Gauge({ name: 'hourglass_agent_pattern_bytes_behind', help: 'Bytes not yet delivered, by AGENT_FILES glob', labelNames: ['pattern'] as const, registers }),
    truncatedUnreadBytes: new Counter({ name: 'hourglass_agent_truncated_unread_bytes_total', help: 'Bytes a truncation (copytruncate) removed before the agent had read them: lost to the agent, they are only in the rotated copy', registers }),
    filesFollowed: new Gauge({ name: 'hourglass_agent_files_followed', help: 'Files open and followed (rotated ones still being finished included)', registers }),
    fileEvents: new Counter({ name: 'hourglass_agent_file_events_total', help: 'What happened to followed files, by event', labelNames: ['event'] as const, registers }),
    filesRefused: new Counter({ name: 'hourglass_agent_files_refused_total', help: 'Matching files not followed because the agent already follows its maximum', registers }),
    stateSaves: new Counter({ name: 'hourglass_agent_state_saves_total', help: 'Atomic writes of the offsets file', registers }),
  };
  for (const reason of AGENT_REJECT_REASONS) metrics.linesRejected.inc({ reason }, 0);
  for (const reason of GATEWAY_REJECT_REASONS) metrics.linesRefused.inc({ reason }, 0);
  for (const reason of SEND_ERROR_REASONS) metrics.sendErrors.inc({ reason }, 0);
  for (const event of FILE_EVENTS) metrics.fileEvents.inc({ event }, 0);
  for (const pattern of patterns) metrics.patternBytesBehind.set({ pattern }, 0);
  return metrics;
}

export const FILE_EVENTS = ['opened', 'rotated', 'truncated', 'deleted', 'finished', 'replaced'] as const;
export type FileEvent = (typeof FILE_EVENTS)[number];

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
