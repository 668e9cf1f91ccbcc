#!/usr/bin/env node
// The package's command: the compiled CLI lives in dist/ (`npm run build`; `npm start` builds it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/runtime/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('hourglass: dist/ is missing; run `npm install && npm run build` (npm start does both)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2), process.env);
if (code !== 0) process.exit(code);
