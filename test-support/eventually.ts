/**
 * The one poller of the test suite: waits for a condition with a deadline instead of sleeping a
 * fixed time (STYLE). `check` returns a value when the condition holds, undefined (or throws) while
 * it does not; throwing GiveUp fails at once (a child process exited, a count overshot).
 */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

export interface PollOptions {
  readonly timeoutMs?: number;
  readonly pollMs?: number;
}

export async function eventually<T>(check: () => Promise<T | undefined>, what: string, options: PollOptions | number = {}): Promise<T> {
  const { timeoutMs = 10_000, pollMs = 25 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
