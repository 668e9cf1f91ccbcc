/**
 * What a test asks a StatsD client to do, as plain data: the Node test drives hot-shots with it,
 * the scripts in clients/ read it as JSON on stdin. The same list gives the expected samples.
 */
import { seededRandom } from '../test-support/random.js';
import { gaugeReadings, weighted, type GaugeUpdate, type WeightedSample } from './expected-stats.js';

export type Tags = Readonly<Record<string, string>>;

export type ValueKind = 'timing' | 'histogram' | 'distribution';

interface OpBase {
  readonly key: string;
  readonly value: number;
  readonly tags?: Tags;
}

export interface ValueOp extends OpBase {
  readonly kind: ValueKind;
  /** Sample rate passed to the client; omitted means 1. */
  readonly rate?: number;
  /**
   * For rate < 1: whether the client's (stubbed) random number generator lets this call through.
   * Clients sample on their side, so a test decides instead of chance; omitted means true.
   */
  readonly keep?: boolean;
}

/** A counter increment by `value` (negative: decrement). */
export interface CountOp extends OpBase {
  readonly kind: 'count';
  readonly rate?: number;
  readonly keep?: boolean;
}

/** `gauge` sets the value, `gaugeDelta` moves it by a signed amount. */
export interface GaugeOp extends OpBase {
  readonly kind: 'gauge' | 'gaugeDelta';
}

export type ClientOp = ValueOp | CountOp | GaugeOp;

export interface ClientScriptInput {
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp';
  /** Use the client's batching API (pipeline / batch) where it has one. */
  readonly batched: boolean;
  readonly ops: readonly ClientOp[];
}

export interface ExpectationOptions {
  /** Only samples carrying every one of these tags (the `?tag=` filter). */
  readonly tags?: Tags;
  /** The number the client puts on the wire for a value it was given (default: the same). */
  readonly wireValue?: (op: ClientOp) => number;
  /** The gauge lines the client writes for one gauge call (default: one set or one delta). */
  readonly wireGauge?: (op: GaugeOp) => GaugeUpdate[];
}

function hasTags(op: ClientOp, wanted: Tags | undefined): boolean {
  if (wanted === undefined) return true;
  return Object.entries(wanted).every(([k, v]) => op.tags?.[k] === v);
}

function defaultWireGauge(op: GaugeOp): GaugeUpdate[] {
  return [op.kind === 'gauge' ? { set: op.value } : { delta: op.value }];
}

/** Whether an op reaches the wire: sampled-out calls send nothing. */
export function isSent(op: ClientOp): boolean {
  if (op.kind === 'gauge' || op.kind === 'gaugeDelta') return true;
  const sampled = op as ValueOp | CountOp;
  return sampled.rate === undefined || sampled.rate >= 1 || sampled.keep !== false;
}

/**
 * The samples the server should hold for `key`: value and counter lines weighted by 1/rate,
 * gauge readings after each gauge line (see gaugeReadings for that assumption).
 */
export function expectedSamples(ops: readonly ClientOp[], key: string, options: ExpectationOptions = {}): WeightedSample[] {
  const wireValue = options.wireValue ?? ((op: ClientOp) => op.value);
  const wireGauge = options.wireGauge ?? defaultWireGauge;
  const mine = ops.filter((op) => op.key === key && isSent(op) && hasTags(op, options.tags));
  const gauges = mine.filter((op): op is GaugeOp => op.kind === 'gauge' || op.kind === 'gaugeDelta');
  if (gauges.length > 0) {
    if (gauges.length !== mine.length) throw new Error(`expectedSamples: ${key} mixes gauges with other types`);
    return gaugeReadings(gauges.flatMap(wireGauge)).map((value) => weighted(value));
  }
  return mine.map((op) => weighted(wireValue(op), (op as ValueOp | CountOp).rate ?? 1));
}

/**
 * Ops for one key of a value metric or counter, optionally sampled: with `keepEvery` n, every
 * n-th call passes the client's sampler and the others are dropped client-side.
 */
export function valueOps(kind: ValueKind | 'count', key: string, values: readonly number[], extra: { rate?: number; keepEvery?: number; tags?: Tags } = {}): Array<ValueOp | CountOp> {
  const { rate, keepEvery, tags } = extra;
  return values.map((value, i) => ({
    kind,
    key,
    value,
    ...(tags ? { tags } : {}),
    ...(rate !== undefined ? { rate, keep: keepEvery === undefined || i % keepEvery === 0 } : {}),
  }));
}

/**
 * A gauge that is set now and then and otherwise moved by deltas (`+2.5`, `-1`). Sets are
 * never negative: a client writes a negative set as `-N|g`, which StatsD reads as a delta.
 */
export function gaugeOps(key: string, count: number, seed: number, withDeltas = true): GaugeOp[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i): GaugeOp => {
    if (!withDeltas || i === 0 || random() < 0.2) return { kind: 'gauge', key, value: Math.round(random() * 2000) / 4 };
    const magnitude = [0.5, 1, 2, 2.5, 10][Math.floor(random() * 5)];
    return { kind: 'gaugeDelta', key, value: random() < 0.5 ? -magnitude : magnitude };
  });
}

/** The distinct keys of `ops`, in first-seen order. */
export function keysOf(ops: readonly ClientOp[]): string[] {
  return [...new Set(ops.map((op) => op.key))];
}
