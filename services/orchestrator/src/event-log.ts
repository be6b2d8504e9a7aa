import {
  type EventStore,
  openPGliteEventStore,
  openPostgresEventStore,
  type StoreLogger,
} from '@aviary/event-store';
import { redactUrl } from '@aviary/platform';

export interface EventLogConfig {
  /** PostgreSQL connection string; without it the log is embedded (PGlite in `dataDir`). */
  readonly pgUrl?: string | undefined;
  readonly pgPoolSize: number;
  readonly dataDir: string;
}

/** Opens the event log the configuration names, migrated, and says where it is. */
export async function openEventLog(
  config: EventLogConfig,
  logger: StoreLogger,
): Promise<{ store: EventStore; where: string }> {
  if (config.pgUrl) {
    const store = await openPostgresEventStore({
      connectionString: config.pgUrl,
      poolSize: config.pgPoolSize,
      logger,
    });
    return { store, where: `postgres ${redactUrl(config.pgUrl)}` };
  }
  const store = await openPGliteEventStore({ dataDir: config.dataDir, logger });
  return { store, where: `pglite ${config.dataDir}` };
}
