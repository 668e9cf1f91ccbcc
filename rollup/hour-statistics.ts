/**
 * The statistics a flush writes for Grafana (store/schema.ts `rollup_stats`): for each series-hour
 * written, and for each (name-hour, family) it belongs to, every tag set and type of that family
 * merged. Every name lives in one bus partition, so its writer holds every tag set of the name
 * while the hour is open, and computes them with the query API's own merge (core/statistics.ts)
 * from the rows it writes and the values it holds: the same numbers, no store read.
 *
 * What memory may not hold, and what that costs:
 * - a name-hour of an hour this writer had stored rows of when it first met it (a restart, a
 *   handover, late data for an evicted hour): its other tag sets are read once, one
 *   loadNameHour (a name-hour's rows: a few, whatever the samples), and kept in memory with the hour;
 * - a restored series-hour still under EXACT_SAMPLE_LIMIT values, whose exact statistics need the
 *   values written before the restore: its raw chunks are read once (at most EXACT_SAMPLE_LIMIT
 *   values), with every other such series of the flush in one loadChunks.
 * The open hour of a writer that runs on pays neither: it met the hour with nothing stored.
 */
import { FAMILY_OF, computeStatistics, isBucketRow, rowsAreExact, type Family, type Stat, type StatChunk, type Statistic } from '../core/index.js';
import { StoreUnavailableError, type RollupRow, type RollupStore, type StatsRow } from '../store/index.js';
import type { SeriesState } from './series-state.js';

/** The series of one name-hour this writer holds, and whether they are all its series. */
interface NameHour {
  readonly states: Set<SeriesState>;
  complete: boolean;
}

export interface StatisticsOptions {
  readonly store: RollupStore;
  readonly writer: string;
  /** Makes (or finds) the in-memory state of a stored row: the rollup's own map of states. */
  readonly adopt: (row: RollupRow) => Promise<SeriesState>;
}

export interface HourStatisticsReport {
  readonly stats: StatsRow[];
  /** Name-hours or series-hours whose statistics could not be computed (their rows are written all the same). */
  readonly failed: number;
  /** Store reads this flush made for them (name-hours loaded, chunk reads). */
  readonly storeReads: number;
}

const nameHourKey = (name: string, hourSec: number) => `${hourSec}\u0000${name}`;

export class HourStatistics {
  private readonly nameHours = new Map<string, NameHour>();
  /** Hours first met with no stored row of this writer (true), or with some (false). */
  private readonly hoursMet_ = new Map<number, boolean>();

  constructor(private readonly options: StatisticsOptions) {}

  /** Whether the hour was met already; else `storedRows` is the writer's stored rows of it at first meeting. */
  knowsHour(hourSec: number): boolean {
    return this.hoursMet_.has(hourSec);
  }

  meetHour(hourSec: number, storedRows: number): void {
    if (!this.hoursMet_.has(hourSec)) this.hoursMet_.set(hourSec, storedRows === 0);
  }

  /** A state now held in memory (new, or restored from its row). */
  hold(state: SeriesState): void {
    const key = nameHourKey(state.name, state.hourSec);
    let nh = this.nameHours.get(key);
    if (nh === undefined) this.nameHours.set(key, (nh = { states: new Set(), complete: this.hoursMet_.get(state.hourSec) === true }));
    nh.states.add(state);
  }

  /** A state dropped from memory (evicted, or its row refused). */
  release(state: SeriesState): void {
    const key = nameHourKey(state.name, state.hourSec);
    const nh = this.nameHours.get(key);
    if (nh === undefined) return;
    nh.states.delete(state);
    // what is left of it is no longer all of it
    nh.complete = false;
    if (nh.states.size === 0) this.nameHours.delete(key);
  }

  hoursMet(): IterableIterator<number> {
    return this.hoursMet_.keys();
  }

  /** The hour left memory altogether: met again, it is counted again. */
  forgetHour(hourSec: number): void {
    this.hoursMet_.delete(hourSec);
  }

  /** The statistics of the series-hours written (`rows[i]` is `states[i]`'s row) and of their name-hours. */
  async compute(states: readonly SeriesState[], rows: readonly RollupRow[], nowMs: number): Promise<HourStatisticsReport> {
    const { store, writer } = this.options;
    let storeReads = 0;
    let failed = 0;
    const rowOf = new Map<SeriesState, RollupRow>();
    states.forEach((s, i) => rowOf.set(s, rows[i]));
    // 1. every name-hour touched, with every series of it in memory
    const touched = new Map<string, { nh: NameHour; families: Set<Family> }>();
    for (const s of states) {
      const key = nameHourKey(s.name, s.hourSec);
      const nh = this.nameHours.get(key);
      if (nh === undefined) continue;
      const t = touched.get(key) ?? { nh, families: new Set<Family>() };
      t.families.add(FAMILY_OF[s.type]);
      touched.set(key, t);
    }
    for (const { nh } of touched.values()) {
      if (nh.complete) continue;
      const any = nh.states.values().next().value as SeriesState;
      storeReads++;
      for (const row of await store.loadNameHour(any.name, any.hourSec, writer)) {
        const state = await this.options.adopt(row);
        nh.states.add(state);
      }
      nh.complete = true;
    }
    const rowFor = (s: SeriesState) => {
      let r = rowOf.get(s);
      if (r === undefined) rowOf.set(s, (r = s.toRow(writer, nowMs)));
      return r;
    };
    // 2. the values exact statistics need that memory does not hold: one read for all
    const incomplete = new Set<SeriesState>();
    for (const s of states) if (s.chunksNotHeld > 0 && rowsAreExact([rowFor(s)])) incomplete.add(s);
    for (const { nh, families } of touched.values()) {
      for (const family of families) {
        const group = [...nh.states].filter((s) => FAMILY_OF[s.type] === family);
        if (rowsAreExact(group.map(rowFor))) for (const s of group) if (s.chunksNotHeld > 0) incomplete.add(s);
      }
    }
    if (incomplete.size > 0) {
      storeReads++;
      const wanted = [...incomplete];
      const chunks = await store.loadChunks(wanted.map((s) => ({ ...rowFor(s), chunks: s.chunksNotHeld })));
      for (const s of wanted) {
        const own = chunks.filter((c) => c.name === s.name && c.tags === s.tags && c.type === s.type && c.hourSec === s.hourSec).sort((a, b) => a.chunk - b.chunk);
        s.completeValues(own);
      }
    }
    // 3. the statistics, with the query API's merge
    const out: StatsRow[] = [];
    const bySeries = new Map<SeriesState, Partial<Record<Stat, Statistic>>>();
    const attempt = (f: () => void) => {
      try {
        f();
      } catch (err) {
        if (err instanceof StoreUnavailableError) throw err;
        // rows the merge cannot combine (a corrupt sketch...): no statistics, the rows still go
        failed++;
      }
    };
    for (const s of states) {
      attempt(() => {
        const row = rowFor(s);
        const stats = computeStatistics([row], chunksOf([s], [row]));
        bySeries.set(s, stats);
        out.push(statsRow(row, s.tags, s.type, FAMILY_OF[s.type], writer, stats, row.n, nowMs));
      });
    }
    for (const { nh, families } of touched.values()) {
      for (const family of families) {
        attempt(() => {
          const group = [...nh.states].filter((s) => FAMILY_OF[s.type] === family);
          const groupRows = group.map(rowFor);
          // a remote-written histogram beside samples: the query API refuses to merge them (409), so no point
          const bucketed = groupRows.filter(isBucketRow).length;
          if (bucketed > 0 && bucketed < groupRows.length) return;
          let n = 0;
          for (const r of groupRows) n += r.n;
          // one series: its own statistics, already computed from the same row and values
          const stats = (group.length === 1 ? bySeries.get(group[0]) : undefined) ?? computeStatistics(groupRows, chunksOf(group, groupRows));
          out.push(statsRow(groupRows[0], null, null, family, writer, stats, n, nowMs));
        });
      }
    }
    return { stats: out, failed, storeReads };
  }
}

/** The values of these states when the merge needs them (rowsAreExact), as the query reads chunks. */
function chunksOf(states: readonly SeriesState[], rows: readonly RollupRow[]): StatChunk[] | null {
  if (!rowsAreExact(rows)) return null;
  const chunks: StatChunk[] = [];
  for (const s of states) {
    const all = s.allValues();
    if (all === undefined) throw new Error(`values of ${s.name} not all held`);
    chunks.push(all);
  }
  return chunks;
}

function statsRow(key: RollupRow, tags: string | null, type: RollupRow['type'] | null, family: Family, writer: string, stats: Partial<Record<Stat, Statistic>>, n: number, nowMs: number): StatsRow {
  const v = (s: Stat) => stats[s]?.value ?? NaN;
  const quantile = stats.median ?? stats.count;
  return {
    name: key.name,
    hourSec: key.hourSec,
    tags,
    type,
    family,
    writer,
    count: v('count'),
    n,
    sum: v('sum'),
    average: v('average'),
    min: v('min'),
    max: v('max'),
    median: v('median'),
    p90: v('p90'),
    p95: v('p95'),
    p99: v('p99'),
    exact: quantile?.exact ?? true,
    relativeError: quantile?.relativeError ?? NaN,
    updatedMs: nowMs,
  };
}
