/**
 * Deterministic data sets for the compatibility tests: response times with many duplicates,
 * decimals and a long tail, so medians and percentiles land on ties and between neighbours.
 */
import { seededRandom } from '../test-support/random.js';

export interface LatencyOptions {
  readonly count: number;
  readonly seed: number;
  /** Values are rounded to this step (0.5 gives many duplicates, 0.001 few). */
  readonly stepMs: number;
  /** Median of the body of the distribution, before rounding. */
  readonly medianMs?: number;
}

/**
 * Log-normal-ish response times with a slow tail (about 3 % of values 5-20x slower),
 * rounded to `stepMs`. Every value has at most 3 decimals, so clients that print a fixed
 * number of decimals (python-statsd: `%0.6f`) send exactly the same number.
 */
export function latenciesMs({ count, seed, stepMs, medianMs = 80 }: LatencyOptions): number[] {
  const random = seededRandom(seed);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    // Box-Muller normal deviate; 1 - random() keeps log() away from 0.
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    let ms = medianMs * Math.exp(0.45 * normal);
    if (random() < 0.03) ms *= 5 + 15 * random();
    values.push(roundToStep(ms, stepMs));
  }
  return values;
}

/** Rounds to a multiple of `step` and then to 3 decimals, so the decimal text is short and exact. */
export function roundToStep(value: number, step: number): number {
  const rounded = Math.max(step, Math.round(value / step) * step);
  return Number(rounded.toFixed(3));
}

/** Small whole and fractional counter increments, e.g. `requests:3|c`, `bytes:2.5|c`. */
export function counterIncrements(count: number, seed: number): number[] {
  const random = seededRandom(seed);
  const choices = [1, 1, 1, 2, 3, 5, 0.5, 2.5, 10];
  return Array.from({ length: count }, () => choices[Math.floor(random() * choices.length)]);
}

/** Counter amounts as +1, -1 and other amounts: increment, decrement and a free count all appear. */
export function mixedCounterAmounts(count: number, seed: number): number[] {
  return counterIncrements(count, seed).map((v, i) => (i % 6 === 1 ? -1 : i % 6 === 4 ? -v : v));
}
