import wasmPlugin from 'vite-plugin-wasm';
import type { PluginOption } from 'vite';
import { defineConfig } from 'vitest/config';

// Its ESM build's default export is the plugin; its typings, read as CommonJS here, put it under .default.
const wasm = wasmPlugin as unknown as () => PluginOption;

export default defineConfig({
  // The real Flux parser the tests use is WebAssembly built for bundlers
  // (test-support/flux-parser.ts); vite-plugin-wasm is the bundler support vite lacks.
  plugins: [wasm()],
  test: {
    include: ['core/**/*.test.ts', 'agent/**/*.test.ts', 'gateway/**/*.test.ts', 'bus/**/*.test.ts', 'rollup/**/*.test.ts', 'store/**/*.test.ts', 'query/**/*.test.ts', 'runtime/**/*.test.ts', 'compat-tests/**/*.test.ts', 'test-support/**/*.test.ts', 'grafana/**/*.test.ts', 'alerts/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real sockets and child processes; two workers match the two cores of CI.
    maxWorkers: 2,
    // transformed by vite (not loaded by Node), so that its .wasm import goes through the plugin
    server: { deps: { inline: ['@influxdata/flux-lsp-browser'] } },
  },
});
