import { defineConfig } from 'vitest/config';

// Unit tests (`*.test.ts`) need nothing; integration tests (`*.int.test.ts`) talk to the real
// PostgreSQL, NATS and Prometheus named in test/env.ts. Both run under `npm test`, in two groups:
//
// - `main`: every test but the fleet's, several files at once. Vitest's default on a 2-core
//   machine is one file at a time, and most of the long files (the engine's, `aviary dev`'s, the
//   CLI's and the dashboard's) spend their time waiting on real ticks and intervals, not on the
//   CPU: three at a time is what keeps CI within its 20 minutes. AVIARY_TEST_WORKERS overrides it.
// - `fleet` (test/fleet): the end-to-end tests, each a fleet of processes (kube-sim, Prometheus,
//   agents, analyzer, orchestrators) on 2–3 s intervals. They run one at a time, after `main`, on
//   an otherwise quiet machine, because their timing is the one a loaded CPU would disturb.
const workers = Number(process.env.AVIARY_TEST_WORKERS ?? 3);

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: workers,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['{proto,packages,services,tools,test}/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'test/fleet/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'fleet',
          include: ['test/fleet/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
