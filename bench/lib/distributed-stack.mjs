// distributed-stack: the distributed Hourglass on this machine for the benchmark: nats-server
// (JetStream, file storage), influxd 1.x, and hourglass gateway, rollup and query processes, each
// started through children.mjs (stopped by PID) on ports of its own, and read through /metrics.
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstStdoutMatch, startChild, stopChild } from './children.mjs';
import { sumMetrics } from './metrics-text.mjs';
import { freePort } from './net.mjs';
import { waitFor } from './wait.mjs';

const REPO_DIR = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
/** A process that does not answer /metrics within this is reported as unreachable, not waited for. */
const METRICS_TIMEOUT_MS = 2000;

async function startNats(root) {
  const port = await freePort();
  const child = startChild('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(root, 'nats')]);
  const accepts = () =>
    new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  await waitFor(accepts, { what: 'nats-server', abort: child.exited });
  return { child, url: `nats://127.0.0.1:${port}` };
}

export async function startInfluxd(root) {
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const dir = path.join(root, 'influxd');
  mkdirSync(dir, { recursive: true });
  const config = `reporting-disabled = true\nbind-address = "127.0.0.1:${rpcPort}"\n[meta]\n  dir = "${dir}/meta"\n[data]\n  dir = "${dir}/data"\n  wal-dir = "${dir}/wal"\n  query-log-enabled = false\n  max-values-per-tag = 0\n[monitor]\n  store-enabled = false\n[http]\n  bind-address = "127.0.0.1:${httpPort}"\n  log-enabled = false\n[logging]\n  level = "warn"\n`;
  writeFileSync(path.join(dir, 'influxdb.conf'), config);
  const child = startChild('influxd', ['-config', path.join(dir, 'influxdb.conf')]);
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await fetch(`${url}/ping`).catch(() => undefined))?.status === 204, { what: 'influxd', abort: child.exited });
  return { child, url };
}

/** One `hourglass <role>` process; its ports are read from the "hourglass listening" log line. */
async function startRole(role, name, env) {
  // BENCH_NODE_ARGS: node flags for every role, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = startChild(process.execPath, [...nodeArgs, path.join(REPO_DIR, 'bin/hourglass.js'), role], {
    cwd: REPO_DIR,
    env: { ...process.env, STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', ...env },
  });
  const listening = await firstStdoutMatch(
    child,
    (line) => {
      const entry = JSON.parse(line);
      return entry.msg === 'hourglass listening' ? entry : undefined;
    },
    `hourglass ${role}`,
  );
  const port = (hostPort) => Number(String(hostPort).split(':').pop());
  return { child, role, name, statsdPort: port(listening.statsd), httpPort: port(listening.http) };
}

/**
 * A role's /metrics, each metric summed over its label sets (a Map); undefined when the process
 * does not answer (exited, stopped), so that a dead or frozen worker never stalls the benchmark.
 */
export async function readMetrics(role) {
  try {
    const response = await fetch(`http://127.0.0.1:${role.httpPort}/metrics`, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
    return response.ok ? sumMetrics(await response.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of `metric` over `roles`; a role that does not answer counts 0. */
export async function sumMetric(roles, metric) {
  const all = await Promise.all(roles.map(readMetrics));
  return all.reduce((total, metrics) => total + (metrics?.get(metric) ?? 0), 0);
}

/** Partitions each worker holds a lease on, by worker name (null: the worker does not answer). */
export async function partitionsOwned(workers) {
  const owned = (await Promise.all(workers.map(readMetrics))).map((metrics) => metrics?.get('hourglass_rollup_partitions_owned'));
  return Object.fromEntries(workers.map((w, i) => [w.name, owned[i] ?? null]));
}

/**
 * Waits until the workers, sharing the partitions through their leases, own every partition
 * between them and are balanced within one partition, so no handover falls into a measurement.
 */
export async function waitForPartitionsShared(workers, partitions, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const owned = Object.values(await partitionsOwned(workers));
      if (owned.includes(null)) return undefined;
      const sum = owned.reduce((a, b) => a + b, 0);
      return sum === partitions && Math.max(...owned) - Math.min(...owned) <= 1 ? owned : undefined;
    },
    { what: `${workers.length} rollup workers to share ${partitions} partitions`, timeoutMs, intervalMs: 250 },
  );
}

/**
 * Starts nats-server, influxd (database `database`), `gateways` gateways, `workers` rollup
 * workers with identical settings (they share the partitions by leases) and one query role.
 */
export async function startDistributedStack({ root, gateways, workers, partitions, database }) {
  const [nats, influx] = await Promise.all([startNats(root), startInfluxd(root)]);
  // LOG_LEVEL info: the ports are read from the "hourglass listening" line
  const common = { NATS_URL: nats.url, NATS_PARTITIONS: String(partitions), INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: database, LOG_LEVEL: 'info' };
  const start = (role, name) => startRole(role, name, { ...common, DATA_DIR: path.join(root, name) });
  const stack = { nats, influx, gateways: [], workers: [], query: undefined };
  for (let i = 0; i < gateways; i++) stack.gateways.push(await start('gateway', gateways === 1 ? 'gateway' : `gateway-${i + 1}`));
  stack.workers = await Promise.all(Array.from({ length: workers }, (_, i) => start('rollup', `worker-${i + 1}`)));
  stack.query = await start('query', 'query');
  return stack;
}

/** Every process of the stack by name, for CPU and memory accounting. */
export function stackProcesses(stack) {
  return Object.fromEntries([...stack.gateways, ...stack.workers, stack.query].map((r) => [r.name, r.child]).concat([['nats-server', stack.nats.child], ['influxd', stack.influx.child]]));
}

export async function stopDistributedStack(stack) {
  for (const role of [stack.query, ...stack.workers, ...stack.gateways]) if (role) await stopChild(role.child);
  await Promise.all([stopChild(stack.nats.child), stopChild(stack.influx.child)]);
}
