#!/usr/bin/env node
// Makes a fresh clone runnable, so `npm start` and `npm test` work with no separate step:
//   1. npm dependencies installed (npm ci) when node_modules is missing or older than the lock;
//   2. TypeScript compiled to dist/ when any source is newer than the build;
//   3. with --system-packages (npm test): the Debian packages the tests drive, installed with
//      apt-get when missing (root), or a failure naming them.
// Plain Node, no dependencies: it runs before they exist.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['core', 'agent', 'gateway', 'bus', 'rollup', 'store', 'query', 'runtime'];

/** Debian packages the test suite needs: the StatsD clients of compat-tests/, the servers of test-support/, and the browser of query/web/'s tests. */
const TEST_PACKAGES = ['python3-statsd', 'ruby-statsd', 'libnet-statsd-perl', 'python3-aiodogstatsd', 'nats-server', 'influxdb', 'prometheus', 'prometheus-alertmanager', 'docker-compose', 'python3-yaml', 'chromium'];

const say = (text) => process.stderr.write(`ensure-ready: ${text}\n`);

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    say(`${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const mtime = (file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0);

function newestSource() {
  let newest = mtime(path.join(root, 'tsconfig.json'));
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, mtime(p));
    }
  };
  for (const d of SOURCE_DIRS) walk(path.join(root, d));
  return newest;
}

function ensureDependencies() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (mtime(installed) >= mtime(path.join(root, 'package-lock.json'))) return;
  say('installing npm dependencies (npm ci; better-sqlite3 compiles from source, about 2 minutes)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

function ensureBuild() {
  const stamp = path.join(root, 'dist', '.build-stamp');
  if (mtime(stamp) >= newestSource()) return;
  say('compiling TypeScript (tsc)');
  run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')]);
  fs.writeFileSync(stamp, new Date().toISOString());
}

function missingPackages(names) {
  return names.filter((name) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function ensureSystemPackages(names) {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    say(`missing Debian packages: ${missing.join(' ')}; install them (apt-get install ${missing.join(' ')}) or run npm test as root on Debian`);
    process.exit(1);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = missingPackages(missing);
  if (still.length > 0) {
    say(`apt-get could not install: ${still.join(' ')}`);
    process.exit(1);
  }
}

ensureDependencies();
ensureBuild();
if (process.argv.includes('--system-packages')) ensureSystemPackages(TEST_PACKAGES);
