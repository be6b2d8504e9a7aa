/**
 * The projections' schema, migrated by kysely with a migration table of its own
 * (`proj_migrations`), so that it never touches the event store's (`kysely_migration`).
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import type { ProjectionDb } from './schema.ts';

/** The migration bookkeeping tables of the projections. */
export const MIGRATION_TABLE = 'proj_migrations';
export const MIGRATION_LOCK_TABLE = 'proj_migrations_lock';

/** One statement per `sql` call: PGlite's extended protocol rejects several at once. */
const initial: readonly string[] = [
  `CREATE TABLE proj_streams (
     stream_id text   PRIMARY KEY,
     version   bigint NOT NULL CHECK (version >= 0)
   )`,
  `CREATE TABLE proj_applications (
     namespace         text        NOT NULL,
     name              text        NOT NULL,
     version           bigint      NOT NULL DEFAULT 0,
     spec_hash         text,
     spec              jsonb,
     applied_by        text,
     applied_at        timestamptz,
     active_release_id text,
     gates             jsonb       NOT NULL DEFAULT '{}',
     updated_at        timestamptz NOT NULL,
     PRIMARY KEY (namespace, name)
   )`,
  `CREATE TABLE proj_releases (
     release_id          text        PRIMARY KEY,
     namespace           text        NOT NULL,
     name                text        NOT NULL,
     revision_id         text        NOT NULL,
     spec_hash           text,
     created_at          timestamptz,
     created_reason      text,
     created_by          text,
     created_cluster     text,
     retry_of_release_id text,
     started_at          timestamptz,
     status              text        NOT NULL CHECK (status IN ('running', 'paused', 'halted', 'finished')),
     paused              boolean     NOT NULL DEFAULT false,
     halted              boolean     NOT NULL DEFAULT false,
     outcome             text,
     reason              text,
     current_wave        integer     NOT NULL DEFAULT -1,
     waves               jsonb       NOT NULL DEFAULT '[]',
     finished_at         timestamptz,
     updated_at          timestamptz NOT NULL,
     version             bigint      NOT NULL DEFAULT 0
   )`,
  'CREATE INDEX proj_releases_application_idx ON proj_releases (namespace, name, started_at)',
  "CREATE INDEX proj_releases_active_idx ON proj_releases (started_at) WHERE status <> 'finished'",
  `CREATE TABLE proj_canaries (
     release_id             text        NOT NULL,
     cluster                text        NOT NULL,
     ordinal                integer     NOT NULL,
     phase                  text        NOT NULL,
     canary_weight_percent  integer     NOT NULL,
     primary_weight_percent integer     NOT NULL,
     failed_checks          integer     NOT NULL,
     iterations             integer     NOT NULL,
     paused                 boolean     NOT NULL,
     skipped                boolean     NOT NULL,
     last_reason            text,
     updated_at             timestamptz NOT NULL,
     PRIMARY KEY (release_id, cluster)
   )`,
  `CREATE TABLE proj_timeline (
     release_id     text        NOT NULL,
     stream_version bigint      NOT NULL,
     position       text        NOT NULL,
     type           text        NOT NULL,
     cluster        text,
     actor          text,
     summary        text        NOT NULL,
     data           jsonb       NOT NULL,
     recorded_at    timestamptz NOT NULL,
     PRIMARY KEY (release_id, stream_version)
   )`,
  `CREATE TABLE proj_clusters (
     name              text        PRIMARY KEY,
     labels            jsonb       NOT NULL,
     agent_version     text        NOT NULL,
     lease_ms          bigint      NOT NULL,
     last_heartbeat_at timestamptz NOT NULL
   )`,
  `CREATE TABLE proj_fleet_view (
     namespace         text        NOT NULL,
     name              text        NOT NULL,
     cluster           text        NOT NULL,
     revision_seen     jsonb,
     canary_readiness  jsonb,
     primary_readiness jsonb,
     updated_at        timestamptz NOT NULL,
     PRIMARY KEY (namespace, name, cluster)
   )`,
];

const migrations: Record<string, Migration> = {
  '0001-projections': {
    async up(db: Kysely<unknown>) {
      for (const statement of initial) await sql.raw(statement).execute(db);
    },
  },
  // The engine's release snapshots (engine/snapshots.ts): a cache of folded state, never truncated
  // by a projection rebuild, always checked against the stream's tail.
  '0002-release-snapshots': {
    async up(db: Kysely<unknown>) {
      await sql
        .raw(
          `CREATE TABLE orchestrator_snapshots (
             stream_id text        PRIMARY KEY,
             version   bigint      NOT NULL CHECK (version > 0),
             format    integer     NOT NULL,
             snapshot  jsonb       NOT NULL,
             taken_at  timestamptz NOT NULL DEFAULT now()
           )`,
        )
        .execute(db);
    },
  },
  // The release stream's halt-and-revert and supersession events. Rows projected before are
  // right as they are (those events did not exist); a rebuild fills the columns from the log.
  '0003-revert-and-supersession': {
    async up(db: Kysely<unknown>) {
      await sql.raw('ALTER TABLE proj_canaries ADD COLUMN revert jsonb').execute(db);
      await sql
        .raw('ALTER TABLE proj_releases ADD COLUMN superseded_by_release_id text')
        .execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Brings the projection tables to the latest schema; returns the migrations applied. Safe from
 * several processes at once (kysely serialises migrations with an advisory lock on PostgreSQL).
 */
export async function migrateProjections(db: ProjectionDb): Promise<string[]> {
  const migrator = new Migrator({
    db: db as unknown as Kysely<unknown>,
    provider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new AviaryError(
      ErrorCode.Unavailable,
      `projection migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
