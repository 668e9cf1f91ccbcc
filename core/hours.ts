/**
 * Hour arithmetic, in one place (SPEC §3: a sample belongs to a UTC hour; hours are half-open,
 * [HH:00:00.000, HH+1:00:00.000)). Hours are named by their start in Unix seconds.
 */
export const SECONDS_PER_HOUR = 3600;
export const MS_PER_HOUR = SECONDS_PER_HOUR * 1000;
export const SECONDS_PER_DAY = 24 * SECONDS_PER_HOUR;

/** Start (Unix seconds) of the UTC hour holding `unixSeconds`. */
export function hourStartSec(unixSeconds: number): number {
  return Math.floor(unixSeconds / SECONDS_PER_HOUR) * SECONDS_PER_HOUR;
}

/** Start (Unix seconds) of the UTC hour holding `unixMs`. */
export function hourOfMs(unixMs: number): number {
  return hourStartSec(Math.floor(unixMs / 1000));
}

/** End (Unix ms, exclusive) of the hour starting at `hourSec`. */
export function hourEndMs(hourSec: number): number {
  return (hourSec + SECONDS_PER_HOUR) * 1000;
}
