/** Runs one of the client scripts in clients/ with its input as JSON on stdin. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientOp, ClientScriptInput } from './client-ops.js';
import { requireDebianPackage } from './system.js';

export interface ClientScript {
  /** The Debian package that provides the client library. */
  readonly debianPackage: string;
  readonly interpreter: string;
  /** File name under compat-tests/clients/. */
  readonly file: string;
}

export interface ClientScriptResult {
  /** Client calls the script made (sampled-out calls included). */
  readonly calls: number;
}

const CLIENTS_DIR = fileURLToPath(new URL('./clients/', import.meta.url));

export async function runClientScript(script: ClientScript, input: ClientScriptInput, timeoutMs = 30_000): Promise<ClientScriptResult> {
  requireDebianPackage(script.debianPackage);
  const child = spawn(script.interpreter, [CLIENTS_DIR + script.file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(JSON.stringify(input));

  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script.file} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${script.file}: cannot run ${script.interpreter}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  if (exitCode !== 0) throw new Error(`${script.file} exited with ${exitCode}; stderr:\n${stderr}`);
  try {
    return JSON.parse(stdout) as ClientScriptResult;
  } catch {
    throw new Error(`${script.file} printed no JSON result; stdout: ${stdout}; stderr: ${stderr}`);
  }
}

/** Runs `script` against the StatsD port on 127.0.0.1 and checks that it made every call. */
export async function driveClient(
  script: ClientScript,
  statsdPort: number,
  how: { readonly transport: 'udp' | 'tcp'; readonly batched: boolean },
  ops: readonly ClientOp[],
): Promise<void> {
  const result = await runClientScript(script, { host: '127.0.0.1', port: statsdPort, ...how, ops });
  if (result.calls !== ops.length) throw new Error(`${script.file} made ${result.calls} calls, expected ${ops.length}`);
}
