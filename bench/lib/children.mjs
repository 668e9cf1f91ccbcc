// children: every process the benchmark starts goes through here, so that each one is stopped
// by its PID when the run ends, fails or is interrupted, and no receiver outlives the benchmark.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';

const running = new Set();

/**
 * Starts a process. Its stdout and stderr are always drained (a child blocked on a full pipe
 * would distort any measurement) and their last few KB kept as `outputTail` for error messages;
 * callers may read stdout too.
 */
export function startChild(command, args, options = {}) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  child.outputTail = '';
  const keepTail = (chunk) => {
    child.outputTail = (child.outputTail + chunk).slice(-4000);
  };
  child.stdout.on('data', keepTail);
  child.stderr.on('data', keepTail);
  child.exited = once(child, 'exit');
  running.add(child);
  child.exited.then(() => running.delete(child));
  return child;
}

/** Calls `onLine` for every stdout line of `child`. */
export function onStdoutLine(child, onLine) {
  readline.createInterface({ input: child.stdout }).on('line', onLine);
}

/** Resolves with the first stdout line that `parse` turns into something other than undefined. */
export function firstStdoutMatch(child, parse, what) {
  return new Promise((resolve, reject) => {
    onStdoutLine(child, (line) => {
      const value = parse(line);
      if (value !== undefined) resolve(value);
    });
    child.exited.then(([code, signal]) =>
      reject(new Error(`${what} exited (${signal ?? code}) before it was ready: ${child.outputTail.trim()}`)),
    );
  });
}

/** Stops a child by its PID: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => kill(child), graceMs);
  await child.exited;
  clearTimeout(timer);
}

function kill(child) {
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function killAllChildren() {
  for (const child of running) kill(child);
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}
