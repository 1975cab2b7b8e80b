import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real Redis, real databases and real child processes: generous, but no test asserts on speed.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    setupFiles: ['test/support/leak-check.ts'],
    // Tags the run, and removes the databases, directories and Redis keys its tests made.
    globalSetup: ['test/support/cleanup.ts'],
  },
});
