/**
 * Quantiles over a sliding window (a summary's `max_age`, split in `age_buckets`), on the
 * injected clock. client_golang keeps one CKMS stream per age bucket and inserts every value
 * into all of them; here each value goes into the sketch of its own time slot only, and a
 * scrape merges the live slots: one insert per observation instead of `age_buckets`, and the
 * window slides in the same steps (max_age / age_buckets).
 *
 * The quantiles come from the project's DDSketch (relative error under 1 %) where client_golang
 * guarantees a rank error per objective (0.05 for the median...): a different, not a weaker,
 * promise for latency data, and it takes weights, so a sample rate weighs an observation 1/rate.
 */
import { Sketch } from '../../core/index.js';

export class SlidingQuantiles {
  private readonly slots: (Sketch | undefined)[];
  /** Absolute number (now / slotMs) of the newest slot. */
  private head = -1;
  private readonly slotMs: number;

  constructor(maxAgeMs: number, ageBuckets: number) {
    const buckets = Math.max(1, ageBuckets);
    this.slots = new Array<Sketch | undefined>(buckets).fill(undefined);
    this.slotMs = Math.max(1, maxAgeMs / buckets);
  }

  observe(value: number, weight: number, nowMs: number): void {
    this.advance(nowMs);
    const i = this.head % this.slots.length;
    let s = this.slots[i];
    if (s === undefined) {
      s = new Sketch();
      this.slots[i] = s;
    }
    s.add(value, weight);
  }

  /** The quantiles of the window ending now; NaN each when it is empty (as client_golang). */
  quantiles(qs: readonly number[], nowMs: number): number[] {
    this.advance(nowMs);
    const merged = new Sketch();
    for (const s of this.slots) if (s !== undefined) merged.merge(s);
    return qs.map((q) => merged.quantile(q));
  }

  /** Drops the slots that fell out of the window. */
  private advance(nowMs: number): void {
    const slot = Math.floor(nowMs / this.slotMs);
    if (slot <= this.head) return;
    const n = this.slots.length;
    const stale = Math.min(n, slot - this.head);
    for (let k = 1; k <= stale; k++) this.slots[(this.head + k) % n] = undefined;
    this.head = slot;
  }
}
