/**
 * `hourglass <all|gateway|rollup|query|agent> [--option value ...]`: the one place that reads
 * process.env and argv. A bad configuration exits 2 with every problem named (SPEC §2).
 */
import { parseArgs } from 'node:util';
import { systemClock, type Logger } from '../core/index.js';
import { openStore } from '../store/index.js';
import { startAgentRole } from './agent-role.js';
import { ConfigError, ROLES, SETTINGS, parseConfig, type Config } from './config.js';
import { startEmbedded } from './embedded.js';
import { startGatewayRole } from './gateway-role.js';
import { createLogger } from './logger.js';
import { startQueryRole } from './query-role.js';
import { startRollupRole } from './rollup-role.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_CONFIG = 2;

interface Output {
  out(text: string): void;
  err(text: string): void;
}

export function usage(): string {
  const rows = SETTINGS.map((s) => `  --${s.flag.padEnd(24)} ${s.env.padEnd(22)} ${s.help}${s.defaultValue !== undefined ? ` (default ${s.defaultValue})` : ''}`);
  return [
    'Usage: hourglass <role> [--option value ...]',
    '',
    'Roles:',
    '  all       gateway, rollup and query in one process (the embedded default: in-process bus, SQLite)',
    '  gateway   StatsD listeners publishing to NATS JetStream (needs NATS_URL)',
    '  rollup    hourly rollup worker consuming NATS JetStream (needs NATS_URL)',
    '  query     the HTTP query API over the store',
    '  agent     follows log files (AGENT_FILES) and sends their lines to a gateway (AGENT_GATEWAY_URL)',
    '',
    'Options (a flag overrides the environment variable beside it):',
    ...rows,
    '  --help                   this text',
    '',
    'Exit codes: 0 stopped cleanly, 1 failed while running, 2 bad configuration.',
  ].join('\n');
}

/** Refuses what this version cannot run yet, naming the setting. */
function unsupported(config: Config): string[] {
  const problems: string[] = [];
  if (config.natsUrl !== undefined && config.role === 'all') problems.push('NATS_URL: the all role runs the in-process bus only; run the gateway, rollup and query roles as separate processes to use NATS');
  if (config.influx !== undefined && config.role === 'all') problems.push('INFLUX_URL: the all role keeps the embedded SQLite store; run the rollup and query roles to use InfluxDB');
  return problems;
}

function startRole(config: Config, logger: Logger): Promise<{ close(): Promise<void>; reloadMapping?(): boolean }> {
  switch (config.role) {
    case 'all':
      return startEmbedded({ config, logger });
    case 'gateway':
      return startGatewayRole(config, logger);
    case 'rollup':
      return startRollupRole(config, openStore(config, systemClock), logger);
    case 'query':
      return startQueryRole(config, logger);
    case 'agent':
      return startAgentRole(config, logger);
  }
}

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
    for (const s of SETTINGS) options[s.flag] = { type: 'string' };
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options }) as typeof parsed;
  } catch (err) {
    io.err(`hourglass: ${(err as Error).message}\n\n${usage()}\n`);
    return EXIT_BAD_CONFIG;
  }
  if (parsed.values.help) {
    io.out(`${usage()}\n`);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) {
    io.err(`hourglass: name one role: ${ROLES.join(', ')}\n\n${usage()}\n`);
    return EXIT_BAD_CONFIG;
  }
  const flags = Object.fromEntries(Object.entries(parsed.values).filter(([k]) => k !== 'help')) as Record<string, string>;
  let config: Config;
  try {
    config = parseConfig(parsed.positionals[0], env, flags);
    const problems = unsupported(config);
    if (problems.length > 0) throw new ConfigError(problems);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`hourglass: ${err.message}\n`);
    return EXIT_BAD_CONFIG;
  }

  const logger = createLogger(config.logLevel);
  let running: { close(): Promise<void>; reloadMapping?(): boolean };
  try {
    running = await startRole(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'hourglass could not start');
    return EXIT_FAILED;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without a final flush');
      process.exit(EXIT_FAILED);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: flushing what is pending');
    running.close().then(
      () => process.exit(EXIT_OK),
      (err: unknown) => {
        logger.fatal({ err }, 'stop failed');
        process.exit(EXIT_FAILED);
      },
    );
  };
  // statsd_exporter reloads its mapping file on SIGHUP; a bad file keeps the old one (logged)
  process.on('SIGHUP', () => {
    if (running.reloadMapping === undefined || config.mappingFile === undefined) logger.info('SIGHUP: no mapping file to reload');
    else running.reloadMapping();
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return EXIT_OK;
}
