/** The shipped alerting setup (compose/rules/, compose/alertmanager.yml) and the rewrites its tests make. */
export {
  ALERTMANAGER_CONFIG,
  COMPOSE_DIR,
  PROMETHEUS_CONFIG,
  ROOT,
  RULES_DIR,
  RuleFileError,
  alertmanagerForTest,
  commentedExamples,
  readRuleGroups,
  readYaml,
  ruleFiles,
  uncommentExamples,
  withForDurations,
  type AlertingRule,
  type AlertmanagerTestSettings,
  type RuleGroup,
} from './rule-files.js';
