import { defineConfig } from 'vitest/config';

/**
 * Suites that exercise the request path run twice: on the default listener engines (our own
 * HTTP/1.1 codec, proxy.engine.listener: llhttp, and our own HTTP/2 server codec,
 * proxy.engine.http2Listener: switchyard) and on the fallback ones (node:http and node:http2),
 * so both keep the same behaviour while both exist. The upstream side is the codec's pool in
 * both. test/support/proxy-harness.ts reads the variables.
 */
const requestPathSuites = [
  'test/integration/proxy/**/*.test.ts',
  'test/integration/hardening/**/*.test.ts',
  'test/integration/resilience/**/*.test.ts',
  'test/integration/observability/**/*.test.ts',
  'test/integration/http2/**/*.test.ts',
];

export default defineConfig({
  test: {
    // Separate suites with their own scripts: npm run test:fault, npm run test:soak.
    exclude: ['test/fault/**', 'test/soak/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: run files two at a time so socket-heavy tests do not starve each other.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'node-engines', include: requestPathSuites, env: { SWITCHYARD_TEST_LISTENER_ENGINE: 'node', SWITCHYARD_TEST_HTTP2_LISTENER_ENGINE: 'node' } },
      },
    ],
  },
});
