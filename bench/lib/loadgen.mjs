// loadgen: builds bench/loadgen.c (the C sender, far faster than any Node receiver) and runs it.
// The line and datagram counts it prints are the ground truth receivers are checked against.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild } from './children.mjs';

const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SOURCE = path.join(BENCH_DIR, 'loadgen.c');
const BINARY = path.join(BENCH_DIR, 'build', 'loadgen');

/** Compiles the sender unless the binary is newer than its source. */
export function buildLoadgen() {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return;
  mkdirSync(path.dirname(BINARY), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', BINARY, SOURCE], { stdio: 'inherit' });
}

/**
 * Sends timer lines to 127.0.0.1:`port`; stops after `seconds` or `lines`, whichever is given.
 * `rate` is in lines/s (0: as fast as possible). Resolves with what was sent:
 * { lines, datagrams, seconds, linesPerSecond, sendErrors }.
 */
export async function sendLoad({ port, rate, seconds, lines, linesPerDatagram, keys, timestamp }) {
  const args = ['--port', port, '--rate', rate, '--lines-per-datagram', linesPerDatagram, '--keys', keys];
  if (seconds) args.push('--seconds', seconds);
  if (lines) args.push('--lines', lines);
  if (timestamp) args.push('--timestamp', timestamp);
  const child = startChild(BINARY, args.map(String));
  let stdout = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  // 'close' (unlike 'exit') waits for stdout to be read to its end.
  const [code, signal] = await once(child, 'close');
  const sendErrorsOnly = code === 1 && stdout.startsWith('{');
  if (code !== 0 && !sendErrorsOnly) throw new Error(`loadgen failed (${signal ?? code}): ${child.outputTail.trim()}`);
  return JSON.parse(stdout);
}

/**
 * Lines a run of `lines` lines gave key number `key` (`bench.k<key>`, 5 digits) of `keys`. The
 * generator's pool holds a whole number of rounds of the keys and every run starts at its first
 * line, so line i of a run goes to key i mod keys: each key gets floor(lines / keys) lines, and
 * the first (lines mod keys) keys one more.
 */
export function linesOfKey(lines, keys, key) {
  return Math.floor(lines / keys) + (key < lines % keys ? 1 : 0);
}

/** The generator's name for key number `key`. */
export const keyName = (key) => `bench.k${String(key).padStart(5, '0')}`;
