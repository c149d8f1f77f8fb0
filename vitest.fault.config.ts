import { defineConfig } from 'vitest/config';

/** The fault suite (`npm run test:fault`): misbehaving upstreams, registry and config faults. */
export default defineConfig({
  test: {
    include: ['test/fault/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
