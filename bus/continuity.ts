/**
 * Counting batches the stream removed before any rollup worker applied them (SPEC §5: loss is
 * never silent). The batch stream keeps batches by age and size (limits retention, discard old),
 * and nats-server forgets what it removed, so the count has to be carried by the batches
 * themselves: a filtered consumer sees gaps in stream sequences whatever happens (the other
 * partitions' batches fill them), and the stream's first sequence says only that *something* went.
 *
 * Each gateway run (an origin: its message-id prefix, gateway id and start time) numbers its
 * messages per partition 1, 2, 3... and stamps each one with its number, its values, and a floor:
 * every number below the floor had its publish settled before this message was sent, and the
 * stamp says how many of those (and how many values) JetStream stored. "Acknowledged before this
 * one was sent" means "stored at a lower stream sequence", so when a worker, reading its
 * partition in stream order, meets a stamp, every stored message below its floor is either behind
 * it already or gone: lost = stored below the floor - seen below the floor. Exact whatever the
 * order of publishing (a failed publish replayed later from the spool, several gateways, restarts
 * with a new origin), and the floor never waits on a number that is still in a spool.
 *
 * Limits (README "Rebuilding from the bus"): a loss is found when a later message of the same
 * origin and partition is read, so the last messages of a gateway run that never publishes to
 * that partition again are not counted; a batch published under an Idempotency-Key whose ack was
 * lost and which JetStream then called a duplicate is taken for a retry of another request, which
 * can hide one lost batch (the count is clamped at 0 per step); past the bounds below, or when a
 * worker's saved state does not reach its watermark, tracking restarts from what it reads next
 * (counted in hourglass_bus_continuity_resets_total), losses before that point uncounted.
 */

/** The header carrying the stamp. */
export const CONTINUITY_HEADER = 'Hourglass-Continuity';

export interface Stamp {
  readonly origin: string;
  /** This message's number within (origin, partition), from 1. */
  readonly counter: number;
  /** Values (and set members) in this message. */
  readonly values: number;
  /** Every number below it was settled (stored or not) before this message was sent. */
  readonly floor: number;
  /** Messages below the floor JetStream stored, and their values. */
  readonly storedBelow: number;
  readonly valuesBelow: number;
}

/** `counter values floor storedBelow valuesBelow origin`: the origin last, as it is free text. */
export function formatStamp(s: Stamp): string {
  return `${s.counter} ${s.values} ${s.floor} ${s.storedBelow} ${s.valuesBelow} ${s.origin}`;
}

/** undefined for anything that is not a stamp (a batch published by an older gateway has none). */
export function parseStamp(text: string | undefined): Stamp | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(' ', 5);
  if (parts.length < 5) return undefined;
  const numbers = parts.map(Number);
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  const origin = text.slice(parts.join(' ').length + 1);
  const [counter, values, floor, storedBelow, valuesBelow] = numbers;
  if (origin === '' || counter < 1 || floor < 1 || floor > counter) return undefined;
  return { origin, counter, values, floor, storedBelow, valuesBelow };
}

/** How a stamped message's publish settled. */
export type Settlement = 'stored' | 'duplicate' | 'not_stored';

/** The gateway's side: numbers and stamps messages, and moves each partition's floor as publishes settle. */
export class PublisherContinuity {
  private readonly partitions = new Map<number, { next: number; floor: number; storedBelow: number; valuesBelow: number; unsettled: Map<number, { values: number; idempotent: boolean }>; settled: Map<number, number | undefined> }>();

  constructor(readonly origin: string) {}

  /** The stamp of the next message to `partition`; `idempotent`: its id derives from an Idempotency-Key. */
  stamp(partition: number, values: number, idempotent: boolean): Stamp {
    let p = this.partitions.get(partition);
    if (p === undefined) {
      p = { next: 1, floor: 1, storedBelow: 0, valuesBelow: 0, unsettled: new Map(), settled: new Map() };
      this.partitions.set(partition, p);
    }
    const counter = p.next++;
    // held until settled: bounded by the publishes in flight and the spool's bound
    p.unsettled.set(counter, { values, idempotent });
    return { origin: this.origin, counter, values, floor: p.floor, storedBelow: p.storedBelow, valuesBelow: p.valuesBelow };
  }

  /**
   * The publish of a stamped message settled. A duplicate of a message with this gateway's own id
   * is itself (a replay after a lost ack); one with an Idempotency-Key id is taken for another
   * request's message (a client's retry), so not stored as this number. `not_stored`: dropped or
   * refused (counted at the gateway).
   */
  settled(stamp: Stamp, partition: number, how: Settlement): void {
    const p = this.partitions.get(partition);
    const message = p?.unsettled.get(stamp.counter);
    if (stamp.origin !== this.origin || p === undefined || message === undefined) return;
    p.unsettled.delete(stamp.counter);
    const stored = how === 'stored' || (how === 'duplicate' && !message.idempotent);
    p.settled.set(stamp.counter, stored ? message.values : undefined);
    while (p.settled.has(p.floor)) {
      const v = p.settled.get(p.floor);
      p.settled.delete(p.floor);
      if (v !== undefined) {
        p.storedBelow++;
        p.valuesBelow += v;
      }
      p.floor++;
    }
  }
}

/** Origins a worker tracks per partition; the least recently read is forgotten past it. */
export const MAX_ORIGINS = 512;
/** Numbers read ahead of an origin's unbroken run (publishes overtaking a failed one); past it the origin restarts. */
export const MAX_AHEAD = 4096;

/** Why tracking restarted, losses before it uncounted: the `reason` label of the resets counter. */
export const RESET_REASONS = ['no_state', 'state_behind', 'origins_full', 'ahead_full'] as const;
export type ResetReason = (typeof RESET_REASONS)[number];

interface OriginState {
  /** Lowest number not yet accounted for; every number below it was seen or judged. */
  next: number;
  /** Stored messages (and their values) below `next`. */
  stored: number;
  values: number;
  /** Numbers at or above `next` already read, with their values. */
  ahead: Map<number, number>;
  /** Stream sequence of the last message read from this origin: where a gap starts. */
  lastSeq: number;
}

/** What one message revealed. */
export interface Loss {
  readonly origin: string;
  readonly batches: number;
  readonly values: number;
  /** The lost messages lie between these stream sequences (exclusive). */
  readonly afterSeq: number;
  readonly beforeSeq: number;
}

/** What a worker saves of a partition's tracking, with the stream sequence it reached. */
export interface TrackerState {
  readonly seq: number;
  readonly origins: readonly (readonly [origin: string, next: number, stored: number, values: number, lastSeq: number, ahead: readonly (readonly [number, number])[]])[];
}

/**
 * A rollup worker's side, one partition: fed every message it reads in stream order (redeliveries
 * too: a number read twice counts once).
 *
 * `strict`: an origin not tracked yet starts at number 1, so its first messages can be found
 * missing; right only when the tracker has read (or restored) everything of the partition so far.
 * Otherwise an origin's first stamp is taken as where tracking starts.
 */
export class ContinuityTracker {
  private readonly origins = new Map<string, OriginState>();
  private strict: boolean;
  /** Stream sequence of the last message read. */
  seq: number;
  /** Changed since the last snapshot. */
  dirty = false;

  constructor(options: { strict: boolean; seq: number; state?: TrackerState }, private readonly onReset: (reason: ResetReason) => void) {
    this.strict = options.strict;
    this.seq = options.seq;
    for (const [origin, next, stored, values, lastSeq, ahead] of options.state?.origins ?? []) this.origins.set(origin, { next, stored, values, lastSeq, ahead: new Map(ahead) });
  }

  observe(stamp: Stamp, seq: number): Loss | undefined {
    if (seq > this.seq) this.seq = seq;
    this.dirty = true;
    let o = this.origins.get(stamp.origin);
    if (o === undefined) {
      if (this.origins.size >= MAX_ORIGINS) this.forgetLeastRecent();
      o = this.strict ? { next: 1, stored: 0, values: 0, ahead: new Map(), lastSeq: 0 } : { next: stamp.floor, stored: stamp.storedBelow, values: stamp.valuesBelow, ahead: new Map(), lastSeq: 0 };
      this.origins.set(stamp.origin, o);
    }
    const afterSeq = o.lastSeq;
    if (seq > o.lastSeq) o.lastSeq = seq;
    if (stamp.counter >= o.next && !o.ahead.has(stamp.counter)) {
      if (o.ahead.size >= MAX_AHEAD) {
        this.onReset('ahead_full');
        Object.assign(o, { next: stamp.floor, stored: stamp.storedBelow, values: stamp.valuesBelow, ahead: new Map() });
      }
      o.ahead.set(stamp.counter, stamp.values);
    }
    let loss: Loss | undefined;
    if (stamp.floor > o.next) {
      let seenBatches = 0;
      let seenValues = 0;
      for (const [counter, values] of o.ahead) {
        if (counter >= stamp.floor) continue;
        seenBatches++;
        seenValues += values;
        o.ahead.delete(counter);
      }
      // clamped: an Idempotency-Key duplicate judged "not stored" may have been read (module comment)
      const batches = Math.max(0, stamp.storedBelow - o.stored - seenBatches);
      const values = Math.max(0, stamp.valuesBelow - o.values - seenValues);
      if (batches > 0) loss = { origin: stamp.origin, batches, values, afterSeq, beforeSeq: seq };
      o.next = stamp.floor;
      o.stored = stamp.storedBelow;
      o.values = stamp.valuesBelow;
    }
    for (let v = o.ahead.get(o.next); v !== undefined; v = o.ahead.get(o.next)) {
      o.ahead.delete(o.next);
      o.stored++;
      o.values += v;
      o.next++;
    }
    return loss;
  }

  /** Tracking restarts from what is read next (an origin's first stamp is its start). */
  restart(reason: ResetReason): void {
    this.onReset(reason);
    this.origins.clear();
    this.strict = false;
    this.dirty = true;
  }

  snapshot(): TrackerState {
    this.dirty = false;
    return { seq: this.seq, origins: [...this.origins].map(([origin, o]) => [origin, o.next, o.stored, o.values, o.lastSeq, [...o.ahead]] as const) };
  }

  private forgetLeastRecent(): void {
    let oldest: string | undefined;
    let oldestSeq = Infinity;
    for (const [origin, o] of this.origins) {
      if (o.lastSeq < oldestSeq) {
        oldestSeq = o.lastSeq;
        oldest = origin;
      }
    }
    // most likely a gateway run that ended; should it publish here again, strict mode would read
    // its whole history as lost, so unknown origins start at their first stamp from now on
    if (oldest !== undefined) this.origins.delete(oldest);
    this.strict = false;
    this.onReset('origins_full');
  }
}

/** A saved TrackerState, or undefined when it is not one (another version, damage). */
export function parseTrackerState(bytes: Uint8Array | undefined): TrackerState | undefined {
  if (bytes === undefined || bytes.length === 0) return undefined;
  try {
    const state = JSON.parse(new TextDecoder().decode(bytes)) as TrackerState;
    if (!Number.isSafeInteger(state.seq) || !Array.isArray(state.origins)) return undefined;
    return state;
  } catch {
    return undefined;
  }
}
