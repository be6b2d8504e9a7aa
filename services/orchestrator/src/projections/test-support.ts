/**
 * Test support for the projections: a log with its projection tables on PGlite (in memory) or
 * on a PostgreSQL database of its own, and a writer that stores a decider scenario's history the
 * way the engine does (application, cluster and release streams).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario, type ReleaseEvent, runScenario, type ScenarioRun } from '@aviary/decider';
import {
  type EventMetadata,
  type EventStore,
  type GlobalPosition,
  migrateToLatest,
  type NewEvent,
  openPGliteEventStore,
} from '@aviary/event-store';
import type { ObservationJson, ReleaseStartedJson } from '@aviary/proto';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import { openEventLog } from '../event-log.ts';
import { openPGliteProjectionDb } from './database.ts';
import { migrateProjections } from './migrations.ts';
import { PROJECTION_TABLES, type ProjectionDb } from './schema.ts';
import { sharePGlite } from './shared-pglite.ts';

export const SCENARIOS = join(import.meta.dirname, '../../../../packages/decider/scenarios');

export interface ProjectionHarness {
  readonly store: EventStore;
  readonly db: ProjectionDb;
  /** Raw SQL on the same database (through the projections' connection). */
  sql(statement: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export type OpenHarness = () => Promise<ProjectionHarness>;

/** PGlite in memory: a migrated template, cloned per test (creating one takes seconds). */
export function pgliteHarness(): { open: OpenHarness; dispose: () => Promise<void> } {
  let template: Promise<PGlite> | undefined;
  const migrated = async (): Promise<PGlite> => {
    const pglite = await PGlite.create();
    const db = new Kysely<unknown>({ dialect: new PGliteDialect(sharePGlite(pglite).view()) });
    await migrateToLatest(db);
    await migrateProjections(db as unknown as ProjectionDb);
    return pglite;
  };
  return {
    open: async () => {
      template ??= migrated();
      const shared = sharePGlite((await (await template).clone()) as PGlite);
      const store = await openPGliteEventStore({ pglite: shared.view({ closes: true }) });
      const db = openPGliteProjectionDb(shared.view());
      await migrateProjections(db);
      return harness(store, db, async () => {
        await db.destroy();
        await store.close();
      });
    },
    dispose: async () => {
      if (template !== undefined) await (await template).close();
    },
  };
}

/** A PostgreSQL database of its own per test (opened with `openEventLog`), dropped afterwards. */
export const postgresHarness: OpenHarness = async () => {
  const name = uniqueName('aviary_proj');
  const admin = new pg.Client({ connectionString: testEnv.postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(testEnv.postgresUrl);
  url.pathname = `/${name}`;
  const log = await openEventLog({ pgUrl: url.toString(), pgPoolSize: 4, dataDir: '' }, quiet);
  return harness(log.store, log.projections, async () => {
    await log.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
};

const quiet = { warn() {}, error() {}, debug() {} };

function harness(
  store: EventStore,
  db: ProjectionDb,
  close: () => Promise<void>,
): ProjectionHarness {
  return {
    store,
    db,
    sql: async (statement) => (await sql.raw<Record<string, unknown>>(statement).execute(db)).rows,
    close,
  };
}

/** Every projection table's rows, in key order, as JSON text: for comparing two states. */
export async function dumpProjections(db: ProjectionDb): Promise<Record<string, string[]>> {
  const dump: Record<string, string[]> = {};
  for (const table of PROJECTION_TABLES) {
    const { rows } = await sql<{ row: string }>`
      SELECT to_jsonb(t)::text AS row FROM ${sql.table(table)} t ORDER BY 1`.execute(db);
    dump[table] = rows.map((r) => r.row);
  }
  return dump;
}

// Scenario histories as the engine stores them -------------------------------------------------

export interface StoredScenario {
  readonly run: ScenarioRun;
  readonly releaseId: string;
  readonly application: { readonly namespace: string; readonly name: string };
  /** Events per stream id, as appended. */
  readonly streams: ReadonlyMap<string, readonly NewEvent[]>;
  /** Where the last append ended. */
  readonly position: GlobalPosition;
}

export interface ScenarioOptions {
  /** The application's name (default: the scenario's rollout name). */
  readonly name?: string;
  /** Consecutive release events per append at most (default: up to the next input). */
  readonly maxEventsPerAppend?: number;
}

/** Runs a scenario file with the decider. */
export function loadScenario(file: string, options: ScenarioOptions = {}): ScenarioRun {
  const scenario = parseScenario(readFileSync(join(SCENARIOS, file), 'utf8'));
  const rollout = structuredClone(scenario.rollout) as {
    metadata: { name: string; namespace?: string };
  };
  if (options.name !== undefined) rollout.metadata.name = options.name;
  const namespace = rollout.metadata.namespace ?? 'default';
  return runScenario({
    ...scenario,
    rollout,
    releaseId: `${namespace}.${rollout.metadata.name}.1`,
  });
}

/**
 * Stores a scenario run as the engine would: the application stream (spec, ReleaseCreated),
 * heartbeats, revisions seen and readiness in the cluster streams, and the release stream
 * (every input fact with its decisions in one append). Observations other than heartbeats go to
 * both their cluster's stream and the release stream.
 */
export async function storeScenario(
  store: EventStore,
  run: ScenarioRun,
  options: ScenarioOptions = {},
): Promise<StoredScenario> {
  const started = run.history.find((e) => e.type === 'ReleaseStarted');
  if (started === undefined) throw new Error(`scenario ${run.name} started no release`);
  const data = started.data as ReleaseStartedJson;
  const releaseId = data.releaseId ?? '';
  const application = { namespace: data.rollout?.namespace ?? '', name: data.rollout?.name ?? '' };
  const appStream = `rollout-${application.namespace}.${application.name}`;
  const releaseStream = `release-${releaseId}`;
  const streams = new Map<string, NewEvent[]>();
  const versions = new Map<string, bigint>();
  let position: GlobalPosition = { transactionId: 0n, position: 0n };
  const append = async (streamId: string, events: NewEvent[]) => {
    if (events.length === 0) return;
    const expected = versions.get(streamId) ?? (await store.streamVersion(streamId)) ?? 0n;
    const result = await store.append(streamId, events, { expectedVersion: expected });
    versions.set(streamId, result.nextVersion);
    if (result.position !== undefined) position = result.position;
    streams.set(streamId, [...(streams.get(streamId) ?? []), ...events]);
  };

  await append(appStream, [
    {
      type: 'RolloutSpecApplied',
      data: {
        rollout: application,
        spec: data.spec,
        specHash: data.specHash ?? 'hash-1',
        actor: 'alice',
      },
      metadata: { actor: 'alice' },
    },
  ]);
  let pending: NewEvent[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    const max = options.maxEventsPerAppend ?? batch.length;
    for (let i = 0; i < batch.length; i += max)
      await append(releaseStream, batch.slice(i, i + max));
  };
  for (const event of run.history) {
    const observation = (event.data as { observation?: ObservationJson }).observation;
    if (event.type === 'ObservationRecorded' && observation !== undefined) {
      await flush();
      await append(`cluster-${observation.cluster ?? ''}`, [toNew(event)]);
      if (observation.heartbeat !== undefined) continue;
    } else if (event.type === 'ReleaseStarted') {
      await flush();
      await append(appStream, [
        {
          type: 'ReleaseCreated',
          data: {
            releaseId,
            revision: data.revision,
            reason: 'revision-seen',
            actor: 'aviary-orchestrator',
            cluster: data.waves?.[0]?.clusters?.[0] ?? '',
            specHash: data.specHash ?? 'hash-1',
          },
        },
      ]);
    } else if (isInput(event)) {
      await flush();
    }
    pending.push(toNew(event));
  }
  await flush();
  return { run, releaseId, application, streams, position };
}

const INPUTS = new Set([
  'TickRecorded',
  'ObservationRecorded',
  'AnalysisVerdictRecorded',
  'WebhookResultRecorded',
  'OperatorActionRecorded',
]);
const isInput = (event: ReleaseEvent): boolean => INPUTS.has(event.type);

function toNew(event: ReleaseEvent): NewEvent {
  const actor = (event.data as { actor?: string }).actor;
  const metadata: EventMetadata | undefined =
    actor !== undefined && actor !== '' ? { actor } : undefined;
  return metadata === undefined
    ? { type: event.type, data: event.data }
    : { type: event.type, data: event.data, metadata };
}
