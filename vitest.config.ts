import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['core/**/*.test.ts', 'agent/**/*.test.ts', 'gateway/**/*.test.ts', 'bus/**/*.test.ts', 'rollup/**/*.test.ts', 'store/**/*.test.ts', 'query/**/*.test.ts', 'runtime/**/*.test.ts', 'compat-tests/**/*.test.ts', 'test-support/**/*.test.ts', 'grafana/**/*.test.ts', 'alerts/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real sockets and child processes; two workers match the two cores of CI.
    maxWorkers: 2,
  },
});
