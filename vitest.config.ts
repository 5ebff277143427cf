import { defineConfig } from 'vitest/config';

// Tests sit beside the code (src/**/x.test.ts); end-to-end tests live in test/e2e.
// PGlite boots a WASM Postgres per file, so files run in forks with a generous timeout; every new PGlite
// database starts from one migrated template made once per run (test/global-setup.ts).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
