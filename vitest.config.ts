import { defineConfig } from 'vitest/config';

// Tests sit beside the code (src/**/x.test.ts); end-to-end tests live in test/e2e.
// PGlite boots a WASM Postgres per file, so files run in forks with a generous timeout; every new PGlite
// database starts from one migrated template made once per run (test/global-setup.ts).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Two files at a time, not vitest's default of cores - 1 (one file on a 2-core machine): most files
    // wait on child processes, sockets and the simulator's latency, so a second one fills that time.
    // Measured on 2 cores at load ~7: 13.2 min with 2, 18.0 min with 1 (at load ~10).
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
