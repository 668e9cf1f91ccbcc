/**
 * The import rules of the layout (README "The code"): the folders are the pipeline, gateway ->
 * bus -> rollup -> store -> query, with core/ (shared value types) under all of them and runtime/
 * (config, CLI, wiring) over all of them. Checked by test-support/layout.test.ts on every
 * `npm test`; dependency-cruiser resolves TypeScript imports as the compiler does.
 * Test files may reach any stage's public face (they wire stages together); the rules below are
 * for the product code.
 */
const PIPELINE = '^(core|gateway|bus|rollup|store|query|agent)/';
const notTests = '\\.test\\.ts$';

/** A stage and what it may import of ours besides itself and core/. */
const allowed = {
  core: [],
  agent: ['gateway'],
  gateway: ['bus'],
  bus: [],
  rollup: ['bus', 'store'],
  store: [],
  query: ['store'],
};

const stageRules = Object.entries(allowed).map(([stage, may]) => ({
  name: `${stage}-imports`,
  comment: `${stage}/ may import only ${['core', stage, ...may].join(', ')} of Hourglass`,
  severity: 'error',
  from: { path: `^${stage}/`, pathNot: notTests },
  to: { path: PIPELINE.replace(')/', '|runtime)/'), pathNot: `^(${['core', stage, ...may].join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...stageRules,
    {
      name: 'no-cycles',
      comment: 'no import cycle, between folders or within one',
      severity: 'error',
      from: { pathNot: notTests },
      to: { circular: true },
    },
    {
      name: 'through-the-index',
      comment: "another folder's code is imported through its index.ts (its public face)",
      severity: 'error',
      from: { path: '^(core|gateway|bus|rollup|store|query|agent|runtime)/', pathNot: notTests },
      to: { path: '^(core|gateway|bus|rollup|store|query|agent)/', pathNot: ['^$1/', '/index\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(node_modules|dist)/' },
  },
};
