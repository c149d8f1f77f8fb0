import { defineConfig } from 'vitest/config';

/** The soak suite (`npm run test:soak`): SOAK_DURATION_MS of flood + slowloris (default 2 minutes). */
const duration = Number(process.env.SOAK_DURATION_MS ?? 120_000);

export default defineConfig({
  test: {
    include: ['test/soak/**/*.test.ts'],
    testTimeout: duration * 2 + 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
