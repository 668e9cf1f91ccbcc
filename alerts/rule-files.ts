/**
 * The alerting setup that ships (compose/rules/*.yml, compose/alertmanager.yml, SPEC section 6)
 * as files, and the few rewrites the tests make of it. The tests run the shipped files, changed
 * only where a test cannot wait (`for:` durations, Alertmanager's grouping delays) or must receive
 * (the webhook URL); each rewrite fails loudly when the text it expects is not there, so a change
 * to the shipped files cannot silently leave the tests running something else.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const COMPOSE_DIR = path.join(ROOT, 'compose');
export const RULES_DIR = path.join(COMPOSE_DIR, 'rules');
export const PROMETHEUS_CONFIG = path.join(COMPOSE_DIR, 'prometheus.yml');
export const ALERTMANAGER_CONFIG = path.join(COMPOSE_DIR, 'alertmanager.yml');

export class RuleFileError extends Error {
  override readonly name = 'RuleFileError';
  readonly code = 'HG_ERR_RULE_FILE';
}

/** The shipped rule files, absolute paths, sorted (what `rule_files: [rules/*.yml]` loads). */
export function ruleFiles(): string[] {
  return fs
    .readdirSync(RULES_DIR)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(RULES_DIR, f));
}

/** Every `for:` of a rule file set to `duration`; `replaced` says how many there were. */
export function withForDurations(ruleText: string, duration: string): { text: string; replaced: number } {
  let replaced = 0;
  const text = ruleText.replace(/^([ \t]+for:[ \t]*)\S+[ \t]*$/gm, (_, key: string) => {
    replaced++;
    return `${key}${duration}`;
  });
  return { text, replaced };
}

/**
 * The shipped files' convention: `## ` lines explain, `# ` lines are configuration to use by
 * removing the `# ` (indentation kept). This removes it from every such line, in place.
 */
export function uncommentExamples(text: string): string {
  return text.replace(/^([ \t]*)# ?(?!#)/gm, '$1');
}

/** Only the example lines, uncommented (for a rule file: extra rules to append to its last group). */
export function commentedExamples(text: string): string {
  return text
    .split('\n')
    .filter((l) => /^#( |$)/.test(l))
    .map((l) => l.replace(/^# ?/, ''))
    .join('\n');
}

export interface AlertmanagerTestSettings {
  readonly webhookUrl: string;
  readonly groupWait: string;
  readonly groupInterval: string;
  readonly repeatInterval: string;
}

/** compose/alertmanager.yml with its webhook pointed at the test and its delays shortened. */
export function alertmanagerForTest(text: string, s: AlertmanagerTestSettings): string {
  const replace = (re: RegExp, value: string, what: string, count?: number) => {
    const found = text.match(re)?.length ?? 0;
    if (found === 0 || (count !== undefined && found !== count)) throw new RuleFileError(`${ALERTMANAGER_CONFIG}: expected ${count ?? 'some'} ${what}, found ${found}`);
    text = text.replace(re, (_, key: string) => `${key}${value}`);
  };
  replace(/^([ \t]+- url: ).*$/gm, `'${s.webhookUrl}'`, 'webhook url', 1);
  replace(/^([ \t]+group_wait: ).*$/gm, s.groupWait, 'group_wait');
  replace(/^([ \t]+group_interval: ).*$/gm, s.groupInterval, 'group_interval');
  replace(/^([ \t]+repeat_interval: ).*$/gm, s.repeatInterval, 'repeat_interval');
  return text;
}

/**
 * A YAML file as plain data, read by PyYAML (python3-yaml, in the test packages): the project has
 * no YAML parser among its dependencies, and grafana/yaml-subset.ts refuses the block scalars and
 * flow lists these files use.
 */
export function readYaml(file: string): unknown {
  // each python3 start costs a noticeable fraction of a second on a loaded machine
  const key = `${file}\0${fs.statSync(file).mtimeMs}`;
  if (yamlCache.has(key)) return structuredClone(yamlCache.get(key));
  const r = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new RuleFileError(`python3 with PyYAML could not read ${file} (apt-get install python3-yaml): ${r.stderr ?? r.error?.message}`);
  const value = JSON.parse(r.stdout) as unknown;
  yamlCache.set(key, value);
  return structuredClone(value);
}

const yamlCache = new Map<string, unknown>();

export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: AlertingRule[];
}

export function readRuleGroups(file: string): RuleGroup[] {
  return (readYaml(file) as { groups: RuleGroup[] }).groups;
}
