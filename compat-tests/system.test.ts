// The missing-package check must fail loudly, naming the package (never a silent skip).
import { describe, expect, it } from 'vitest';
import { requireDebianPackage } from './system.js';

describe('requireDebianPackage', () => {
  it('fails with the name of a package that is not installed', () => {
    expect(() => requireDebianPackage('hourglass-no-such-package')).toThrow(/Debian package hourglass-no-such-package .*apt-get install -y hourglass-no-such-package|Debian package hourglass-no-such-package is required/);
  });

  it('accepts an installed package', () => {
    expect(() => requireDebianPackage('dpkg')).not.toThrow();
  });
});
