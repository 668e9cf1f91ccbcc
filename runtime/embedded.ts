// PLACEHOLDER: signature only, implementation in progress.
import type { Clock } from './clock.js';
import type { Config } from './config.js';

export interface StartOptions {
  readonly config: Config;
  readonly clock?: Clock;
  /** Run the rollup in a worker thread (default, needs the built dist/) or on the main thread (tests). */
  readonly rollupThread?: boolean;
}

export interface RunningHourglass {
  readonly statsdPort: number;
  readonly httpPort: number;
  /** Hands the current batch on and writes every pending rollup to the store. */
  flush(): Promise<void>;
  /** Stops listening, flushes, closes the store. */
  close(): Promise<void>;
}

export async function startEmbedded(_options: StartOptions): Promise<RunningHourglass> {
  throw new Error('not implemented yet');
}
