/**
 * The provisioned Grafana files as the tests read them: the dashboards' panels, targets and
 * template variables, the provisioned data sources, and variable interpolation as Grafana does
 * it for InfluxQL and PromQL (so the tests run the text Grafana would send, not a paraphrase).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseYamlSubset, type YamlValue } from './yaml-subset.js';

export const GRAFANA_DIR = import.meta.dirname;
export const DASHBOARD_DIR = path.join(GRAFANA_DIR, 'dashboards');
export const PROVISIONING_DIR = path.join(GRAFANA_DIR, 'provisioning');

export interface DataSourceRef {
  readonly type: string;
  readonly uid: string;
}

export interface Target {
  readonly refId: string;
  readonly datasource?: DataSourceRef;
  /** InfluxQL (rawQuery) */
  readonly query?: string;
  readonly rawQuery?: boolean;
  readonly resultFormat?: string;
  /** PromQL */
  readonly expr?: string;
}

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: DataSourceRef;
  readonly gridPos: { h: number; w: number; x: number; y: number };
  readonly targets?: Target[];
  readonly panels?: Panel[];
  readonly options?: { content?: string };
}

export interface Variable {
  readonly type: string;
  readonly name: string;
  readonly query?: string | { query: string };
  readonly datasource?: DataSourceRef;
  readonly multi?: boolean;
  readonly includeAll?: boolean;
  readonly allValue?: string;
}

export interface Dashboard {
  readonly file: string;
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: Panel[];
  readonly templating: { list: Variable[] };
}

export function listFiles(dir: string, ext: RegExp): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => ext.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export function loadDashboards(): Dashboard[] {
  return listFiles(DASHBOARD_DIR, /\.json$/).map((file) => ({ ...(JSON.parse(fs.readFileSync(file, 'utf8')) as Omit<Dashboard, 'file'>), file }));
}

/** Every panel, the ones inside collapsed rows included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function loadYaml(file: string): YamlValue {
  return parseYamlSubset(fs.readFileSync(file, 'utf8'));
}

export interface ProvisionedDataSource {
  readonly name: string;
  readonly uid: string;
  readonly type: string;
  readonly url: string;
  readonly jsonData?: Record<string, YamlValue>;
}

export function provisionedDataSources(): ProvisionedDataSource[] {
  return listFiles(path.join(PROVISIONING_DIR, 'datasources'), /\.ya?ml$/).flatMap((file) => {
    const doc = loadYaml(file) as { datasources?: ProvisionedDataSource[] };
    return doc.datasources ?? [];
  });
}

export const variableQuery = (v: Variable): string => (typeof v.query === 'string' ? v.query : (v.query?.query ?? ''));

/** The value of one template variable, and how Grafana knows it (multi or All changes escaping). */
export interface VariableValue {
  readonly value: string | readonly string[];
  readonly multi?: boolean;
  readonly includeAll?: boolean;
}

/** Values Grafana computes itself: $timeFilter and the `__` variables. */
export interface BuiltIns {
  readonly fromMs: number;
  readonly toMs: number;
  /** `$__interval`, e.g. `1s`; `$__rate_interval` is derived from it as Grafana does. */
  readonly intervalSec: number;
  /** The Prometheus data source's scrape interval (jsonData.timeInterval). */
  readonly scrapeIntervalSec: number;
}

/** Grafana's escapeRegex (@grafana/data): regex metacharacters and `/` get a backslash. */
const escapeRegex = (value: string) => value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');

/**
 * Grafana's InfluxDB data source formats a variable this way (interpolateQueryExpr): a
 * single-valued variable is regex-escaped unless it reads as a number; multi/All values are
 * escaped and joined with `|`. Our dashboards only use single-valued variables, inside
 * `=~ /^$var$/`; a multi-valued one would have to be written `/^($var)$/`.
 */
function influxFormat(v: VariableValue): string {
  if (!v.multi && !v.includeAll) {
    const value = Array.isArray(v.value) ? v.value.join(',') : (v.value as string);
    return Number.isNaN(parseFloat(value)) ? escapeRegex(value) : value;
  }
  const values = typeof v.value === 'string' ? [v.value] : v.value;
  return values.map(escapeRegex).join('|');
}

/** Prometheus: values go into label matchers as regex alternatives. */
function promFormat(v: VariableValue): string {
  const values = typeof v.value === 'string' ? [v.value] : v.value;
  return values.length === 1 && !v.multi ? values[0] : `(${values.map(escapeRegex).join('|')})`;
}

const duration = (sec: number) => `${Math.max(1, Math.round(sec))}s`;

function builtIn(name: string, b: BuiltIns, dialect: 'influxql' | 'promql'): string | undefined {
  switch (name) {
    case 'timeFilter':
      return dialect === 'influxql' ? `time >= ${b.fromMs}ms and time <= ${b.toMs}ms` : undefined;
    case '__interval':
      return duration(b.intervalSec);
    case '__interval_ms':
      return String(Math.round(b.intervalSec * 1000));
    case '__rate_interval':
      // Grafana: max($__interval + scrape interval, 4 x scrape interval)
      return duration(Math.max(b.intervalSec + b.scrapeIntervalSec, 4 * b.scrapeIntervalSec));
    case '__range':
      return duration((b.toMs - b.fromMs) / 1000);
    default:
      return undefined;
  }
}

/**
 * Replaces `$var`, `${var}` and `[[var]]` as Grafana would; an unknown variable is an error (a
 * typo in a dashboard), not text left in the query.
 */
export function interpolate(text: string, dialect: 'influxql' | 'promql', vars: Readonly<Record<string, VariableValue>>, b: BuiltIns): string {
  return text.replace(/\$(\w+)|\$\{(\w+)\}|\[\[(\w+)\]\]/g, (whole, a?: string, c?: string, d?: string) => {
    const name = (a ?? c ?? d) as string;
    const fixed = builtIn(name, b, dialect);
    if (fixed !== undefined) return fixed;
    const v = vars[name];
    if (v === undefined) throw new Error(`unknown variable ${whole} in ${JSON.stringify(text)}`);
    return dialect === 'influxql' ? influxFormat(v) : promFormat(v);
  });
}
