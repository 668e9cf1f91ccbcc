import path from 'node:path';

export const ROLES = ['all', 'gateway', 'rollup', 'query'] as const;
export type Role = (typeof ROLES)[number];

export const INFLUX_APIS = ['v2', 'v1'] as const;
export type InfluxApi = (typeof INFLUX_APIS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface InfluxConfig {
  readonly url: string;
  readonly api: InfluxApi;
  readonly token: string | undefined;
  readonly org: string | undefined;
  readonly bucket: string | undefined;
  readonly database: string | undefined;
}

export interface Config {
  readonly role: Role;
  readonly statsdAddress: HostPort;
  readonly httpAddress: HostPort;
  readonly dataDir: string;
  readonly flushIntervalMs: number;
  readonly udpRecvBufferBytes: number;
  readonly maxLineBytes: number;
  readonly maxBatchLines: number;
  readonly natsUrl: string | undefined;
  readonly influx: InfluxConfig | undefined;
  readonly logLevel: LogLevel;
}

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
  { env: 'NATS_URL', flag: 'nats-url', defaultValue: undefined, help: 'set: NATS JetStream bus; unset: in-process bus (all role only)' },
  { env: 'INFLUX_URL', flag: 'influx-url', defaultValue: undefined, help: 'set: InfluxDB store; unset: embedded SQLite store' },
  { env: 'INFLUX_API', flag: 'influx-api', defaultValue: 'v2', help: 'v2 (token/org/bucket, Flux) or v1 (database, InfluxQL; also InfluxDB 3)' },
  { env: 'INFLUX_TOKEN', flag: 'influx-token', defaultValue: undefined, help: 'InfluxDB token (v2; optional for v1)' },
  { env: 'INFLUX_ORG', flag: 'influx-org', defaultValue: undefined, help: 'InfluxDB organisation (v2)' },
  { env: 'INFLUX_BUCKET', flag: 'influx-bucket', defaultValue: undefined, help: 'InfluxDB bucket (v2)' },
  { env: 'INFLUX_DATABASE', flag: 'influx-database', defaultValue: undefined, help: 'InfluxDB database (v1)' },
  { env: 'LOG_LEVEL', flag: 'log-level', defaultValue: 'info', help: `pino level: ${LOG_LEVELS.join(', ')}` },
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
  const natsUrl = url('NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']);
  const influxUrl = url('INFLUX_URL', ['http:', 'https:']);
  const influxApi = oneOf('INFLUX_API', INFLUX_APIS);
  const logLevel = oneOf('LOG_LEVEL', LOG_LEVELS);

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

  if (natsUrl === undefined && (role === 'gateway' || role === 'rollup')) {
    problems.push(`NATS_URL: required for the ${role} role (only the all role can use the in-process bus)`);
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
    natsUrl,
    influx: influx && Object.freeze(influx),
    logLevel,
  });
}
