/**
 * The rollup: applies batches to hourly windows and writes the changed ones to the store at each
 * flush, in one transaction. The same class runs in the embedded default (fed by the in-process
 * bus) and in distributed rollup workers (fed by JetStream).
 *
 * Batches and flushes run one at a time, in order (a small promise chain), so a flush never sees
 * half a batch.
 */
import { SECONDS_PER_HOUR, type Clock } from '../core/index.js';
import { histogramsOf, type DecodedBatch, type SeriesBatch } from '../bus/index.js';
import { EXACT_SAMPLE_LIMIT, StoreRejectedError, type RawChunk, type RollupRow, type RollupStore, type SeriesKey } from '../store/index.js';
import type { SeriesBudget, SeriesRefusalReason } from './series-budget.js';
import { HourStatistics } from './hour-statistics.js';
import { SeriesState } from './series-state.js';

/** A closed hour stays in memory this long after its end, for late samples and gauge continuity. */
const EVICT_AFTER_HOUR_END_SEC = 300;
/**
 * Past that, a series-hour stays while data keeps coming for it: late data (a spool drained after
 * an outage, `|T` backfills, replays) arrives in streams, and dropping the state at each flush
 * made every batch read its rows back and every flush its raw values (quadratic in the hour's
 * chunks: at 10,000 keys the store did little else). It goes once idle this long, or, beyond
 * MAX_SERIES_PER_HOUR closed series-hours held by this writer, least recently used first.
 */
const EVICT_IDLE_MS = 60_000;
/**
 * A series-hour's statistics (rollup_stats, for Grafana) are written at its first write and then
 * at most this often, not at every write: they were two of the four points each series cost
 * InfluxDB per write, and most of the fields (bench/write-path.mjs). The query API uses a stats
 * point only when its n matches the rows (query/app.ts), so a lagging point is never served;
 * Grafana's panels lag the rows by at most this much. A stopping worker writes them all.
 */
export const STATISTICS_INTERVAL_MS = 10_000;

export interface FlushReport {
  readonly rows: number;
  readonly chunks: number;
  /** The whole flush, store write included. */
  readonly durationMs: number;
  readonly writeMs: number;
  /** rollup_stats points written: one per series-hour written, one per (name-hour, family) of those. */
  readonly stats: number;
  /** Statistics that could not be computed (the rows were written all the same). */
  readonly statsFailed: number;
  /** Store reads the statistics needed (after a restart, a handover or for late data; hour-statistics.ts). */
  readonly statsStoreReads: number;
  /** Rows the store refused for good, dropped from memory: the caller dead-letters them. */
  readonly rejected: readonly RejectedRow[];
}

export interface RejectedRow {
  readonly row: RollupRow;
  readonly reason: string;
}

export interface RollupOptions {
  readonly store: RollupStore;
  /** Identity of this writer in the store ("embedded", or a bus partition). */
  readonly writer: string;
  readonly clock: Clock;
  /** MAX_SERIES_PER_HOUR: shared by every Rollup of the process (series-budget.ts). */
  readonly budget: SeriesBudget;
  /** Default STATISTICS_INTERVAL_MS. */
  readonly statisticsIntervalMs?: number;
}

/** New series of a batch the rollup refused (their values are not applied), for the caller to count and log. */
export interface SeriesRefusal {
  readonly reason: SeriesRefusalReason;
  readonly series: number;
  /** Their values (set members): lost, and counted as such. */
  readonly values: number;
  /** One of them, for the log. */
  readonly example: SeriesKey;
}

const stateKey = (s: SeriesKey) => `${s.type}\u0000${s.hourSec}\u0000${s.name}\u0000${s.tags}`;

export class Rollup {
  private readonly states = new Map<string, SeriesState>();
  private dirty: SeriesState[] = [];
  /** Series-hours written since their statistics were (STATISTICS_INTERVAL_MS). */
  private readonly statsOwed = new Set<SeriesState>();
  private chain: Promise<unknown> = Promise.resolve();
  /** Values applied since start (sets: members), for /metrics. */
  valuesApplied = 0;
  /** Highest bus sequence applied; written with the rows as the writer's watermark. */
  private appliedSeq = 0;
  private writtenSeq = 0;
  /** This writer's epoch in the store (claimWriter), sent with every watermark as its fence. */
  private epoch = 0;

  private readonly statistics: HourStatistics;

  constructor(private readonly options: RollupOptions) {
    this.statistics = new HourStatistics({ store: options.store, writer: options.writer, adopt: (row) => this.adopt(row) });
  }

  get seriesInMemory(): number {
    return this.states.size;
  }

  /**
   * Applies a batch; `seq` is its bus sequence (0 when the bus has none). A series whose stored
   * row already holds this sequence (a redelivery after a crash between write and ack) is skipped:
   * per partition, batches are applied in sequence order, so a row's sequence says exactly which
   * batches it contains. New series past MAX_SERIES_PER_HOUR are refused: reported, not applied.
   */
  apply(batch: DecodedBatch, seq = 0): Promise<SeriesRefusal | undefined> {
    return this.serially(() => this.applyNow(batch, seq));
  }

  /** The epoch the store gave this writer; the store refuses its writes once another claims the writer. */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }

  /**
   * Writes every changed series-hour, then drops closed hours from memory. `idempotencyKeys`:
   * the HTTP ingest requests whose batches were applied since the last flush.
   */
  flush(idempotencyKeys: readonly string[] = [], { allStatistics = false } = {}): Promise<FlushReport> {
    return this.serially(() => this.flushNow(idempotencyKeys, allStatistics));
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async applyNow(batch: DecodedBatch, seq: number): Promise<SeriesRefusal | undefined> {
    const states = await this.statesOf(batch.series);
    const nowMs = this.options.clock.nowMs();
    let refusal: { series: number; values: number; example: SeriesKey } | undefined;
    for (let i = 0; i < states.length; i++) {
      const state = states[i];
      if (state === undefined) {
        const s = batch.series[i];
        refusal ??= { series: 0, values: 0, example: { name: s.name, tags: s.tags, type: s.type, hourSec: s.hourSec } };
        refusal.series++;
        refusal.values += s.members !== null ? s.members.length : s.values.length;
        continue;
      }
      if (seq !== 0 && state.seq >= seq) continue;
      if (!state.dirty) this.dirty.push(state);
      state.touchedMs = nowMs;
      this.applySeries(state, batch.series[i]);
      if (seq > state.seq) state.seq = seq;
    }
    if (seq > this.appliedSeq) this.appliedSeq = seq;
    return refusal && { reason: 'series_per_hour', ...refusal };
  }

  private applySeries(state: SeriesState, series: SeriesBatch): void {
    const { values, weights, deltas, members } = series;
    if (members !== null) {
      for (const m of members) state.addMember(m);
      this.valuesApplied += members.length;
      // a set with no new member is not dirty; keep the dirty list exact
      if (!state.dirty) this.dirty.pop();
      return;
    }
    if (series.histogram === true) {
      const increments = histogramsOf(values);
      for (const inc of increments) state.addHistogram(inc);
      this.valuesApplied += increments.length;
      return;
    }
    if (state.type === 'g') {
      for (let i = 0; i < values.length; i++) state.addGauge(values[i], deltas !== null && deltas[i] === 1);
    } else if (weights === null) {
      for (let i = 0; i < values.length; i++) state.addValue(values[i], 1);
    } else {
      for (let i = 0; i < values.length; i++) state.addValue(values[i], weights[i]);
    }
    this.valuesApplied += values.length;
  }

  /**
   * The state of each series of a batch, created where missing and continued from the store
   * where it holds them; undefined for a new series its hour has no room for (MAX_SERIES_PER_HOUR).
   * A batch names each series once (the gateway groups by series).
   */
  private async statesOf(series: readonly SeriesBatch[]): Promise<(SeriesState | undefined)[]> {
    const states = new Array<SeriesState | undefined>(series.length);
    const missing: number[] = [];
    for (let i = 0; i < series.length; i++) {
      const state = this.states.get(stateKey(series[i]));
      if (state === undefined) missing.push(i);
      else states[i] = state;
    }
    if (missing.length === 0) return states;
    const { store, writer, budget } = this.options;
    for (const i of missing) {
      const hourSec = series[i].hourSec;
      const knows = budget.knows(writer, hourSec);
      if (knows && this.statistics.knowsHour(hourSec)) continue;
      const stored = await store.countRows(hourSec, writer);
      if (!knows) budget.begin(writer, hourSec, stored);
      this.statistics.meetHour(hourSec, stored);
    }
    const rows = await store.loadRows(
      missing.map((i) => series[i]),
      writer,
    );
    for (let k = 0; k < missing.length; k++) {
      const key = series[missing[k]];
      const id = stateKey(key);
      let state = this.states.get(id);
      if (state === undefined) {
        const row = rows[k];
        // a series with a stored row is one the hour already counts
        if (row === undefined && !budget.admit(writer, key.hourSec)) continue;
        state = new SeriesState(key.name, key.tags, key.type, key.hourSec);
        if (row !== undefined) {
          state.restore(row, key.type === 's' && row.n <= EXACT_SAMPLE_LIMIT ? await store.loadMembers(row) : null);
        } else if (key.type === 'g') {
          state.last = await this.gaugeBefore(key);
        }
        this.states.set(id, state);
        this.statistics.hold(state);
      }
      states[missing[k]] = state;
    }
    return states;
  }

  /** The state of a stored row of this writer, restored into memory unless it is there already. */
  private async adopt(row: RollupRow): Promise<SeriesState> {
    const id = stateKey(row);
    const held = this.states.get(id);
    if (held !== undefined) return held;
    const state = new SeriesState(row.name, row.tags, row.type, row.hourSec);
    state.restore(row, row.type === 's' && row.n <= EXACT_SAMPLE_LIMIT ? await this.options.store.loadMembers(row) : null);
    this.states.set(id, state);
    this.statistics.hold(state);
    return state;
  }

  /** A gauge carries its value over from the previous hour, as a StatsD gauge does. */
  private async gaugeBefore(key: SeriesKey): Promise<number> {
    const previous = this.states.get(stateKey({ ...key, hourSec: key.hourSec - SECONDS_PER_HOUR }));
    if (previous !== undefined) return previous.last;
    return (await this.options.store.lastGauge(key.name, key.tags, key.hourSec)) ?? NaN;
  }

  private async flushNow(keys: readonly string[], allStatistics: boolean): Promise<FlushReport> {
    const started = performance.now();
    const { store, writer, clock, statisticsIntervalMs = STATISTICS_INTERVAL_MS } = this.options;
    const nowMs = clock.nowMs();
    const states = this.dirty;
    const rows = states.map((s) => s.toRow(writer, nowMs));
    const chunks = states.map((s) => s.pendingChunk(writer));
    const seq = this.appliedSeq;
    const watermark = seq > this.writtenSeq ? { writer, seq, epoch: this.epoch } : undefined;
    for (const s of states) this.statsOwed.add(s);
    const due = [...this.statsOwed].filter((s) => allStatistics || nowMs - s.statsWrittenMs >= statisticsIntervalMs);
    const rowOf = new Map(states.map((s, i) => [s, rows[i]]));
    const statistics = await this.statistics.compute(due, due.map((s) => rowOf.get(s) ?? s.toRow(writer, nowMs)), nowMs);
    const writeStarted = performance.now();
    let rejected: RejectedRow[] = [];
    try {
      if (rows.length > 0 || watermark !== undefined || keys.length > 0 || statistics.stats.length > 0) await store.write(rows, present(chunks), watermark, keys, statistics.stats);
    } catch (err) {
      if (!(err instanceof StoreRejectedError)) throw err;
      rejected = await this.writeEachAlone(rows, chunks);
      if (watermark !== undefined || keys.length > 0) await store.write([], [], watermark, keys);
    }
    const writeMs = performance.now() - writeStarted;
    this.writtenSeq = seq;
    for (const s of states) s.written();
    this.dirty = [];
    if (rejected.length === 0) {
      for (const s of due) {
        s.statsWrittenMs = nowMs;
        this.statsOwed.delete(s);
      }
    }
    for (const { row } of rejected) this.drop(stateKey(row));
    this.evict(nowMs);
    return {
      rows: rows.length - rejected.length,
      chunks: present(chunks).length,
      durationMs: performance.now() - started,
      writeMs,
      rejected,
      stats: rejected.length === 0 ? statistics.stats.length : 0,
      statsFailed: statistics.failed,
      statsStoreReads: statistics.storeReads,
    };
  }

  /**
   * The store refused the flush for some point in it: write each row alone, so only the rows it
   * refuses are lost (and dead-lettered), never their neighbours.
   */
  private async writeEachAlone(rows: readonly RollupRow[], chunks: readonly (RawChunk | null)[]): Promise<RejectedRow[]> {
    const rejected: RejectedRow[] = [];
    for (let i = 0; i < rows.length; i++) {
      try {
        await this.options.store.write([rows[i]], present([chunks[i]]));
      } catch (err) {
        if (!(err instanceof StoreRejectedError)) throw err;
        rejected.push({ row: rows[i], reason: err.message });
      }
    }
    return rejected;
  }

  private drop(key: string): void {
    const state = this.states.get(key);
    if (state === undefined) return;
    this.states.delete(key);
    this.statsOwed.delete(state);
    this.statistics.release(state);
  }

  private hoursMet(): Iterable<number> {
    return this.statistics.hoursMet();
  }

  private evict(nowMs: number): void {
    const horizonSec = nowMs / 1000 - SECONDS_PER_HOUR - EVICT_AFTER_HOUR_END_SEC;
    // closed series-hours with nothing left to write: idle ones go, the rest are held for late data
    const closed: [string, SeriesState][] = [];
    for (const [key, state] of this.states) {
      if (state.hourSec >= horizonSec || state.dirty || this.statsOwed.has(state)) continue;
      if (nowMs - state.touchedMs >= EVICT_IDLE_MS) this.drop(key);
      else closed.push([key, state]);
    }
    const over = closed.length - this.options.budget.maxSeriesPerHour;
    if (over > 0) {
      closed.sort((a, b) => a[1].touchedMs - b[1].touchedMs);
      for (const [key] of closed.slice(0, over)) this.drop(key);
    }
    const held = new Set<number>();
    for (const state of this.states.values()) held.add(state.hourSec);
    for (const hourSec of [...this.hoursMet()]) if (hourSec < horizonSec && !held.has(hourSec)) this.statistics.forgetHour(hourSec);
    // a closed hour this rollup holds nothing of: its count is read from the store again if data comes
    const { budget, writer } = this.options;
    for (const hourSec of budget.hoursOf(writer)) if (hourSec < horizonSec && !held.has(hourSec)) budget.forget(writer, hourSec);
  }
}

const present = (chunks: readonly (RawChunk | null)[]): RawChunk[] => chunks.filter((c): c is RawChunk => c !== null);
