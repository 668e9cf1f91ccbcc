/**
 * Real servers for tests: nats-server (JetStream), influxd 1.x, prometheus and alertmanager from
 * Debian's packages, each on 127.0.0.1 with ports and a temporary folder of its own, ready when a real
 * signal says so (a ports file, an HTTP ping), stopped by PID. Modelled on nats.js's test
 * launcher. A missing binary fails with the Debian package to install, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GiveUp, eventually } from './eventually.js';

const READY_TIMEOUT_MS = 20_000;
const POLL_MS = 25;

export class MissingServerError extends Error {
  override readonly name = 'MissingServerError';
  readonly code = 'HG_ERR_MISSING_SERVER';
  constructor(binary: string, debianPackage: string) {
    super(`${binary} is not installed: apt-get install ${debianPackage} (npm test installs it when run as root)`);
  }
}

function requireBinary(binary: string, debianPackage: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).stdout.trim();
  if (found === '') throw new MissingServerError(binary, debianPackage);
  return found;
}

/** A port that was free a moment ago (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until<T>(what: string, child: ChildProcess, check: () => Promise<T | undefined>, log: () => string): Promise<T> {
  try {
    return await eventually(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new GiveUp(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
        return check();
      },
      `${what} to be ready`,
      { timeoutMs: READY_TIMEOUT_MS, pollMs: POLL_MS },
    );
  } catch (err) {
    if (err instanceof GiveUp) throw err;
    throw new Error(`${(err as Error).message}\n${log()}`);
  }
}

async function httpOk(url: string): Promise<true | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  return res.ok ? true : undefined;
}

/** A child process with its own folder, its output kept for error messages. */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly name: string,
    readonly dir: string,
    private readonly binary: string,
    private readonly args: readonly string[],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process; `ready` polls for the readiness signal. */
  async start<T>(ready: (child: ChildProcess) => Promise<T | undefined>): Promise<T> {
    this.output = '';
    const child = spawn(this.binary, [...this.args], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return until(this.name, child, () => ready(child), () => this.output);
  }

  /** Sends `signal` to the process by PID and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid as number, signal);
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the process and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `hourglass-${prefix}-`));

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly process: ServerProcess;
  /** Starts it again on the same port and store (after stop or a SIGKILL). */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** nats-server with JetStream on file storage in its own folder. */
export async function startNatsServer(): Promise<NatsServer> {
  const binary = requireBinary('nats-server', 'nats-server');
  const dir = tempDir('nats');
  const port = await freePort();
  const server = new ServerProcess('nats-server', dir, binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(dir, 'jetstream'), '--ports_file_dir', dir]);
  // Ready when the server has written its ports file and accepts TCP.
  const ready = async (child: ChildProcess) => {
    if (!fs.existsSync(path.join(dir, `nats-server_${child.pid}.ports`))) return undefined;
    return new Promise<true | undefined>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(undefined));
    });
  };
  await server.start(ready);
  return { url: `nats://127.0.0.1:${port}`, port, process: server, restart: () => server.start(ready).then(() => undefined), dispose: () => server.dispose() };
}

export interface Influxd {
  readonly url: string;
  readonly port: number;
  readonly process: ServerProcess;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * influxd 1.x (the 1.x HTTP API and InfluxQL) with its data, WAL and meta in its own folder.
 * `maxValuesPerTag` makes it refuse points past that many values of one tag (a poison point).
 */
export async function startInfluxd(options: { maxValuesPerTag?: number } = {}): Promise<Influxd> {
  const binary = requireBinary('influxd', 'influxdb');
  const dir = tempDir('influxd');
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = [
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]',
    `  dir = "${path.join(dir, 'meta')}"`,
    '[data]',
    `  dir = "${path.join(dir, 'data')}"`,
    `  wal-dir = "${path.join(dir, 'wal')}"`,
    '  query-log-enabled = false',
    `  max-values-per-tag = ${options.maxValuesPerTag ?? 100000}`,
    '[monitor]',
    '  store-enabled = false',
    '[http]',
    `  bind-address = "127.0.0.1:${httpPort}"`,
    '  log-enabled = false',
    '[logging]',
    '  level = "warn"',
    '[continuous_queries]',
    '  enabled = false',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'influxdb.conf'), `${config}\n`);
  const url = `http://127.0.0.1:${httpPort}`;
  const server = new ServerProcess('influxd', dir, binary, ['-config', path.join(dir, 'influxdb.conf')]);
  const ready = async () => {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    return res.status === 204 ? true : undefined;
  };
  await server.start(ready);
  return { url, port: httpPort, process: server, restart: () => server.start(ready).then(() => undefined), dispose: () => server.dispose() };
}

export interface Prometheus {
  readonly url: string;
  readonly process: ServerProcess;
  dispose(): Promise<void>;
}

export interface PrometheusOptions {
  /** Alerting rule files (absolute paths), evaluated every scrape interval. */
  readonly ruleFiles?: readonly string[];
  /** host:port of the Alertmanager the alerts go to. */
  readonly alertmanager?: string;
  /** Job name of the scrape config (the `job` label of every scraped series). */
  readonly jobName?: string;
  /**
   * Remote-writes everything it scrapes here (1.0), with short deadlines and backoffs so a test
   * sees samples within about a second, and metadata every second.
   */
  readonly remoteWriteUrl?: string;
}

/** prometheus scraping `targets` (host:port) every `scrapeIntervalMs`. */
export async function startPrometheus(targets: readonly string[], scrapeIntervalMs = 1000, options: PrometheusOptions = {}): Promise<Prometheus> {
  const binary = requireBinary('prometheus', 'prometheus');
  const dir = tempDir('prometheus');
  const port = await freePort();
  const config = [
    'global:',
    `  scrape_interval: ${scrapeIntervalMs}ms`,
    `  evaluation_interval: ${scrapeIntervalMs}ms`,
    ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((f) => `  - '${f}'`)] : []),
    ...(options.alertmanager !== undefined ? ['alerting:', '  alertmanagers:', '    - static_configs:', `        - targets: ['${options.alertmanager}']`] : []),
    'scrape_configs:',
    `  - job_name: ${options.jobName ?? 'hourglass'}`,
    '    static_configs:',
    `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
  ];
  if (options.remoteWriteUrl !== undefined) {
    config.push(
      'remote_write:',
      `  - url: '${options.remoteWriteUrl}'`,
      '    queue_config:',
      '      batch_send_deadline: 200ms',
      '      min_backoff: 50ms',
      '      max_backoff: 500ms',
      '    metadata_config:',
      '      send_interval: 1s',
    );
  }
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${config.join('\n')}\n`);
  const url = `http://127.0.0.1:${port}`;
  const server = new ServerProcess('prometheus', dir, binary, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  await server.start(() => httpOk(`${url}/-/ready`));
  return { url, process: server, dispose: () => server.dispose() };
}

export interface Alertmanager {
  readonly url: string;
  /** host:port, for Prometheus's alerting section. */
  readonly address: string;
  readonly process: ServerProcess;
  dispose(): Promise<void>;
}

/**
 * Alertmanager (Debian's prometheus-alertmanager) with the configuration `configYaml`, its
 * notification log and silences in its own folder, and clustering off (an empty
 * --cluster.listen-address): a lone instance that neither binds the gossip port 9094 nor waits
 * for peers before it notifies.
 */
export async function startAlertmanager(configYaml: string): Promise<Alertmanager> {
  const binary = requireBinary('prometheus-alertmanager', 'prometheus-alertmanager');
  const dir = tempDir('alertmanager');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'alertmanager.yml'), configYaml);
  const address = `127.0.0.1:${port}`;
  const server = new ServerProcess('alertmanager', dir, binary, [
    `--config.file=${path.join(dir, 'alertmanager.yml')}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=${address}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ]);
  const url = `http://${address}`;
  await server.start(() => httpOk(`${url}/-/ready`));
  return { url, address, process: server, dispose: () => server.dispose() };
}
