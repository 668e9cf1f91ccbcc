import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StreamSettings } from '../bus/index.js';
import { INFLUX_APIS, type InfluxSettings } from '../store/index.js';
import { AgentFormatError, parseAgentFormat, type AgentFormat } from '../agent/index.js';
import { MappingError, loadMapping, type Mapping } from '../gateway/index.js';

export const ROLES = ['all', 'gateway', 'rollup', 'query', 'agent', 'replay'] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type InfluxConfig = InfluxSettings;
export type NatsConfig = StreamSettings;

export interface Config {
  readonly role: Role;
  readonly statsdAddress: HostPort;
  readonly httpAddress: HostPort;
  readonly dataDir: string;
  readonly flushIntervalMs: number;
  readonly udpRecvBufferBytes: number;
  readonly maxLineBytes: number;
  readonly maxBatchLines: number;
  /** Largest HTTP ingest body (remote write: compressed and decompressed). */
  readonly maxHttpBodyBytes: number;
  readonly natsUrl: string | undefined;
  readonly nats: NatsConfig | undefined;
  /** Bus partitions this rollup worker owns, fixed (no leases); undefined: shared through leases. */
  readonly rollupPartitions: readonly number[] | undefined;
  /** Partition lease TTL of rollup workers (bus/partition-leases.ts). */
  readonly leaseTtlMs: number;
  readonly spoolMaxBytes: number;
  /** Series (name, tags, type) a rollup worker, or the embedded default, keeps per hour. */
  readonly maxSeriesPerHour: number;
  /** Names this gateway's batch ids; default: host name and process id. */
  readonly gatewayId: string;
  readonly influx: InfluxConfig | undefined;
  readonly logLevel: LogLevel;
  /** PROMETHEUS_ADDRESS: the statsd_exporter-style exposition; undefined when `off`. */
  readonly prometheusAddress: HostPort | undefined;
  /** STATSD_MAPPING_CONFIG: the file's path, undefined when unset. */
  readonly mappingFile: string | undefined;
  /** The mapping file read and checked at start (statsd_exporter's defaults when unset). */
  readonly mapping: Mapping;
  readonly expositionMaxSeries: number;
  /** Tests only: a named point where the process kills itself (fault tests). */
  readonly failpoint: Failpoint | undefined;
  /** Agent role: AGENT_FILES, AGENT_FORMAT, AGENT_GATEWAY_URL (undefined for the other roles). */
  readonly agent: AgentConfig | undefined;
}

export interface AgentConfig {
  readonly files: readonly string[];
  readonly format: AgentFormat;
  readonly gatewayUrl: string;
}

export const FAILPOINTS = ['exit-after-store-write', 'agent-exit-after-send'] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

/** Raised with every bad setting at once (SPEC §2: one message naming every bad variable). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'HG_ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

type Raw = Readonly<Record<string, string | undefined>>;

interface Setting {
  /** Environment variable. */
  readonly env: string;
  /** Command-line flag of the same meaning (overrides the variable). */
  readonly flag: string;
  readonly defaultValue: string | undefined;
  readonly help: string;
}

/** Every setting, in the order `--help` and the README list them. */
export const SETTINGS: readonly Setting[] = [
  { env: 'STATSD_ADDRESS', flag: 'statsd-address', defaultValue: '0.0.0.0:8125', help: 'StatsD listener, UDP and TCP on the same port (host:port; port 0 picks a free one)' },
  { env: 'HTTP_ADDRESS', flag: 'http-address', defaultValue: '0.0.0.0:8080', help: 'HTTP listener: query API (all, query roles), /metrics, /healthz' },
  { env: 'DATA_DIR', flag: 'data-dir', defaultValue: './data', help: 'embedded SQLite store and gateway spool' },
  { env: 'FLUSH_INTERVAL_MS', flag: 'flush-interval-ms', defaultValue: '1000', help: 'how often gateways hand batches on and rollups write to the store (50..60000)' },
  { env: 'UDP_RECV_BUFFER_BYTES', flag: 'udp-recv-buffer-bytes', defaultValue: String(32 * 1024 * 1024), help: 'kernel receive buffer asked for the UDP socket (the kernel may cap it at net.core.rmem_max)' },
  { env: 'MAX_LINE_BYTES', flag: 'max-line-bytes', defaultValue: '8192', help: 'longest accepted StatsD line; a longer TCP line closes its connection' },
  { env: 'MAX_BATCH_LINES', flag: 'max-batch-lines', defaultValue: '20000', help: 'a gateway batch is handed on when it holds this many values, even before the flush interval' },
  { env: 'MAX_HTTP_BODY_BYTES', flag: 'max-http-body-bytes', defaultValue: String(4 * 1024 * 1024), help: 'largest POST /ingest and /api/v1/write body, compressed and again decompressed (413 beyond)' },
  { env: 'NATS_URL', flag: 'nats-url', defaultValue: undefined, help: 'set: NATS JetStream bus; unset: in-process bus (all role only)' },
  { env: 'NATS_STREAM', flag: 'nats-stream', defaultValue: 'HOURGLASS', help: 'JetStream stream of the batches (created or updated at start)' },
  { env: 'NATS_PARTITIONS', flag: 'nats-partitions', defaultValue: '8', help: 'bus partitions (subjects <NATS_STREAM>.batches.<p>); each series has one, each partition one rollup writer' },
  { env: 'NATS_MAX_AGE_SEC', flag: 'nats-max-age-sec', defaultValue: String(7 * 24 * 3600), help: 'stream retention by age' },
  { env: 'NATS_MAX_BYTES', flag: 'nats-max-bytes', defaultValue: String(10 * 1024 ** 3), help: 'stream retention by size' },
  { env: 'NATS_DUPLICATE_WINDOW_SEC', flag: 'nats-duplicate-window-sec', defaultValue: '600', help: 'JetStream de-duplication window for batch ids (covers replays of timed-out publishes)' },
  { env: 'NATS_REPLICAS', flag: 'nats-replicas', defaultValue: '1', help: 'stream replicas (1..5; more needs a NATS cluster)' },
  { env: 'ROLLUP_PARTITIONS', flag: 'rollup-partitions', defaultValue: 'shared', help: 'shared: rollup workers divide the partitions among themselves through leases in NATS; or a fixed list such as 0,1,2,3 (no leases: give each partition to exactly one worker), or all' },
  { env: 'LEASE_TTL_MS', flag: 'lease-ttl-ms', defaultValue: '10000', help: 'partition lease TTL of shared rollup workers (3000..60000): a dead worker\'s partitions are taken over within about 1.1 x this' },
  { env: 'MAX_SERIES_PER_HOUR', flag: 'max-series-per-hour', defaultValue: '100000', help: 'series (name, tags, type) a rollup worker (or the embedded default) keeps per hour; new ones past it are refused and counted (hourglass_series_refused_total)' },
  { env: 'SPOOL_MAX_BYTES', flag: 'spool-max-bytes', defaultValue: String(1024 ** 3), help: 'gateway spool under DATA_DIR for batches NATS has not acknowledged; past it batches are dropped and counted' },
  { env: 'GATEWAY_ID', flag: 'gateway-id', defaultValue: undefined, help: 'names this gateway in batch ids (default: host name and process id)' },
  { env: 'INFLUX_URL', flag: 'influx-url', defaultValue: undefined, help: 'set: InfluxDB store; unset: embedded SQLite store' },
  { env: 'INFLUX_API', flag: 'influx-api', defaultValue: 'v2', help: 'v2 (token/org/bucket, Flux) or v1 (database, InfluxQL; also InfluxDB 3)' },
  { env: 'INFLUX_TOKEN', flag: 'influx-token', defaultValue: undefined, help: 'InfluxDB token (v2; optional for v1)' },
  { env: 'INFLUX_ORG', flag: 'influx-org', defaultValue: undefined, help: 'InfluxDB organisation (v2)' },
  { env: 'INFLUX_BUCKET', flag: 'influx-bucket', defaultValue: undefined, help: 'InfluxDB bucket (v2)' },
  { env: 'INFLUX_DATABASE', flag: 'influx-database', defaultValue: undefined, help: 'InfluxDB database (v1)' },
  { env: 'PROMETHEUS_ADDRESS', flag: 'prometheus-address', defaultValue: '0.0.0.0:9102', help: 'gateway and all roles: the ingested metrics for Prometheus, as statsd_exporter exposes them (GET /metrics); off disables' },
  { env: 'STATSD_MAPPING_CONFIG', flag: 'statsd-mapping-config', defaultValue: undefined, help: 'a statsd_exporter mapping file (YAML) for that exposition; reloaded on SIGHUP' },
  { env: 'EXPOSITION_MAX_SERIES', flag: 'exposition-max-series', defaultValue: '100000', help: 'series the exposition holds; new ones past it are refused and counted' },
  { env: 'LOG_LEVEL', flag: 'log-level', defaultValue: 'info', help: `pino level: ${LOG_LEVELS.join(', ')}` },
  { env: 'AGENT_FILES', flag: 'agent-files', defaultValue: undefined, help: 'agent role: files to follow, comma-separated globs (/var/log/app/*.log); files that appear later are picked up' },
  { env: 'AGENT_FORMAT', flag: 'agent-format', defaultValue: 'statsd', help: 'agent role: statsd, json (one SPEC 3.1 object per line), or a regular expression with named groups key and value (optional ts, unix seconds): each match a timer (ms) sample in the log\'s own unit' },
  { env: 'AGENT_GATEWAY_URL', flag: 'agent-gateway-url', defaultValue: undefined, help: 'agent role: the gateway\'s HTTP address (http://gw:8080); lines go to its POST /ingest, offsets live in DATA_DIR' },
  { env: 'FAILPOINT', flag: 'failpoint', defaultValue: undefined, help: `tests only: exit abruptly at a named point (${FAILPOINTS.join(', ')})` },
];

function parseHostPort(value: string): HostPort | string {
  // `[::1]:8125`, `0.0.0.0:8125`, `localhost:8125`
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  if (!m) return 'expected host:port, e.g. 0.0.0.0:8125 or [::]:8125';
  const port = Number(m[3]);
  if (port > 65535) return 'port must be 0..65535';
  return { host: (m[1] ?? m[2]) as string, port };
}

function parseInteger(value: string, min: number, max: number): number | string {
  if (!/^\d+$/.test(value)) return `expected a whole number from ${min} to ${max}`;
  const n = Number(value);
  if (n < min || n > max) return `expected a whole number from ${min} to ${max}`;
  return n;
}

function parseUrl(value: string, schemes: readonly string[]): string | { error: string } {
  try {
    const u = new URL(value);
    if (!schemes.includes(u.protocol)) return { error: `expected a ${schemes.join(' or ')} URL` };
    return value;
  } catch {
    return { error: `expected a URL such as ${schemes[0]}//localhost` };
  }
}

/**
 * Builds the frozen configuration of a process from its environment and flags.
 * `process.env` is read by the caller only (runtime/cli.ts), never here.
 */
export function parseConfig(role: string, env: Raw, flags: Raw = {}): Config {
  const problems: string[] = [];
  const raw = (s: Setting): string | undefined => {
    const v = flags[s.flag] ?? env[s.env];
    return v === undefined || v === '' ? s.defaultValue : v;
  };
  const bad = (s: Setting, value: string, why: string) => problems.push(`${s.env}=${JSON.stringify(value)}: ${why}`);
  const byEnv = (name: string): Setting => SETTINGS.find((s) => s.env === name) as Setting;

  const hostPort = (name: string): HostPort => {
    const s = byEnv(name);
    const v = raw(s) as string;
    const r = parseHostPort(v);
    if (typeof r === 'string') {
      bad(s, v, r);
      return { host: '', port: 0 };
    }
    return r;
  };
  const integer = (name: string, min: number, max: number): number => {
    const s = byEnv(name);
    const v = raw(s) as string;
    const r = parseInteger(v, min, max);
    if (typeof r === 'string') {
      bad(s, v, r);
      return 0;
    }
    return r;
  };
  const url = (name: string, schemes: readonly string[]): string | undefined => {
    const s = byEnv(name);
    const v = raw(s);
    if (v === undefined) return undefined;
    const r = parseUrl(v, schemes);
    if (typeof r !== 'string') {
      bad(s, v, r.error);
      return undefined;
    }
    return r;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[]): T => {
    const s = byEnv(name);
    const v = raw(s) as string;
    if (!(allowed as readonly string[]).includes(v)) bad(s, v, `expected one of ${allowed.join(', ')}`);
    return v as T;
  };

  if (!(ROLES as readonly string[]).includes(role)) problems.push(`role ${JSON.stringify(role)}: expected one of ${ROLES.join(', ')}`);

  const statsdAddress = hostPort('STATSD_ADDRESS');
  const httpAddress = hostPort('HTTP_ADDRESS');
  const dataDirRaw = raw(byEnv('DATA_DIR')) as string;
  const flushIntervalMs = integer('FLUSH_INTERVAL_MS', 50, 60_000);
  const udpRecvBufferBytes = integer('UDP_RECV_BUFFER_BYTES', 4096, 2 ** 31 - 1);
  const maxLineBytes = integer('MAX_LINE_BYTES', 64, 65_507);
  const maxBatchLines = integer('MAX_BATCH_LINES', 100, 1_000_000);
  // a remote write body of a few series is a few hundred bytes; a 2**30 bound keeps one request's memory sane
  const maxHttpBodyBytes = integer('MAX_HTTP_BODY_BYTES', 1024, 2 ** 30);
  const natsUrl = url('NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']);
  const natsPartitions = integer('NATS_PARTITIONS', 1, 1024);
  const natsMaxAgeSec = integer('NATS_MAX_AGE_SEC', 60, 10 * 365 * 24 * 3600);
  const natsMaxBytes = integer('NATS_MAX_BYTES', 1024 ** 2, Number.MAX_SAFE_INTEGER);
  const natsDuplicateWindowSec = integer('NATS_DUPLICATE_WINDOW_SEC', 1, 24 * 3600);
  const natsReplicas = integer('NATS_REPLICAS', 1, 5);
  const spoolMaxBytes = integer('SPOOL_MAX_BYTES', 1024 ** 2, Number.MAX_SAFE_INTEGER);
  const maxSeriesPerHour = integer('MAX_SERIES_PER_HOUR', 1, 100_000_000);
  const natsStream = raw(byEnv('NATS_STREAM')) as string;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(natsStream)) bad(byEnv('NATS_STREAM'), natsStream, 'expected 1 to 64 letters, digits, _ or -');
  const gatewayIdRaw = raw(byEnv('GATEWAY_ID'));
  if (gatewayIdRaw !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(gatewayIdRaw)) bad(byEnv('GATEWAY_ID'), gatewayIdRaw, 'expected 1 to 64 letters, digits, _ or -');
  const partitionsRaw = raw(byEnv('ROLLUP_PARTITIONS')) as string;
  let rollupPartitions: number[] | undefined;
  if (partitionsRaw === 'all') {
    rollupPartitions = Array.from({ length: natsPartitions }, (_, p) => p);
  } else if (partitionsRaw !== 'shared') {
    const list = partitionsRaw.split(',');
    if (!list.every((p) => /^\d{1,4}$/.test(p)) || list.some((p) => Number(p) >= natsPartitions)) {
      bad(byEnv('ROLLUP_PARTITIONS'), partitionsRaw, `expected shared, all, or partition numbers 0..${natsPartitions - 1} separated by commas`);
    } else {
      rollupPartitions = [...new Set(list.map(Number))].sort((a, b) => a - b);
    }
  }
  const leaseTtlMs = integer('LEASE_TTL_MS', 3000, 60_000);
  const influxUrl = url('INFLUX_URL', ['http:', 'https:']);
  const influxApi = oneOf('INFLUX_API', INFLUX_APIS);
  const logLevel = oneOf('LOG_LEVEL', LOG_LEVELS);
  const failpointRaw = raw(byEnv('FAILPOINT'));
  if (failpointRaw !== undefined && !(FAILPOINTS as readonly string[]).includes(failpointRaw)) bad(byEnv('FAILPOINT'), failpointRaw, `expected one of ${FAILPOINTS.join(', ')}`);

  const prometheusRaw = raw(byEnv('PROMETHEUS_ADDRESS')) as string;
  const prometheusAddress = prometheusRaw === 'off' ? undefined : hostPort('PROMETHEUS_ADDRESS');
  const expositionMaxSeries = integer('EXPOSITION_MAX_SERIES', 1, 100_000_000);
  const mappingFileRaw = raw(byEnv('STATSD_MAPPING_CONFIG'));
  let mapping: Mapping | undefined;
  if (mappingFileRaw !== undefined) {
    try {
      mapping = readMappingFile(mappingFileRaw);
    } catch (err) {
      if (err instanceof MappingError) for (const p of err.problems) bad(byEnv('STATSD_MAPPING_CONFIG'), mappingFileRaw, p);
      else bad(byEnv('STATSD_MAPPING_CONFIG'), mappingFileRaw, `cannot read it: ${(err as Error).message}`);
    }
  }

  const pick = (name: string) => raw(byEnv(name));
  let influx: InfluxConfig | undefined;
  if (influxUrl !== undefined) {
    influx = {
      url: influxUrl,
      api: influxApi,
      token: pick('INFLUX_TOKEN'),
      org: pick('INFLUX_ORG'),
      bucket: pick('INFLUX_BUCKET'),
      database: pick('INFLUX_DATABASE'),
    };
    const need = influxApi === 'v2' ? ['INFLUX_TOKEN', 'INFLUX_ORG', 'INFLUX_BUCKET'] : ['INFLUX_DATABASE'];
    for (const n of need) if (pick(n) === undefined) problems.push(`${n}: required when INFLUX_URL is set and INFLUX_API=${influxApi}`);
  }

  if (natsUrl === undefined && (role === 'gateway' || role === 'rollup' || role === 'replay')) {
    problems.push(`NATS_URL: required for the ${role} role (only the all role can use the in-process bus)`);
  }

  let agent: AgentConfig | undefined;
  if (role === 'agent') {
    const filesSetting = byEnv('AGENT_FILES');
    const filesRaw = raw(filesSetting);
    const files = (filesRaw ?? '').split(',').map((f) => f.trim()).filter((f) => f.length > 0);
    if (filesRaw === undefined) problems.push('AGENT_FILES: required for the agent role (comma-separated globs, e.g. /var/log/app/*.log)');
    else if (files.length === 0) bad(filesSetting, filesRaw, 'expected one or more globs separated by commas');
    const formatSetting = byEnv('AGENT_FORMAT');
    const formatRaw = raw(formatSetting) as string;
    let format: AgentFormat | undefined;
    try {
      format = parseAgentFormat(formatRaw);
    } catch (err) {
      if (!(err instanceof AgentFormatError)) throw err;
      bad(formatSetting, formatRaw, err.message);
    }
    const gatewayUrl = url('AGENT_GATEWAY_URL', ['http:', 'https:']);
    if (raw(byEnv('AGENT_GATEWAY_URL')) === undefined) problems.push('AGENT_GATEWAY_URL: required for the agent role (the gateway\'s HTTP address, e.g. http://gw:8080)');
    if (format !== undefined && gatewayUrl !== undefined) agent = Object.freeze({ files: Object.freeze(files), format, gatewayUrl });
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    role: role as Role,
    statsdAddress,
    httpAddress,
    dataDir: path.resolve(dataDirRaw),
    flushIntervalMs,
    udpRecvBufferBytes,
    maxLineBytes,
    maxBatchLines,
    maxHttpBodyBytes,
    natsUrl,
    nats:
      natsUrl === undefined
        ? undefined
        : Object.freeze({ url: natsUrl, stream: natsStream, partitions: natsPartitions, maxAgeSec: natsMaxAgeSec, maxBytes: natsMaxBytes, duplicateWindowSec: natsDuplicateWindowSec, replicas: natsReplicas }),
    rollupPartitions: rollupPartitions && Object.freeze(rollupPartitions),
    leaseTtlMs,
    spoolMaxBytes,
    maxSeriesPerHour,
    gatewayId: (gatewayIdRaw ?? `${os.hostname()}-${process.pid}`).replace(/[^A-Za-z0-9_-]/g, '_'),
    influx: influx && Object.freeze(influx),
    logLevel,
    prometheusAddress,
    mappingFile: mappingFileRaw === undefined ? undefined : path.resolve(mappingFileRaw),
    mapping: mapping ?? loadMapping(''),
    expositionMaxSeries,
    failpoint: failpointRaw as Failpoint | undefined,
    agent,
  });
}

/** Reads and checks a statsd_exporter mapping file: at start and on SIGHUP. Throws MappingError or a read error. */
export function readMappingFile(file: string): Mapping {
  return loadMapping(fs.readFileSync(file, 'utf8'));
}
