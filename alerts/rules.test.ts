/**
 * The shipped alerting setup, checked by the tools that will run it: `promtool check rules` and
 * `promtool test rules` (unit tests with input series and the exact alerts expected, in
 * alerts/*.promtool.yml), `amtool check-config` and `amtool config routes test`. Also the
 * commented-out examples, uncommented, since users will copy them; and the rules' metric names
 * against the names the processes really export.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBusMetrics, createNatsMetrics } from '../bus/index.js';
import { systemClock } from '../core/index.js';
import { Exposition, createGatewayMetrics, defaultMapping } from '../gateway/index.js';
import { createQueryMetrics } from '../query/index.js';
import { createRollupMetrics } from '../rollup/index.js';
import { createProcessRegistry } from '../runtime/metrics.js';
import { ALERTMANAGER_CONFIG, PROMETHEUS_CONFIG, ROOT, commentedExamples, readRuleGroups, readYaml, ruleFiles, uncommentExamples, withForDurations } from './index.js';

const HERE = import.meta.dirname;
const PROMTOOL_TESTS = ['pipeline-rules.promtool.yml', 'response-times-rules.promtool.yml'];
/** Metrics the rules use that other branches are adding (issue 9). */
const METRICS_BEING_ADDED = ['hourglass_rollup_handovers_total', 'hourglass_rollup_lease_renew_failures_total'];

/** Every metric some role exports: each stage's metrics module, and the exposition's own counters, on one registry. */
function everyExportedMetric() {
  const registry = createProcessRegistry();
  createGatewayMetrics(registry);
  createBusMetrics(registry);
  createNatsMetrics(registry);
  createRollupMetrics(registry);
  createQueryMetrics(registry);
  new Exposition({ mapping: defaultMapping(), maxSeries: 1, clock: systemClock, registry });
  return registry.getMetricsAsArray();
}

function run(command: string, args: readonly string[], debianPackage: string): { status: number | null; out: string } {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH } });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${command} is not installed: apt-get install ${debianPackage} (npm test installs it when run as root: scripts/ensure-ready.mjs TEST_PACKAGES)`);
  }
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const promtool = (...args: string[]) => run('promtool', args, 'prometheus');
const amtool = (...args: string[]) => run('amtool', args, 'prometheus-alertmanager');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-rules-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface PromtoolTestFile {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe('alerting rules (compose/rules/)', () => {
  const files = ruleFiles();
  const rules = files.flatMap((f) => readRuleGroups(f).flatMap((g) => g.rules.map((r) => ({ ...r, file: path.basename(f) }))));

  it('are the files compose/prometheus.yml loads, and promtool check rules accepts each', () => {
    expect(files.map((f) => path.basename(f))).toEqual(['hourglass-pipeline.yml', 'response-times.yml']);
    const prom = readYaml(PROMETHEUS_CONFIG) as { rule_files: string[] };
    expect(prom.rule_files).toEqual(['rules/*.yml']);
    for (const file of files) {
      const r = promtool('check', 'rules', file);
      expect(r.status, r.out).toBe(0);
      const count = readRuleGroups(file).reduce((n, g) => n + g.rules.length, 0);
      expect(r.out).toContain(`SUCCESS: ${count} rules found`);
    }
  });

  it('every rule is an alert with a unique name, a for:, a severity, a summary and a description', () => {
    expect(rules.length).toBeGreaterThanOrEqual(17);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(r.alert, `${r.file}: every rule alerts`).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(r.for, `${r.alert} for:`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning'], `${r.alert} severity`).toContain(r.labels?.severity);
      expect(r.annotations?.summary?.length, `${r.alert} summary`).toBeGreaterThan(10);
      expect(r.annotations?.description?.length, `${r.alert} description`).toBeGreaterThan(r.annotations?.summary?.length ?? 0);
    }
  });

  it('every rule file explains each rule in a comment above it', () => {
    for (const file of files) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (/^\s+- alert: /.test(line)) expect(lines[i - 1], `${path.basename(file)} line ${i + 1}: a comment says why`).toMatch(/^\s*##/);
      });
    }
  });

  it('the pipeline rules use only metrics the processes export (or the ones being added), with their real labels', () => {
    // prom-client's metric objects carry their name and label names
    const exported = new Map(everyExportedMetric().map((m) => {
      const { name, labelNames } = m as unknown as { name: string; labelNames?: readonly string[] };
      return [name, [...(labelNames ?? [])]] as const;
    }));
    const pipeline = rules.filter((r) => r.file === 'hourglass-pipeline.yml');
    const used = new Set(pipeline.flatMap((r) => r.expr.match(/\bhourglass_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect([...exported.keys(), ...METRICS_BEING_ADDED], `${name} is exported`).toContain(name);
    for (const name of METRICS_BEING_ADDED) expect(used, `a rule covers ${name}`).toContain(name);
    // the label matchers name labels those metrics have
    for (const r of pipeline) {
      for (const m of r.expr.matchAll(/\b(hourglass_[a-z_]+)\{([^}]*)\}/g)) {
        for (const label of m[2].matchAll(/(\w+)\s*[!=]/g)) expect(exported.get(m[1]), `${r.alert}: ${m[1]} has label ${label[1]}`).toContain(label[1]);
      }
    }
  });

  it('promtool test rules: every alert fires in a unit test with its exact labels and annotations', () => {
    const tested = new Set<string>();
    for (const name of PROMTOOL_TESTS) {
      const file = path.join(HERE, name);
      const r = promtool('test', 'rules', file);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain('SUCCESS');
      const spec = readYaml(file) as PromtoolTestFile;
      for (const t of spec.tests) for (const a of t.alert_rule_test ?? []) if (a.exp_alerts.length > 0) tested.add(a.alertname);
    }
    expect([...tested].sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  it('the unit tests can fail: with every for: halved, promtool reports alerts that fire too early', () => {
    const dir = path.join(tmp, 'halved');
    fs.mkdirSync(path.join(dir, 'compose', 'rules'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'alerts'));
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8').replace(/^(\s+for: )(\d+)m$/gm, (_, key: string, minutes: string) => `${key}${Number(minutes) * 30}s`);
      fs.writeFileSync(path.join(dir, 'compose', 'rules', path.basename(file)), text);
    }
    for (const name of PROMTOOL_TESTS) {
      fs.copyFileSync(path.join(HERE, name), path.join(dir, 'alerts', name));
      const r = promtool('test', 'rules', path.join(dir, 'alerts', name));
      expect(r.status, r.out).not.toBe(0);
      expect(r.out).toContain('FAILED');
    }
  });

  it('the commented-out histogram example of response-times.yml is a valid rule that passes its unit test', () => {
    const shipped = path.join(ROOT, 'compose', 'rules', 'response-times.yml');
    const text = fs.readFileSync(shipped, 'utf8');
    const example = commentedExamples(text);
    expect(example).toContain('- alert: ApiCheckoutP99HighHistogram');
    const dir = path.join(tmp, 'examples');
    fs.mkdirSync(path.join(dir, 'examples'), { recursive: true });
    // the example is indented as an item of the file's last rules list
    const withExample = path.join(dir, 'examples', 'response-times.yml');
    fs.writeFileSync(withExample, `${text.trimEnd()}\n${example}\n`);
    const check = promtool('check', 'rules', withExample);
    expect(check.status, check.out).toBe(0);
    expect(check.out).toContain('SUCCESS: 2 rules found');
    fs.copyFileSync(path.join(HERE, 'response-times-examples.promtool.yml'), path.join(dir, 'response-times-examples.promtool.yml'));
    const unit = promtool('test', 'rules', path.join(dir, 'response-times-examples.promtool.yml'));
    expect(unit.status, unit.out).toBe(0);
  });

  it('withForDurations rewrites every for: and nothing else (the end-to-end test relies on it)', () => {
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      const { text: short, replaced } = withForDurations(text, '1s');
      expect(replaced).toBe(readRuleGroups(file).reduce((n, g) => n + g.rules.length, 0));
      expect(short.split('\n').length).toBe(text.split('\n').length);
      const changed = short.split('\n').filter((l, i) => l !== text.split('\n')[i]);
      for (const l of changed) expect(l).toMatch(/^\s+for: 1s$/);
    }
  });
});

describe('Alertmanager configuration (compose/alertmanager.yml)', () => {
  const text = fs.readFileSync(ALERTMANAGER_CONFIG, 'utf8');

  it('amtool check-config accepts it: a webhook receiver, grouping, repeats, an inhibit rule', () => {
    const r = amtool('check-config', ALERTMANAGER_CONFIG);
    expect(r.status, r.out).toBe(0);
    const am = readYaml(ALERTMANAGER_CONFIG) as {
      route: { receiver: string; group_by: string[]; group_wait: string; group_interval: string; repeat_interval: string };
      receivers: { name: string; webhook_configs?: { url: string; send_resolved: boolean }[] }[];
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
    };
    expect(am.route.receiver).toBe('webhook');
    expect(am.route.group_by).toEqual(['alertname', 'job']);
    expect([am.route.group_wait, am.route.group_interval, am.route.repeat_interval]).toEqual(['30s', '5m', '4h']);
    expect(am.receivers.map((x) => x.name)).toEqual(['webhook']);
    expect(am.receivers[0].webhook_configs?.[0]).toMatchObject({ send_resolved: true });
    // the inhibit rule names alerts that exist
    const names = new Set(ruleFiles().flatMap((f) => readRuleGroups(f).flatMap((g) => g.rules.map((x) => x.alert))));
    for (const rule of am.inhibit_rules) {
      for (const m of [...rule.source_matchers, ...rule.target_matchers]) {
        const alertname = /^alertname="(\w+)"$/.exec(m)?.[1];
        expect(names, m).toContain(alertname);
      }
    }
  });

  it('routes critical and warning alerts to the webhook (amtool config routes test)', () => {
    for (const labels of [['severity=critical', 'alertname=HourglassRoleDown'], ['severity=warning', 'alertname=HourglassLinesRejected'], ['severity=warning', 'key=api.checkout']]) {
      const r = amtool('config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, ...labels);
      expect(r.out.split('\n')[0], labels.join(' ')).toBe('webhook');
    }
  });

  it('its commented mail and chat examples, uncommented, are valid and route as their comments say', () => {
    const file = path.join(tmp, 'alertmanager-examples.yml');
    fs.writeFileSync(file, uncommentExamples(text));
    const r = amtool('check-config', file);
    expect(r.status, r.out).toBe(0);
    const am = readYaml(file) as { receivers: { name: string }[] };
    expect(am.receivers.map((x) => x.name)).toEqual(['webhook', 'mail', 'chat']);
    const route = (...labels: string[]) => amtool('config', 'routes', 'test', `--config.file=${file}`, ...labels).out.split('\n')[0];
    expect(route('severity=critical', 'alertname=HourglassRoleDown')).toBe('mail,webhook');
    expect(route('severity=warning', 'key=api.checkout')).toBe('chat');
    expect(route('severity=warning', 'alertname=HourglassLinesRejected')).toBe('webhook');
  });
});
