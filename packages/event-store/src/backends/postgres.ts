import { eventCatalogue } from '@aviary/proto';
import type { DescMessage } from '@bufbuild/protobuf';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { createEventCodec } from '../codec.ts';
import { type Database, type StoreLogger, silentLogger } from '../database.ts';
import type { GroupCommitOptions } from '../group-commit.ts';
import { KyselyEventStore } from '../kysely-event-store.ts';
import { migrateToLatest } from '../migrate.ts';
import type { EventStore } from '../types.ts';

export interface PostgresEventStoreOptions {
  readonly connectionString: string;
  /** Pooled connections (default 8); one more is held for LISTEN. */
  readonly poolSize?: number;
  /** Run migrations at open (default true). */
  readonly migrate?: boolean;
  /** Event schemas (default: Aviary's event catalogue). */
  readonly schemas?: readonly DescMessage[];
  readonly logger?: StoreLogger;
  readonly groupCommit?: GroupCommitOptions;
}

const CHANNEL = 'aviary_events';
/** Session settings: a writer that idles inside a transaction would stall every reader. */
const SESSION_OPTIONS = '-c idle_in_transaction_session_timeout=30000 -c statement_timeout=60000';

/** Opens the event log on a PostgreSQL server (production backend). */
export async function openPostgresEventStore(
  options: PostgresEventStoreOptions,
): Promise<EventStore> {
  const logger = options.logger ?? silentLogger;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 8,
    options: SESSION_OPTIONS,
  });
  // An idle client that loses its connection emits here; without a listener it would crash.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle event store connection failed'));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    if (options.migrate ?? true) await migrateToLatest(db as Kysely<unknown>);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyEventStore({
    db,
    codec: createEventCodec(options.schemas ?? eventCatalogue),
    logger,
    ...(options.groupCommit ? { groupCommit: options.groupCommit } : {}),
    listen: (wake) => listen(options.connectionString, wake, logger),
    release: () => db.destroy(),
  });
}

/**
 * LISTEN on a dedicated connection (a pooled one would lose it), reconnecting with backoff.
 * Notifications are dropped while it is down; readers then find new events by polling, and a
 * wake-up follows every (re)connection to pick up what was committed meanwhile.
 */
async function listen(
  connectionString: string,
  wake: () => void,
  logger: StoreLogger,
): Promise<() => Promise<void>> {
  const stop = new AbortController();
  let current: pg.Client | undefined;

  /** Connects and listens; resolves once listening, with a promise of the connection's end. */
  const connect = async (): Promise<{ ended: Promise<void> }> => {
    const client = new pg.Client({ connectionString });
    const ended = new Promise<void>((resolve) => {
      client.on('error', (error) => {
        logger.warn({ err: error }, 'event notification connection failed; reconnecting');
        resolve();
      });
      client.on('end', () => resolve());
    });
    client.on('notification', () => wake());
    current = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    wake();
    return { ended };
  };

  const keepListening = async (first: { ended: Promise<void> }) => {
    let { ended } = first;
    for (let attempt = 0; !stop.signal.aborted; ) {
      await ended;
      await current?.end().catch(() => {});
      while (!stop.signal.aborted) {
        await delay(Math.min(30_000, 250 * 2 ** Math.min(attempt++, 7)), stop.signal);
        if (stop.signal.aborted) return;
        try {
          ({ ended } = await connect());
          attempt = 0;
          break;
        } catch (error) {
          logger.warn(
            { err: error, attempt },
            'cannot reconnect for event notifications; readers poll meanwhile',
          );
        }
      }
    }
  };

  const running = keepListening(await connect());
  return async () => {
    stop.abort();
    await current?.end().catch(() => {});
    await running;
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
