import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Separate suites with their own scripts: npm run test:fault, npm run test:soak.
    exclude: ['test/fault/**', 'test/soak/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: run files two at a time so socket-heavy tests do not starve each other.
    maxWorkers: 2,
  },
});
