/**
 * The projections' connection to the event log's database: a `pg` pool of its own on
 * PostgreSQL, or a view of the event store's PGlite instance (`sharePGlite`) when embedded.
 */
import type { StoreLogger } from '@aviary/event-store';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import type { ProjectionDatabase, ProjectionDb } from './schema.ts';

/** As the event store's sessions: a writer idling inside a transaction would stall readers. */
const SESSION_OPTIONS = '-c idle_in_transaction_session_timeout=30000 -c statement_timeout=60000';

export interface PostgresProjectionDbOptions {
  readonly connectionString: string;
  /** Pooled connections (default 4): the projector's writes and the read model's queries. */
  readonly poolSize?: number;
  readonly logger?: StoreLogger;
}

/** A kysely over its own `pg` pool; `destroy()` ends the pool. */
export function openPostgresProjectionDb(options: PostgresProjectionDbOptions): ProjectionDb {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 4,
    options: SESSION_OPTIONS,
  });
  // An idle client that loses its connection emits here; without a listener it would crash.
  pool.on('error', (error) =>
    options.logger?.warn({ err: error }, 'idle projection connection failed'),
  );
  return new Kysely<ProjectionDatabase>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * A kysely over a PGlite instance shared with the event store: pass a view from `sharePGlite`
 * (never the bare instance, whose single session the store's transactions use too). Its
 * `destroy()` leaves the instance open, unless the view closes it.
 */
export function openPGliteProjectionDb(view: PGlite): ProjectionDb {
  return new Kysely<ProjectionDatabase>({ dialect: new PGliteDialect(view) });
}
