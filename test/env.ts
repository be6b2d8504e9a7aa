/**
 * Where the integration tests find the real services. `.ci/run` installs and starts them on a
 * clean machine; on a developer machine the defaults match the usual local installs.
 */
export const testEnv = {
  /** An admin connection: tests create (and drop) a database of their own through it. */
  postgresUrl: process.env.AVIARY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  natsUrl: process.env.AVIARY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
  prometheusUrl: process.env.AVIARY_TEST_PROMETHEUS_URL ?? 'http://127.0.0.1:9390',
} as const;

/** A name unique to this test run, safe as a database name, stream name or subject token. */
export function uniqueName(prefix: string): string {
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${random}`.toLowerCase();
}
