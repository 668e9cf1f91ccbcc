// store-checks: what the distributed benchmark reads back to decide whether the pipeline kept up:
// the total count of the bench keys in InfluxDB (one InfluxQL sum), and the counts of a random
// sample of keys through the query API, as a user would ask for them.
import { keyName } from './loadgen.mjs';

const HOUR_SEC = 3600;

/** Values of the bench keys (`bench.k*`) stored for the hours from `fromHourSec` to `toHourSec`. */
export async function storedCount(influx, database, fromHourSec, toHourSec) {
  const q = `SELECT sum("count") FROM "rollup" WHERE "name" =~ /^bench\\.k/ AND time >= ${fromHourSec}s AND time < ${toHourSec + HOUR_SEC}s`;
  const response = await fetch(`${influx.url}/query?db=${database}&q=${encodeURIComponent(q)}`);
  const body = await response.json();
  return body.results?.[0]?.series?.[0]?.values?.[0]?.[1] ?? 0;
}

/** The hour (start, unix seconds) that holds `ms`. */
export const hourOf = (ms) => Math.floor(ms / 1000 / HOUR_SEC) * HOUR_SEC;

/**
 * A seeded pseudo-random generator (mulberry32): the sampled keys are drawn from it, so a run
 * can be repeated with the same sample (the seed is in the results).
 */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `size` distinct key numbers out of `keys` (all of them when there are no more), ascending. */
export function sampleKeys(random, keys, size) {
  if (keys <= size) return Array.from({ length: keys }, (_, k) => k);
  const chosen = new Set();
  while (chosen.size < size) chosen.add(Math.floor(random() * keys));
  return [...chosen].sort((a, b) => a - b);
}

/**
 * The count of key number `key` through the query API (GET /<key>/count/<date>/<hour>), summed
 * over the hours from `fromHourSec` to `toHourSec`; an hour without data (404) counts 0.
 */
export async function queriedCount(query, key, fromHourSec, toHourSec) {
  let total = 0;
  for (let hourSec = fromHourSec; hourSec <= toHourSec; hourSec += HOUR_SEC) {
    const iso = new Date(hourSec * 1000).toISOString();
    const response = await fetch(`http://127.0.0.1:${query.httpPort}/${keyName(key)}/count/${iso.slice(0, 10)}/${iso.slice(11, 13)}`);
    if (response.status === 404) continue;
    if (!response.ok) throw new Error(`query API answered ${response.status} for ${keyName(key)}: ${await response.text()}`);
    total += (await response.json()).count;
  }
  return total;
}

/**
 * queriedCount for each of `keys`, in order; a key whose query failed is null, its error kept in
 * `errors` (a query API failing under load is a finding, not a reason to stop the benchmark).
 */
export async function queriedCounts(query, keys, fromHourSec, toHourSec) {
  const counts = [];
  const errors = [];
  for (const key of keys) {
    try {
      counts.push(await queriedCount(query, key, fromHourSec, toHourSec));
    } catch (error) {
      counts.push(null);
      errors.push(error.message);
    }
  }
  return { counts, errors };
}
