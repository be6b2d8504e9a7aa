/**
 * `npm start` (services/orchestrator/src/dev.ts) on real servers: NATS JetStream
 * (`AVIARY_NATS_URL`, a messaging namespace of this test's own) and PostgreSQL (`AVIARY_PG_URL`,
 * a database created and dropped here) instead of the in-process bus and PGlite. The story
 * completes as on embedded defaults, the log is in PostgreSQL, the messages went through the
 * namespace's streams, and `/metrics` (`AVIARY_METRICS_PORT`) shows the orchestrator's decisions,
 * its NATS consumers' lag and the agents' and analyzer's work. A second run on the same database
 * skips the story, as docs/dev.md says.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectNats, messagingNamespace, type NatsClient, streamNames } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';

const dev = fileURLToPath(new URL('./dev.ts', import.meta.url));
const byMsg = (start: string) => (line: LogLine) =>
  typeof line.msg === 'string' && line.msg.startsWith(start);

/** One sample of `name` with exactly `labels` in a Prometheus text page; undefined when absent. */
function sample(page: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of page.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (JSON.stringify(got) === JSON.stringify(labels)) return Number(match[3]);
  }
  return undefined;
}

describe('npm start (aviary dev) on NATS and PostgreSQL', () => {
  let admin: pg.Client;
  let database: string;
  let pgUrl: string;
  let namespace: string;
  let nats: NatsClient;

  beforeEach(async () => {
    database = uniqueName('aviary_dev');
    admin = new pg.Client({ connectionString: testEnv.postgresUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(testEnv.postgresUrl);
    url.pathname = `/${database}`;
    pgUrl = url.toString();
    namespace = uniqueName('aviary-dev').replace(/_/g, '-');
    nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'dev-nats-test',
      logger: createLogger({ service: 'test', level: 'silent' }),
    });
  });
  afterEach(async () => {
    const jsm = await nats.jetstreamManager();
    for (const stream of Object.values(streamNames(messagingNamespace(namespace)))) {
      await jsm.streams.delete(stream).catch(() => false);
    }
    await nats.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  const env = (dataDir: string) => ({
    AVIARY_DATA_DIR: dataDir,
    AVIARY_HTTP_PORT: '0',
    AVIARY_METRICS_PORT: '0',
    AVIARY_METRICS_HOST: '127.0.0.1',
    AVIARY_LOG_PRETTY: 'false',
    AVIARY_LOG_LEVEL: 'info',
    AVIARY_PG_URL: pgUrl,
    AVIARY_NATS_URL: testEnv.natsUrl,
    AVIARY_MESSAGING_NAMESPACE: namespace,
    AVIARY_API_TOKENS: '',
    AVIARY_DEMO: '',
  });

  it('plays the story over NATS with the log in PostgreSQL, with metrics; a second run skips it', {
    timeout: 300_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'aviary-dev-nats-'));
    onTestFinished(() => rm(dataDir, { recursive: true, force: true }));
    const aviary = spawnService(dev, { env: env(dataDir) });
    try {
      const up = await aviary.waitForLine(byMsg('Aviary dev is up'), 60_000);
      expect(up).toMatchObject({
        bus: `NATS (${namespace})`,
        clusters: ['eu-1', 'eu-2', 'us-1', 'us-2'],
      });
      expect(String(up.eventLog)).toMatch(/^postgres/);
      const metricsUrl = String((await aviary.waitForLine(byMsg('metrics listening'))).url);

      const finished = await aviary.waitForLine((l) => l.demo === 'finished', 200_000);
      expect(finished).toMatchObject({
        releases: [
          { releaseId: 'demo.podinfo.1', version: 'v1', outcome: 'RELEASE_OUTCOME_SUCCEEDED' },
          { releaseId: 'demo.podinfo.2', version: 'v2', outcome: 'RELEASE_OUTCOME_SUCCEEDED' },
          { releaseId: 'demo.podinfo.3', version: 'v3', outcome: 'RELEASE_OUTCOME_FAILED' },
        ],
        primaries: { 'eu-1': 'v2', 'eu-2': 'v2', 'us-1': 'v2', 'us-2': 'v2' },
      });

      // The log is in this test's database, the messages went through this namespace's streams.
      const db = new pg.Client({ connectionString: pgUrl });
      await db.connect();
      try {
        const tables = await db.query(
          "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
        );
        expect(tables.rows[0].n).toBeGreaterThan(0);
      } finally {
        await db.end();
      }
      const jsm = await nats.jetstreamManager();
      const names = streamNames(messagingNamespace(namespace));
      for (const stream of [names.observations, names.analysis]) {
        expect((await jsm.streams.info(stream)).state.messages, stream).toBeGreaterThan(0);
      }

      // What the orchestrator, the agents and the analyzer counted, on one page.
      const page = await (await fetch(metricsUrl)).text();
      expect(
        sample(page, 'aviary_orchestrator_events_appended_total', { type: 'ReleaseFinished' }),
      ).toBe(3);
      expect(
        sample(page, 'aviary_orchestrator_events_appended_total', { type: 'FleetHalted' }),
      ).toBe(1);
      expect(
        sample(page, 'aviary_orchestrator_nats_consumer_pending', {
          stream: names.observations,
          consumer: 'orchestrator-observations',
        }),
      ).toBeTypeOf('number');
      expect(
        sample(page, 'aviary_orchestrator_nats_consumer_pending', {
          stream: names.analysis,
          consumer: 'orchestrator-verdicts',
        }),
      ).toBeTypeOf('number');
      expect(sample(page, 'aviary_orchestrator_outbox_depth', {})).toBeTypeOf('number');
      expect(
        sample(page, 'aviary_agent_commands_total', {
          cluster: 'eu-1',
          action: 'setRoutes',
          outcome: 'succeeded',
        }),
      ).toBeGreaterThan(0);
      expect(sample(page, 'aviary_analyzer_verdicts_total', { outcome: 'failed' })).toBeGreaterThan(
        0,
      );
      expect(await aviary.stop('SIGINT')).toEqual({ code: 0 });
    } finally {
      await aviary.stop('SIGKILL').catch(() => undefined);
    }

    // Its simulated clusters are gone, its log is not: the story is skipped.
    const again = spawnService(dev, { env: env(dataDir) });
    try {
      await again.waitForLine(byMsg('Aviary dev is up'), 60_000);
      await again.waitForLine((l) => l.demo === 'skipped', 30_000);
      expect(await again.stop('SIGINT')).toEqual({ code: 0 });
    } finally {
      await again.stop('SIGKILL').catch(() => undefined);
    }
  });
});
