import type { ColumnType, Generated, Kysely } from 'kysely';

/** The log's tables as kysely sees them. Bigint columns are read as text (see rows.ts). */
export interface Database {
  streams: {
    stream_id: string;
    category: string;
    version: ColumnType<string, string | bigint, string | bigint>;
    created_at: Generated<Date>;
    updated_at: Generated<Date>;
  };
  checkpoints: {
    consumer_id: string;
    last_tx: ColumnType<string, string, string>;
    last_position: ColumnType<string, string | bigint, string | bigint>;
    updated_at: Generated<Date>;
  };
  outbox: {
    position: Generated<string>;
    message_id: string;
    stream_id: string;
    subject: string;
    payload: Uint8Array;
    headers: ColumnType<Record<string, string>, string, string>;
    created_at: Generated<Date>;
    attempts: Generated<number>;
    next_attempt_at: Date | null;
    last_error: string | null;
    published_at: Date | null;
  };
}

export type Db = Kysely<Database>;

/** The minimal logger the store reports through: a subset of pino's. */
export interface StoreLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export const silentLogger: StoreLogger = {
  warn() {},
  error() {},
  debug() {},
};
