// receivers: starts the three UDP receivers the benchmark compares and gives them one shape:
//   { name, pid, udpPort, quietMs, counts(), stop() }
// counts() resolves with { lines, rejected, ownDrops, backlog }: lines the receiver has counted
// so far, lines it refused as invalid, drops it reports itself (kernel drops are read from /proc
// for all receivers alike) and lines counted but still on their way through its later stages
// (Hourglass: not yet applied by the rollup), so that a step can end with the receiver idle.
// quietMs is how long its count may stay still while it still has work in hand (StatsD only
// reports at its 1 s flush).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstStdoutMatch, onStdoutLine, startChild, stopChild } from './children.mjs';
import { sumMetrics } from './metrics-text.mjs';
import { freePort, httpGet } from './net.mjs';
import { udpSocketStats } from './procfs.mjs';
import { waitFor } from './wait.mjs';

const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const REPO_DIR = path.dirname(BENCH_DIR);
const STATSD_FLUSH_MARKER = 'hourglass-bench-flush ';
const FLUSH_INTERVAL_MS = 1000;

export const RECEIVERS = {
  null: { label: 'null receiver', start: startNullReceiver },
  statsd: { label: 'StatsD 0.9.0', start: startStatsd },
  hourglass: { label: 'Hourglass', start: startHourglass },
};

/** Temporary directories of running receivers; whatever is left is removed at exit. */
const tempDirs = new Set();
process.on('exit', () => tempDirs.forEach(removeDir));

function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function makeTempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function waitForUdpSocket(child, port, what) {
  return waitFor(() => udpSocketStats(port) !== undefined, { what: `${what} UDP socket`, abort: child.exited });
}

/** Runs `ready`; if it fails, stops the half-started child before passing the error on. */
async function readyOrStop(child, cleanUp, ready) {
  try {
    return await ready();
  } catch (error) {
    await stopChild(child);
    cleanUp();
    throw error;
  }
}

async function startNullReceiver({ recvBufferBytes }) {
  const child = startChild(process.execPath, [path.join(BENCH_DIR, 'null-receiver.mjs'), String(recvBufferBytes)]);
  const ports = await readyOrStop(child, () => {}, () =>
    firstStdoutMatch(child, (line) => JSON.parse(line), 'null receiver'),
  );
  return {
    name: 'null',
    pid: child.pid,
    udpPort: ports.udpPort,
    quietMs: 500,
    async counts() {
      const { lines } = JSON.parse((await httpGet(ports.httpPort, '/counts')).body);
      return { lines, rejected: 0, ownDrops: 0, backlog: 0 };
    },
    stop: () => stopChild(child),
  };
}

function statsdConfig({ udpPort, mgmtPort, recvBufferBytes }) {
  return {
    servers: [
      {
        server: path.join(BENCH_DIR, 'statsd-udp-server.cjs'),
        address: '127.0.0.1',
        port: udpPort,
        recvBufferSize: recvBufferBytes,
      },
    ],
    mgmt_address: '127.0.0.1',
    mgmt_port: mgmtPort,
    flushInterval: FLUSH_INTERVAL_MS,
    backends: [path.join(BENCH_DIR, 'statsd-null-backend.cjs')],
    automaticConfigReload: false,
  };
}

async function startStatsd({ recvBufferBytes }) {
  const udpPort = await freePort({ udp: true });
  const mgmtPort = await freePort();
  const dir = makeTempDir('hourglass-bench-statsd-');
  const configFile = path.join(dir, 'config.js');
  writeFileSync(configFile, JSON.stringify(statsdConfig({ udpPort, mgmtPort, recvBufferBytes }), null, 2));

  const child = startChild(process.execPath, [path.join(REPO_DIR, 'node_modules/statsd/stats.js'), configFile]);
  const flushes = [];
  onStdoutLine(child, (line) => {
    if (line.startsWith(STATSD_FLUSH_MARKER)) flushes.push(JSON.parse(line.slice(STATSD_FLUSH_MARKER.length)));
  });
  await readyOrStop(child, () => removeDir(dir), () => waitForUdpSocket(child, udpPort, 'StatsD'));
  return {
    name: 'statsd',
    pid: child.pid,
    udpPort,
    quietMs: 2 * FLUSH_INTERVAL_MS + 500,
    flushes,
    async counts() {
      const last = flushes.at(-1);
      return { lines: last?.metricsReceived ?? 0, rejected: last?.badLines ?? 0, ownDrops: 0, backlog: 0 };
    },
    async stop() {
      await stopChild(child);
      removeDir(dir);
    },
  };
}

/**
 * Hourglass's counts from /metrics. The backlog (lines its rollup has not applied yet) needs
 * internal counters the contract does not promise; without them it is taken as 0.
 */
function hourglassCounts(metrics) {
  const value = (name) => metrics.get(name) ?? 0;
  const lines = value('hourglass_lines_received_total');
  const rejected = value('hourglass_lines_rejected_total');
  const settled = value('hourglass_rollup_values_applied_total') + value('hourglass_batch_values_dropped_total');
  return {
    lines,
    rejected,
    ownDrops: value('hourglass_udp_receive_drops_total'),
    backlog: metrics.has('hourglass_rollup_values_applied_total') ? Math.max(0, lines - rejected - settled) : 0,
  };
}

async function startHourglass({ recvBufferBytes }) {
  const udpPort = await freePort({ udp: true });
  const httpPort = await freePort();
  const dataDir = makeTempDir('hourglass-bench-data-');
  const env = {
    ...process.env,
    STATSD_ADDRESS: `127.0.0.1:${udpPort}`,
    HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
    PROMETHEUS_ADDRESS: '127.0.0.1:0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    FLUSH_INTERVAL_MS: String(FLUSH_INTERVAL_MS),
    UDP_RECV_BUFFER_BYTES: String(recvBufferBytes),
  };
  const child = startChild(process.execPath, [path.join(REPO_DIR, 'bin/hourglass.js'), 'all'], { cwd: REPO_DIR, env });
  const healthy = async () => (await httpGet(httpPort, '/healthz').catch(() => undefined))?.status === 200;
  await readyOrStop(child, () => removeDir(dataDir), async () => {
    await waitFor(healthy, { what: 'Hourglass /healthz', abort: child.exited });
    await waitForUdpSocket(child, udpPort, 'Hourglass');
  });
  return {
    name: 'hourglass',
    pid: child.pid,
    udpPort,
    httpPort,
    quietMs: 2 * FLUSH_INTERVAL_MS + 500,
    async counts() {
      return hourglassCounts(sumMetrics((await httpGet(httpPort, '/metrics')).body));
    },
    query: (key, stat, date, hour) => httpGet(httpPort, `/${encodeURIComponent(key)}/${stat}/${date}/${hour}`),
    async stop() {
      await stopChild(child);
      removeDir(dataDir);
    },
  };
}
