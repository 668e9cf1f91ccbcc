/**
 * The cardinality guard (SPEC §2, MAX_SERIES_PER_HOUR): how many series (name, tags, type) a
 * process keeps per hour, over all the writers (partitions) it holds. A client bug that puts
 * request ids into metric names would otherwise grow memory and the store without end; past the
 * bound a new series of that hour is refused (and counted by the caller), while series it already
 * has keep being updated.
 *
 * Counts are per (writer, hour) so that a writer handed to another process takes its series with
 * it; a writer's count of an hour starts from the rows it has in the store (read once, when it
 * first meets the hour), so a restart does not reopen the bound.
 */

/** Why a series was refused: the bounded label values of hourglass_series_refused_total. */
export const SERIES_REFUSAL_REASONS = ['series_per_hour'] as const;
export type SeriesRefusalReason = (typeof SERIES_REFUSAL_REASONS)[number];

export class SeriesBudget {
  /** hour start -> writer -> series of that hour */
  private readonly hours = new Map<number, Map<string, number>>();

  constructor(readonly maxSeriesPerHour: number) {
    if (!Number.isSafeInteger(maxSeriesPerHour) || maxSeriesPerHour < 1) throw new RangeError(`maxSeriesPerHour must be a whole number >= 1, got ${maxSeriesPerHour}`);
  }

  /** Whether the writer's count of the hour is known (else read its stored rows and call begin). */
  knows(writer: string, hourSec: number): boolean {
    return this.hours.get(hourSec)?.has(writer) ?? false;
  }

  /** The writer's series of the hour already in the store; a count already known is kept. */
  begin(writer: string, hourSec: number, storedSeries: number): void {
    let writers = this.hours.get(hourSec);
    if (writers === undefined) this.hours.set(hourSec, (writers = new Map()));
    if (!writers.has(writer)) writers.set(writer, storedSeries);
  }

  /** Takes one new series of the hour for the writer; false (nothing taken) when the hour is full. */
  admit(writer: string, hourSec: number): boolean {
    const writers = this.hours.get(hourSec);
    if (writers === undefined || !writers.has(writer)) throw new Error(`series budget: hour ${hourSec} of ${writer} not begun`);
    if (this.seriesOf(hourSec) >= this.maxSeriesPerHour) return false;
    writers.set(writer, (writers.get(writer) as number) + 1);
    return true;
  }

  /** Series of the hour over every writer of this process. */
  seriesOf(hourSec: number): number {
    let total = 0;
    for (const n of this.hours.get(hourSec)?.values() ?? []) total += n;
    return total;
  }

  /** Hours counted for the writer. */
  hoursOf(writer: string): number[] {
    const out: number[] = [];
    for (const [hourSec, writers] of this.hours) if (writers.has(writer)) out.push(hourSec);
    return out;
  }

  /**
   * Forgets the writer's count of an hour (it holds nothing of a closed hour any more: it will be
   * read again from the store if the hour comes back), or of every hour (the writer was handed over).
   */
  forget(writer: string, hourSec?: number): void {
    for (const [h, writers] of this.hours) {
      if (hourSec !== undefined && h !== hourSec) continue;
      writers.delete(writer);
      if (writers.size === 0) this.hours.delete(h);
    }
  }
}
