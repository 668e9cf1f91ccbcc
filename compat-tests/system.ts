/**
 * The Debian packages the compatibility tests drive. A missing package fails the test with its
 * name (never a silent skip): `npm test` is expected to install them (SPEC §2).
 */
import { spawnSync } from 'node:child_process';

/** Debian's interpreters: the pyenv `python3` first on PATH cannot see Debian's python3-* modules. */
export const SYSTEM_INTERPRETERS = {
  python: '/usr/bin/python3',
  ruby: '/usr/bin/ruby',
  perl: '/usr/bin/perl',
} as const;

const checked = new Set<string>();

/** Throws unless `dpkg -s <name>` reports the package installed. */
export function requireDebianPackage(name: string): void {
  if (checked.has(name)) return;
  const result = spawnSync('dpkg', ['-s', name], { encoding: 'utf8' });
  if (result.error !== undefined) {
    throw new Error(`Debian package ${name} is required, but dpkg could not be run (${result.error.message}); this test needs Debian with ${name} installed`);
  }
  if (result.status !== 0 || !/^Status: install ok installed$/m.test(result.stdout)) {
    throw new Error(`Debian package ${name} is not installed; install it with: apt-get install -y ${name}`);
  }
  checked.add(name);
}
