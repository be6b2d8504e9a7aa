import { mkdir } from 'node:fs/promises';
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  type EventStore,
  openPGliteEventStore,
  openPostgresEventStore,
  type StoreLogger,
} from '@aviary/event-store';
import { redactUrl } from '@aviary/platform';
import { PGlite } from '@electric-sql/pglite';
import {
  migrateProjections,
  openPGliteProjectionDb,
  openPostgresProjectionDb,
  type ProjectionDb,
  sharePGlite,
} from './projections/index.ts';

export interface EventLogConfig {
  /** PostgreSQL connection string; without it the log is embedded (PGlite in `dataDir`). */
  readonly pgUrl?: string | undefined;
  readonly pgPoolSize: number;
  /** Pooled connections for the projections on PostgreSQL (default 4). */
  readonly projectionPoolSize?: number | undefined;
  readonly dataDir: string;
}

export interface EventLog {
  readonly store: EventStore;
  /**
   * The projections' database: the log's own, with the `proj_*` tables migrated. On PostgreSQL a
   * pool of its own; embedded, the store's PGlite instance (shared safely: `sharePGlite`).
   */
  readonly projections: ProjectionDb;
  /** Where the log is, for logs (credentials redacted). */
  readonly where: string;
  /** Closes the projections' connections, then the store. Stop the `Projector` first. */
  close(): Promise<void>;
}

/** Opens the event log the configuration names, migrated (log and projections). */
export async function openEventLog(config: EventLogConfig, logger: StoreLogger): Promise<EventLog> {
  if (config.pgUrl) {
    const store = await openPostgresEventStore({
      connectionString: config.pgUrl,
      poolSize: config.pgPoolSize,
      logger,
    });
    const projections = openPostgresProjectionDb({
      connectionString: config.pgUrl,
      poolSize: config.projectionPoolSize ?? 4,
      logger,
    });
    return withProjections(store, projections, `postgres ${redactUrl(config.pgUrl)}`);
  }
  const shared = sharePGlite(await createPGlite(config.dataDir));
  // The store takes the instance over and closes it; the projections' view never does.
  const store = await openPGliteEventStore({ pglite: shared.view({ closes: true }), logger });
  const projections = openPGliteProjectionDb(shared.view());
  return withProjections(store, projections, `pglite ${config.dataDir}`);
}

async function withProjections(
  store: EventStore,
  projections: ProjectionDb,
  where: string,
): Promise<EventLog> {
  const close = async () => {
    await projections.destroy();
    await store.close();
  };
  try {
    await migrateProjections(projections);
  } catch (error) {
    await close();
    throw error;
  }
  return { store, projections, where, close };
}

async function createPGlite(dataDir: string): Promise<PGlite> {
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
