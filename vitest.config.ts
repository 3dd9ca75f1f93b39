import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // tfjs holds one global engine per process: run files in separate forks, one at a time per core.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
