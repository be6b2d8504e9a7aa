import { mkdir } from 'node:fs/promises';
import { AviaryError, ErrorCode } from '@aviary/core';
import { eventCatalogue } from '@aviary/proto';
import type { DescMessage } from '@bufbuild/protobuf';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { createEventCodec } from '../codec.ts';
import { type Database, type StoreLogger, silentLogger } from '../database.ts';
import type { GroupCommitOptions } from '../group-commit.ts';
import { KyselyEventStore } from '../kysely-event-store.ts';
import { migrateToLatest } from '../migrate.ts';
import type { EventStore } from '../types.ts';

export interface PGliteEventStoreOptions {
  /** A directory for the database files; omitted = in memory (gone at close). */
  readonly dataDir?: string;
  /**
   * An open PGlite instance to use instead (e.g. a `clone()` of a migrated one in tests); the
   * store takes it over and closes it.
   */
  readonly pglite?: PGlite;
  /** Event schemas (default: Aviary's event catalogue). */
  readonly schemas?: readonly DescMessage[];
  readonly logger?: StoreLogger;
  readonly groupCommit?: GroupCommitOptions;
}

/**
 * Opens the event log in PGlite: PostgreSQL compiled to WebAssembly, in this process. The
 * embedded default: nothing to install. One connection, so one process only: replicas need
 * the PostgreSQL backend.
 */
export async function openPGliteEventStore(
  options: PGliteEventStoreOptions = {},
): Promise<EventStore> {
  const pglite = options.pglite ?? (await createPGlite(options.dataDir));
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  try {
    await migrateToLatest(db as Kysely<unknown>);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyEventStore({
    db,
    codec: createEventCodec(options.schemas ?? eventCatalogue),
    logger: options.logger ?? silentLogger,
    // One connection: transactions run one at a time whatever the setting.
    groupCommit: { maxConcurrentTransactions: 1, ...options.groupCommit },
    listen: async (wake) => {
      const unlisten = await pglite.listen('aviary_events', () => wake());
      return unlisten;
    },
    release: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  });
}

async function createPGlite(dataDir: string | undefined): Promise<PGlite> {
  if (dataDir === undefined) return PGlite.create();
  try {
    await mkdir(dataDir, { recursive: true });
    return await PGlite.create(dataDir);
  } catch (error) {
    throw new AviaryError(
      ErrorCode.Unavailable,
      `cannot open the embedded event log in ${dataDir}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
