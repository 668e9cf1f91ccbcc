/**
 * `hourglass <all|gateway|rollup|query|agent|replay> [--option value ...]`: the one place that reads
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
import { REPLAY_OPTIONS, parseReplayRange, runReplay, type ReplayRange } from './replay-role.js';
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
    '  replay    rebuilds the hours in [--from, --to) from the NATS stream into the store, then exits (needs NATS_URL)',
    '',
    'Replay options:',
    '  --from <time>            first hour rebuilt: RFC 3339 (2026-11-22T21:00:00Z) or a UTC hour YYYY-MM-DDTHH',
    '  --to <time>              end of the range, exclusive; its hours must have ended 10 minutes ago at least',
    '  --early-sec <seconds>    also read batches stored this long before --from (samples stamped |T ahead of time) (default 300)',
    '',
    'Options (a flag overrides the environment variable beside it):',
    ...rows,
    '  --help                   this text',
    '',
    'Exit codes: 0 stopped cleanly (replay: rebuilt), 1 failed while running, 2 bad configuration (replay: or refused, saying why).',
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
    case 'replay':
      throw new Error('replay is a command that runs to its end, not a role that keeps running (main calls replay())');
  }
}

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' }, ...REPLAY_OPTIONS };
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
  const replayFlags = Object.keys(REPLAY_OPTIONS);
  const flags = Object.fromEntries(Object.entries(parsed.values).filter(([k]) => k !== 'help' && !replayFlags.includes(k))) as Record<string, string>;
  const role = parsed.positionals[0];
  let config: Config;
  let range: ReplayRange | undefined;
  try {
    const problems: string[] = [];
    let parsedConfig: Config | undefined;
    try {
      parsedConfig = parseConfig(role, env, flags);
      problems.push(...unsupported(parsedConfig));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
    if (role === 'replay') {
      const r = parseReplayRange(parsed.values as { from?: string; to?: string; 'early-sec'?: string }, Date.now());
      if ('problems' in r) problems.push(...r.problems);
      else range = r;
    } else {
      for (const f of replayFlags) if (parsed.values[f] !== undefined) problems.push(`--${f}: an option of the replay command only`);
    }
    if (problems.length > 0) throw new ConfigError(problems);
    config = parsedConfig as Config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`hourglass: ${err.message}\n`);
    return EXIT_BAD_CONFIG;
  }
  if (range !== undefined) return replay(config, range, io);

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

/** `hourglass replay`: runs to the end; refused is exit 2 with the reason. */
async function replay(config: Config, range: ReplayRange, io: Output): Promise<number> {
  const logger = createLogger(config.logLevel);
  const store = openStore(config, systemClock);
  try {
    const outcome = await runReplay({ config, range, store, logger, clock: systemClock, progress: process.stderr });
    if ('refused' in outcome) {
      io.err(`hourglass replay: refused: ${outcome.refused}\n`);
      return EXIT_BAD_CONFIG;
    }
    const r = outcome.report;
    io.err(`hourglass replay: rebuilt ${(range.toSec - range.fromSec) / 3600} hours: ${r.batchesRead} batches read, ${r.batchesApplied} applied, ${r.valuesApplied} values, ${r.rowsWritten} rows written` +
      `${r.batchesUndecodable > 0 ? `, ${r.batchesUndecodable} undecodable batches skipped` : ''}${r.seriesRefused > 0 ? `, ${r.seriesRefused} series refused (MAX_SERIES_PER_HOUR)` : ''}${r.rowsRejected > 0 ? `, ${r.rowsRejected} rows refused by the store` : ''}\n`);
    return EXIT_OK;
  } catch (err) {
    logger.fatal({ err }, 'replay failed; the hours of the range may be partly rebuilt: run it again');
    io.err(`hourglass replay: failed: ${(err as Error).message}; the hours of the range may be partly rebuilt: run it again\n`);
    return EXIT_FAILED;
  } finally {
    await store.close().catch(() => undefined);
  }
}
