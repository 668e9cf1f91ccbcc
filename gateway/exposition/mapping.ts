/**
 * statsd_exporter's mapping file (STATSD_MAPPING_CONFIG), read so that existing files work
 * unchanged (SPEC §6): `defaults`, `mappings[]` with glob and regex matches, `name`, `labels`
 * from `$1`/`${1}` captures, `match_metric_type`, `action: drop`, `observer_type` (and the
 * legacy `timer_type`), `histogram_options`, `summary_options`, `ttl`, `scale`, `help`,
 * `honor_labels`.
 *
 * Differences from statsd_exporter, on purpose:
 * - every problem of a file is reported at once (it stops at the first), each naming its place;
 * - a mapping with `action: drop` needs no `name`;
 * - a label name of one character is allowed (Prometheus allows it; its check asks for two);
 * - histogram buckets out of order are a load problem (client_golang panics at first use);
 * - `native_histogram_*` options are read and ignored: the text format 0.0.4 has no native
 *   histograms;
 * - `glob_disable_ordering` is read and ignored: globs are always tried in file order, which is
 *   what the ordered matcher it selects by default does;
 * - regular expressions are JavaScript's, not RE2: `(?P<name>` is accepted and rewritten to
 *   `(?<name>`; a pattern RE2 refuses but JavaScript takes (backreferences) is taken.
 */
import { parseDocument } from 'yaml';

export const MAPPER_METRIC_TYPES = ['counter', 'gauge', 'observer'] as const;
export type MapperMetricType = (typeof MAPPER_METRIC_TYPES)[number];

export const OBSERVER_TYPES = ['summary', 'histogram'] as const;
export type ObserverType = (typeof OBSERVER_TYPES)[number];

export const MATCH_TYPES = ['glob', 'regex'] as const;
export type MatchType = (typeof MATCH_TYPES)[number];

export const ACTIONS = ['map', 'drop'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Objective {
  readonly quantile: number;
  readonly error: number;
}

export interface SummaryOptions {
  readonly quantiles: readonly Objective[];
  readonly maxAgeMs: number;
  readonly ageBuckets: number;
}

/** One mapping with the defaults filled in; `defaults` alone for metrics no mapping matches. */
export interface MappingRule {
  /** Position in `mappings[]`; -1 for the defaults. */
  readonly index: number;
  readonly match: string;
  readonly matchType: MatchType;
  /** The name template (`$1`, `${1}`); empty for the defaults (the StatsD name is kept). */
  readonly name: string;
  readonly labels: readonly (readonly [key: string, template: string])[];
  readonly honorLabels: boolean;
  readonly action: Action;
  readonly matchMetricType: MapperMetricType | undefined;
  readonly observerType: ObserverType;
  readonly buckets: readonly number[];
  readonly summary: SummaryOptions;
  /** 0: never expires. */
  readonly ttlMs: number;
  readonly scale: number | undefined;
  readonly help: string | undefined;
}

/** What a StatsD name maps to: the rule, and the name and labels it produced. */
export interface MappingMatch {
  readonly rule: MappingRule;
  /** The Prometheus name before escaping; for the defaults, the StatsD name. */
  readonly name: string;
  readonly labels: readonly (readonly [string, string])[];
  readonly matched: boolean;
}

export class MappingError extends Error {
  override readonly name = 'MappingError';
  readonly code = 'HG_ERR_MAPPING';
  constructor(readonly problems: readonly string[]) {
    super(`invalid mapping file:\n  ${problems.join('\n  ')}`);
  }
}

/** prometheus.DefBuckets, statsd_exporter's default histogram buckets (seconds). */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** statsd_exporter's default quantiles (its defaultQuantiles). */
export const DEFAULT_QUANTILES: readonly Objective[] = [
  { quantile: 0.5, error: 0.05 },
  { quantile: 0.9, error: 0.01 },
  { quantile: 0.99, error: 0.001 },
];
/** client_golang's DefMaxAge and DefAgeBuckets, which statsd_exporter falls back on. */
export const DEFAULT_MAX_AGE_MS = 10 * 60 * 1000;
export const DEFAULT_AGE_BUCKETS = 5;

// The checks statsd_exporter applies (pkg/mapper/mapper.go), as facts: a glob is dot-separated
// segments, each `*` or a StatsD name part; a mapped name is a Prometheus name with templates.
const GLOB_RE = /^(\*|[a-zA-Z_][a-zA-Z0-9_-]*)(\.\*|\.[a-zA-Z0-9_][a-zA-Z0-9_-]*)*$/;
const NAME_RE = /^([a-zA-Z_]|\$\{?\d+\}?)([a-zA-Z0-9_]|\$\{?\d+\}?)*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** The references a glob template may hold (its fsm/formatter.go). */
const GLOB_TEMPLATE_RE = /\$\{?([a-zA-Z0-9_$]+)\}?/g;

const TOP_KEYS = ['defaults', 'mappings'];
const DEFAULT_KEYS = ['observer_type', 'timer_type', 'match_type', 'glob_disable_ordering', 'ttl', 'summary_options', 'histogram_options', 'buckets', 'quantiles'];
const MAPPING_KEYS = ['match', 'name', 'labels', 'honor_labels', 'observer_type', 'timer_type', 'match_type', 'help', 'action', 'match_metric_type', 'ttl', 'summary_options', 'histogram_options', 'scale', 'buckets', 'quantiles'];
const SUMMARY_KEYS = ['quantiles', 'max_age', 'age_buckets', 'buf_cap'];
const HISTOGRAM_KEYS = ['buckets', 'native_histogram_bucket_factor', 'native_histogram_max_buckets'];

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration (`1h30m`, `90s`, `0.5s`) in milliseconds; a bare integer is nanoseconds, as yaml.v2 reads it. */
export function parseGoDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value / 1e6 : undefined;
  if (typeof value !== 'string') return undefined;
  if (value === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (m === null) return undefined;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    at = re.lastIndex;
  }
  return at === 0 ? undefined : total;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects problems while reading one file. */
class Reader {
  readonly problems: string[] = [];

  problem(where: string, what: string): void {
    this.problems.push(`${where}: ${what}`);
  }

  keys(where: string, value: Obj, allowed: readonly string[]): void {
    for (const k of Object.keys(value)) if (!allowed.includes(k)) this.problem(`${where}.${k}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }

  oneOf<T extends string>(where: string, value: unknown, allowed: readonly T[], aliases: Readonly<Record<string, T>> = {}): T | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'string') {
      if ((allowed as readonly string[]).includes(value)) return value as T;
      if (aliases[value] !== undefined) return aliases[value];
    }
    this.problem(where, `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
    return undefined;
  }

  duration(where: string, value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    const ms = parseGoDuration(value);
    if (ms === undefined) this.problem(where, `${JSON.stringify(value)} is not a duration such as 30s, 10m or 1h`);
    return ms;
  }

  number(where: string, value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    this.problem(where, `${JSON.stringify(value)} is not a number`);
    return undefined;
  }

  bool(where: string, value: unknown): boolean {
    if (value === undefined || value === null) return false;
    if (typeof value === 'boolean') return value;
    this.problem(where, `${JSON.stringify(value)} is not true or false`);
    return false;
  }

  buckets(where: string, value: unknown): number[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || value.some((b) => typeof b !== 'number' || Number.isNaN(b))) {
      this.problem(where, 'expected a list of numbers');
      return undefined;
    }
    for (let i = 1; i < value.length; i++) {
      if (!(value[i] > value[i - 1])) {
        this.problem(where, 'buckets must be in increasing order');
        return undefined;
      }
    }
    // +Inf is always added when rendered
    return (value as number[]).filter((b) => b !== Infinity);
  }

  quantiles(where: string, value: unknown): Objective[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) {
      this.problem(where, 'expected a list of {quantile, error}');
      return undefined;
    }
    const out: Objective[] = [];
    value.forEach((o, i) => {
      const at = `${where}[${i}]`;
      if (!isObj(o)) return this.problem(at, 'expected {quantile, error}');
      this.keys(at, o, ['quantile', 'error']);
      const q = this.number(`${at}.quantile`, o.quantile);
      const e = this.number(`${at}.error`, o.error) ?? 0;
      if (q === undefined) {
        if (o.quantile === undefined) this.problem(`${at}.quantile`, 'required');
        return;
      }
      if (q < 0 || q > 1) return this.problem(`${at}.quantile`, 'must be within 0..1');
      out.push({ quantile: q, error: e });
    });
    return out;
  }

  summary(where: string, value: unknown): Partial<SummaryOptions> | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isObj(value)) {
      this.problem(where, 'expected a map');
      return undefined;
    }
    this.keys(where, value, SUMMARY_KEYS);
    const ageBuckets = this.number(`${where}.age_buckets`, value.age_buckets);
    if (ageBuckets !== undefined && !(Number.isInteger(ageBuckets) && ageBuckets >= 0 && ageBuckets <= 1000)) this.problem(`${where}.age_buckets`, 'expected a whole number 0..1000');
    this.number(`${where}.buf_cap`, value.buf_cap); // read for compatibility; the sketch needs no buffer
    const quantiles = this.quantiles(`${where}.quantiles`, value.quantiles);
    const maxAgeMs = this.duration(`${where}.max_age`, value.max_age);
    return {
      ...(quantiles && quantiles.length > 0 ? { quantiles } : {}),
      ...(maxAgeMs ? { maxAgeMs } : {}),
      ...(ageBuckets ? { ageBuckets } : {}),
    };
  }

  histogram(where: string, value: unknown): number[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isObj(value)) {
      this.problem(where, 'expected a map');
      return undefined;
    }
    this.keys(where, value, HISTOGRAM_KEYS);
    this.number(`${where}.native_histogram_bucket_factor`, value.native_histogram_bucket_factor);
    this.number(`${where}.native_histogram_max_buckets`, value.native_histogram_max_buckets);
    return this.buckets(`${where}.buckets`, value.buckets);
  }
}

interface CompiledRule extends MappingRule {
  /** Glob: the segments, `*` a capture. */
  readonly segments: readonly string[] | undefined;
  readonly regex: RegExp | undefined;
}

/** A loaded mapping file: matches a StatsD name and type to a rule. Immutable. */
export class Mapping {
  /** Globs by segment count, in file order. */
  private readonly globsBySegments = new Map<number, CompiledRule[]>();
  private readonly regexes: CompiledRule[] = [];

  constructor(
    readonly defaults: MappingRule,
    readonly rules: readonly MappingRule[],
  ) {
    for (const r of rules as readonly CompiledRule[]) {
      if (r.segments !== undefined) {
        const list = this.globsBySegments.get(r.segments.length) ?? [];
        list.push(r);
        this.globsBySegments.set(r.segments.length, list);
      } else {
        this.regexes.push(r);
      }
    }
  }

  /**
   * The first glob (in file order) that matches, else the first regex, else the defaults: the
   * order statsd_exporter follows (its FSM before its regex list).
   */
  match(name: string, type: MapperMetricType): MappingMatch {
    const globs = this.globsBySegments.size > 0 ? this.globsBySegments.get(countDots(name) + 1) : undefined;
    if (globs !== undefined) {
      const parts = name.split('.');
      for (const r of globs) {
        if (r.matchMetricType !== undefined && r.matchMetricType !== type) continue;
        const segments = r.segments as readonly string[];
        let ok = true;
        for (let i = 0; i < segments.length; i++) {
          if (segments[i] !== '*' && segments[i] !== parts[i]) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
        const captures: string[] = [];
        for (let i = 0; i < segments.length; i++) if (segments[i] === '*') captures.push(parts[i]);
        return {
          rule: r,
          name: expandGlob(r.name, captures),
          labels: r.labels.map(([k, t]) => [k, expandGlob(t, captures)] as const),
          matched: true,
        };
      }
    }
    for (const r of this.regexes) {
      if (r.matchMetricType !== undefined && r.matchMetricType !== type) continue;
      const m = (r.regex as RegExp).exec(name);
      if (m === null) continue;
      return {
        rule: r,
        name: expandRegex(r.name, m),
        labels: r.labels.map(([k, t]) => [k, expandRegex(t, m)] as const),
        matched: true,
      };
    }
    return { rule: this.defaults, name, labels: [], matched: false };
  }
}

function countDots(name: string): number {
  let n = 0;
  let at = name.indexOf('.');
  while (at !== -1) {
    n++;
    at = name.indexOf('.', at + 1);
  }
  return n;
}

/** statsd_exporter's glob templates: `$n`/`${n}` is capture n (from 1); any other reference is empty. */
function expandGlob(template: string, captures: readonly string[]): string {
  if (!template.includes('$')) return template;
  return template.replace(GLOB_TEMPLATE_RE, (_all, ref: string) => {
    const n = /^\d+$/.test(ref) ? Number(ref) : 0;
    return n >= 1 && n <= captures.length ? captures[n - 1] : '';
  });
}

/**
 * Go's Regexp.Expand, as statsd_exporter uses it for regex mappings: `$name` takes the longest
 * run of [a-zA-Z0-9_] (so `$1x` is the group named `1x`, empty), `${name}` is explicit, `$$` is
 * `$`; a number is a group index, anything else a named group; unknown references are empty.
 */
function expandRegex(template: string, m: RegExpExecArray): string {
  if (!template.includes('$')) return template;
  return template.replace(/\$(?:\$|\{([a-zA-Z0-9_]+)\}|([a-zA-Z0-9_]+))/g, (all, braced: string | undefined, bare: string | undefined) => {
    if (all === '$$') return '$';
    const ref = (braced ?? bare) as string;
    if (/^\d+$/.test(ref)) return m[Number(ref)] ?? '';
    return m.groups?.[ref] ?? '';
  });
}

/** Reads and checks a mapping file; throws MappingError naming every problem. */
export function loadMapping(text: string): Mapping {
  const r = new Reader();
  const doc = parseDocument(text, { uniqueKeys: true });
  for (const e of doc.errors) r.problem(`line ${e.linePos?.[0].line ?? '?'}`, e.message.split('\n')[0]);
  if (doc.errors.length > 0) throw new MappingError(r.problems);
  const root: unknown = doc.toJS() ?? {};
  if (!isObj(root)) throw new MappingError(['(top level): expected a map with defaults and mappings']);
  r.keys('(top level)', root, TOP_KEYS);

  const d: Obj = isObj(root.defaults) ? root.defaults : {};
  if (root.defaults !== undefined && root.defaults !== null && !isObj(root.defaults)) r.problem('defaults', 'expected a map');
  r.keys('defaults', d, DEFAULT_KEYS);
  const observerAlias = { '': 'summary' } as const;
  const defaultObserver = r.oneOf('defaults.observer_type', d.observer_type, OBSERVER_TYPES, observerAlias) ?? r.oneOf('defaults.timer_type', d.timer_type, OBSERVER_TYPES, observerAlias) ?? 'summary';
  const defaultMatchType = r.oneOf('defaults.match_type', d.match_type, MATCH_TYPES) ?? 'glob';
  r.bool('defaults.glob_disable_ordering', d.glob_disable_ordering);
  const defaultTtl = r.duration('defaults.ttl', d.ttl) ?? 0;
  const defaultSummary = r.summary('defaults.summary_options', d.summary_options) ?? {};
  const defaultBuckets = r.histogram('defaults.histogram_options', d.histogram_options) ?? r.buckets('defaults.buckets', d.buckets) ?? [...DEFAULT_BUCKETS];
  const legacyQuantiles = r.quantiles('defaults.quantiles', d.quantiles);
  const summaryDefaults: SummaryOptions = {
    quantiles: defaultSummary.quantiles ?? (legacyQuantiles && legacyQuantiles.length > 0 ? legacyQuantiles : DEFAULT_QUANTILES),
    maxAgeMs: defaultSummary.maxAgeMs ?? DEFAULT_MAX_AGE_MS,
    ageBuckets: defaultSummary.ageBuckets ?? DEFAULT_AGE_BUCKETS,
  };
  const defaults: CompiledRule = {
    index: -1,
    match: '',
    matchType: defaultMatchType,
    name: '',
    labels: [],
    honorLabels: false,
    action: 'map',
    matchMetricType: undefined,
    observerType: defaultObserver,
    buckets: defaultBuckets,
    summary: summaryDefaults,
    ttlMs: defaultTtl,
    scale: undefined,
    help: undefined,
    segments: undefined,
    regex: undefined,
  };

  const rules: CompiledRule[] = [];
  const list = root.mappings ?? [];
  if (!Array.isArray(list)) r.problem('mappings', 'expected a list');
  (Array.isArray(list) ? list : []).forEach((m: unknown, index) => {
    const at = `mappings[${index}]`;
    if (!isObj(m)) return r.problem(at, 'expected a map');
    r.keys(at, m, MAPPING_KEYS);
    const where = (k: string) => `${at}.${k}`;
    const matchType = r.oneOf(where('match_type'), m.match_type, MATCH_TYPES) ?? defaultMatchType;
    const action = r.oneOf(where('action'), m.action, ACTIONS) ?? 'map';
    const match = typeof m.match === 'string' ? m.match : undefined;
    if (match === undefined) r.problem(where('match'), m.match === undefined ? 'required' : 'expected a string');
    let segments: string[] | undefined;
    let regex: RegExp | undefined;
    if (match !== undefined && matchType === 'glob') {
      if (GLOB_RE.test(match)) segments = match.split('.');
      else r.problem(where('match'), `${JSON.stringify(match)} is not a glob of dot-separated names and *`);
    } else if (match !== undefined) {
      try {
        // Go's RE2 spells named groups (?P<name>...); JavaScript (?<name>...)
        regex = new RegExp(match.replace(/\(\?P</g, '(?<'));
      } catch (err) {
        r.problem(where('match'), `invalid regular expression: ${(err as Error).message}`);
      }
    }
    const name = typeof m.name === 'string' ? m.name : '';
    if (m.name !== undefined && typeof m.name !== 'string') r.problem(where('name'), 'expected a string');
    else if (name === '' && action !== 'drop') r.problem(where('name'), 'required (the metric name to expose)');
    else if (name !== '' && !NAME_RE.test(name)) r.problem(where('name'), `${JSON.stringify(name)} is not a metric name (letters, digits, _ and $n captures; not starting with a digit)`);
    const labels: [string, string][] = [];
    if (m.labels !== undefined && m.labels !== null) {
      if (!isObj(m.labels)) r.problem(where('labels'), 'expected a map of label name to value');
      else
        for (const [k, v] of Object.entries(m.labels)) {
          if (!LABEL_RE.test(k) || k.startsWith('__')) r.problem(where(`labels.${k}`), 'invalid label name (letters, digits and _, not starting with a digit or __)');
          else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') r.problem(where(`labels.${k}`), 'expected a string');
          else labels.push([k, String(v)]);
        }
    }
    const observerType = r.oneOf(where('observer_type'), m.observer_type, OBSERVER_TYPES, observerAlias) ?? r.oneOf(where('timer_type'), m.timer_type, OBSERVER_TYPES, observerAlias) ?? defaultObserver;
    const histogramBuckets = r.histogram(where('histogram_options'), m.histogram_options) ?? r.buckets(where('buckets'), m.buckets);
    const summary = r.summary(where('summary_options'), m.summary_options);
    const quantiles = r.quantiles(where('quantiles'), m.quantiles);
    if (observerType === 'histogram' && (m.summary_options !== undefined || m.quantiles !== undefined)) r.problem(at, 'summary options given for a histogram observer');
    if (observerType === 'summary' && (m.histogram_options !== undefined || m.buckets !== undefined)) r.problem(at, 'histogram options given for a summary observer (set observer_type: histogram)');
    const scale = r.number(where('scale'), m.scale);
    const help = m.help === undefined || m.help === null ? undefined : String(m.help);
    rules.push({
      index,
      match: match ?? '',
      matchType,
      name,
      labels,
      honorLabels: r.bool(where('honor_labels'), m.honor_labels),
      action,
      // `timer` is what files written for statsd_exporter before 0.7 say for observers
      matchMetricType: r.oneOf(where('match_metric_type'), m.match_metric_type, MAPPER_METRIC_TYPES, { timer: 'observer' }),
      observerType,
      buckets: histogramBuckets && histogramBuckets.length > 0 ? histogramBuckets : defaultBuckets,
      summary: {
        quantiles: summary?.quantiles ?? (quantiles && quantiles.length > 0 ? quantiles : summaryDefaults.quantiles),
        maxAgeMs: summary?.maxAgeMs ?? summaryDefaults.maxAgeMs,
        ageBuckets: summary?.ageBuckets ?? summaryDefaults.ageBuckets,
      },
      ttlMs: r.duration(where('ttl'), m.ttl) || defaultTtl,
      scale,
      help: help === '' ? undefined : help,
      segments,
      regex,
    });
  });
  if (r.problems.length > 0) throw new MappingError(r.problems);
  return new Mapping(defaults, rules);
}

/** The mapping without a file: statsd_exporter's defaults. */
export function defaultMapping(): Mapping {
  return loadMapping('');
}
