/**
 * Worker-thread entry of the embedded rollup: batches arrive over the in-process bus (a
 * MessagePort, transferred without copying), and windows, sketches and SQLite writes happen here,
 * off the event loop that reads the sockets. The driver's reports go back to the main thread,
 * which owns the metrics.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { QueueSource, type InProcessBatch } from '../bus/index.js';
import { systemClock } from '../core/index.js';
import { Rollup, RollupDriver, SeriesBudget, type DriverEvents } from '../rollup/index.js';
import { SqliteStore, openDatabase } from '../store/index.js';

export interface RollupThreadData {
  readonly dataDir: string;
  readonly flushIntervalMs: number;
  readonly writer: string;
  readonly logLevel: string;
  readonly maxSeriesPerHour: number;
}

export type ToRollupThread =
  | ({ readonly kind: 'batch' } & InProcessBatch)
  | { readonly kind: 'flush'; readonly id: number; readonly throughCount: number }
  | { readonly kind: 'close'; readonly id: number };

export type FromRollupThread =
  | { readonly kind: 'taken'; readonly seq: number }
  | { readonly kind: 'acked'; readonly seq: number }
  | { readonly kind: 'event'; readonly name: keyof DriverEvents; readonly arg: unknown }
  | { readonly kind: 'done'; readonly id: number; readonly error?: string };

/** Error objects do not survive postMessage whole: keep name and message. */
const plain = (value: unknown): unknown => {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value !== null && typeof value === 'object' && 'error' in value && (value as { error?: unknown }).error instanceof Error) {
    return { ...(value as object), error: plain((value as { error: Error }).error) };
  }
  return value;
};

const port = parentPort;
if (port === null) throw new Error('rollup-thread.js runs as a worker thread only');
const data = workerData as RollupThreadData;
const post = (message: FromRollupThread) => port.postMessage(message);
const store = new SqliteStore(openDatabase(data.dataDir));
const source = new QueueSource(
  data.writer,
  (seq) => post({ kind: 'taken', seq }),
  (seq) => post({ kind: 'acked', seq }),
);
const report =
  (name: keyof DriverEvents) =>
  (arg: unknown): void =>
    post({ kind: 'event', name, arg: plain(arg) });
const events: DriverEvents = {
  applied: report('applied'),
  refused: report('refused'),
  skipped: () => report('skipped')(undefined),
  deadLettered: report('deadLettered'),
  dropped: report('dropped'),
  storeReadFailed: report('storeReadFailed'),
  flushed: report('flushed'),
};
const driver = new RollupDriver({
  source,
  rollup: new Rollup({ store, writer: data.writer, clock: systemClock, budget: new SeriesBudget(data.maxSeriesPerHour) }),
  store,
  flushIntervalMs: data.flushIntervalMs,
  events,
  logger: pino({ level: data.logLevel, base: { pid: process.pid, component: 'rollup-thread' } }),
});
const started = driver.start();

port.on('message', (message: ToRollupThread) => {
  if (message.kind === 'batch') {
    source.push(message);
    return;
  }
  const task = started.then(() => (message.kind === 'flush' ? driver.flush(message.throughCount) : driver.stop().then(() => store.close())));
  task.then(
    () => post({ kind: 'done', id: message.id }),
    (err: Error) => post({ kind: 'done', id: message.id, error: err.message }),
  );
});
