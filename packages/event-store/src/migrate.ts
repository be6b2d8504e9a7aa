import { AviaryError, ErrorCode } from '@aviary/core';
import type { Kysely } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import * as eventLog from './migrations/0001-event-log.ts';

/** Every migration, in order. Names never change once released. */
const migrations: Record<string, Migration> = {
  '0001-event-log': eventLog,
};

const provider: MigrationProvider = {
  getMigrations: async () => migrations,
};

/**
 * Brings the database to the latest schema. Safe to call from several processes at once: kysely
 * serialises migrations with an advisory lock on PostgreSQL.
 */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new AviaryError(
      ErrorCode.Unavailable,
      `event log migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
