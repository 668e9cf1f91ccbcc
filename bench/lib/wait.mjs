// wait: polling helpers. The benchmark waits for conditions (a port bound, a count reached),
// never for a fixed time it hopes is long enough.
import { setTimeout as delay } from 'node:timers/promises';

export { delay };

/**
 * Polls `check` every `intervalMs` until it returns something other than undefined/false,
 * and resolves with that; rejects after `timeoutMs`, or as soon as `abort` (a promise) settles.
 */
export async function waitFor(check, { what, timeoutMs = 20_000, intervalMs = 50, abort } = {}) {
  let aborted;
  abort?.then(
    () => (aborted = new Error(`gave up waiting for ${what}: the process exited`)),
    (error) => (aborted = error),
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (aborted) throw aborted;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}
