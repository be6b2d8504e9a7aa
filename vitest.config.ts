import { defineConfig } from 'vitest/config';

// Unit tests (`*.test.ts`) need nothing; integration tests (`*.int.test.ts`) talk to the real
// PostgreSQL, NATS and Prometheus named in test/env.ts. Both run under `npm test`.
export default defineConfig({
  test: {
    include: ['{proto,packages,services,tools,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
