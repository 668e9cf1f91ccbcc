/**
 * Worker-thread entry of the embedded rollup: batches arrive over the in-process bus (a
 * MessagePort, transferred without copying), and windows, sketches and SQLite writes happen here,
 * off the event loop that reads the sockets.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../runtime/clock.js';
import { Rollup } from './rollup.js';
import { RollupService, type FlushOutcome } from './rollup-service.js';
import { SqliteStore, openDatabase } from './sqlite-store.js';

export interface RollupThreadData {
  readonly dataDir: string;
  readonly flushIntervalMs: number;
  readonly writer: string;
}

export type ToRollupThread =
  | { readonly kind: 'batch'; readonly bytes: Uint8Array; readonly endOfInterval: boolean }
  | { readonly kind: 'flush'; readonly id: number }
  | { readonly kind: 'close'; readonly id: number };

export type FromRollupThread =
  | { readonly kind: 'applied'; readonly error?: string }
  | { readonly kind: 'flushed'; readonly outcome: FlushOutcome }
  | { readonly kind: 'done'; readonly id: number; readonly error?: string };

const port = parentPort;
if (port === null) throw new Error('rollup-thread.js runs as a worker thread only');
const data = workerData as RollupThreadData;
const store = new SqliteStore(openDatabase(data.dataDir));
const rollup = new Rollup({ store, writer: data.writer, clock: systemClock });
const post = (message: FromRollupThread) => port.postMessage(message);
const service = new RollupService(rollup, data.flushIntervalMs, (outcome) =>
  // Error objects do not survive postMessage whole: send the message.
  post({ kind: 'flushed', outcome: outcome.error ? { ...outcome, error: { name: outcome.error.name, message: outcome.error.message } as Error } : outcome }),
);

port.on('message', (message: ToRollupThread) => {
  if (message.kind === 'batch') {
    service.accept(message.bytes, message.endOfInterval).then(
      () => post({ kind: 'applied' }),
      (err: Error) => post({ kind: 'applied', error: err.message }),
    );
    return;
  }
  const task = message.kind === 'flush' ? service.flush() : service.close().then(() => store.close());
  task.then(
    () => post({ kind: 'done', id: message.id }),
    (err: Error) => post({ kind: 'done', id: message.id, error: err.message }),
  );
});
