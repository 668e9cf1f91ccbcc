/**
 * The layout's import rules (.dependency-cruiser.cjs) hold for the product code: a forbidden
 * import, a cycle or a reach past another folder's index.ts fails this test, naming it.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { cruise, type IReporterOutput } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const FOLDERS = ['core', 'agent', 'gateway', 'bus', 'rollup', 'store', 'query', 'runtime'].filter((f) => fs.existsSync(path.join(root, f)));

async function violations(): Promise<string[]> {
  const rules = createRequire(import.meta.url)(path.join(root, '.dependency-cruiser.cjs')) as { forbidden: unknown[]; options: Record<string, unknown> };
  const cwd = process.cwd();
  process.chdir(root);
  let result: IReporterOutput;
  try {
    result = await cruise(FOLDERS, { ...rules.options, validate: true, ruleSet: { forbidden: rules.forbidden } } as never);
  } finally {
    process.chdir(cwd);
  }
  const output = result.output as { summary: { violations: { from: string; to: string; rule: { name: string } }[] } };
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
}

describe('layout', () => {
  it('no stage imports the wiring or a later stage, no cycles, other folders only through index.ts', async () => {
    expect(await violations()).toEqual([]);
  }, 60_000);
});
