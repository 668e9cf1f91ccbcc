/**
 * Hourglass as a user runs it, for tests: the built bin/hourglass.js in a child process (npm test
 * builds dist/ first), started on free ports and ready when it logs "hourglass listening".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import readline from 'node:readline';
import { eventually } from './eventually.js';

export { eventually };

export const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'hourglass.js');

export interface HourglassProcess {
  readonly child: ChildProcess;
  readonly statsdPort: number;
  readonly httpPort: number;
  /** The statsd_exporter-style exposition (gateway and all roles), unless PROMETHEUS_ADDRESS=off. */
  readonly prometheusPort: number | undefined;
  readonly exited: Promise<number | null>;
  /** What it has logged so far (stdout and stderr), for a failing test to show. */
  output(): string;
  /** Sends a signal by PID and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `hourglass <role>` with `env` (ports default to 127.0.0.1:0) and waits until it listens. */
export async function startHourglass(role: string, env: Record<string, string>): Promise<HourglassProcess> {
  const child = spawn(process.execPath, [BIN, role], {
    env: { PATH: process.env.PATH, STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const output: string[] = [];
  child.stderr?.on('data', (d) => output.push(String(d)));
  const listening = new Promise<{ statsd?: string; http: string; prometheus?: string }>((resolve, reject) => {
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output.push(line);
      const entry = JSON.parse(line) as { msg: string; statsd?: string; http: string; prometheus?: string };
      if (entry.msg === 'hourglass listening') resolve(entry);
    });
    void exited.then((code) => reject(new Error(`hourglass ${role} exited with ${code} before listening:\n${output.join('\n').slice(-4000)}`)));
  });
  const { statsd, http, prometheus } = await listening;
  const port = (hostPort: string | undefined) => Number(hostPort?.split(':').pop());
  return {
    child,
    statsdPort: port(statsd),
    httpPort: port(http),
    prometheusPort: prometheus === undefined || prometheus === 'off' ? undefined : port(prometheus),
    exited,
    output: () => output.join('\n'),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, signal);
      return exited;
    },
  };
}

export async function sendUdp(port: number, text: string): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => socket.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  socket.close();
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function metricValue(httpPort: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : NaN;
}
