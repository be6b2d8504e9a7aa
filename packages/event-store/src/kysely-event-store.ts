import { randomUUID } from 'node:crypto';
import {
  AviaryError,
  ConcurrencyError,
  ErrorCode,
  throwIfAborted,
  ValidationError,
  type ValidationIssue,
} from '@aviary/core';
import { sql } from 'kysely';
import type { EventCodec } from './codec.ts';
import type { Db, StoreLogger } from './database.ts';
import {
  type AppendOutcome,
  type AppendRequest,
  type GroupCommitOptions,
  GroupCommitter,
  sqlState,
} from './group-commit.ts';
import { type GlobalPosition, START } from './position.ts';
import { decodeRow, EVENT_COLUMNS, type EventRow, isCorrupt } from './rows.ts';
import { startSubscription } from './subscription.ts';
import type {
  AppendOptions,
  AppendResult,
  CheckpointStore,
  CorruptEvent,
  EventStore,
  NewEvent,
  OutboxStore,
  PendingOutboxMessage,
  ReadAllOptions,
  ReadAllPage,
  ReadStreamOptions,
  RecordedEvent,
  Subscription,
  SubscriptionOptions,
} from './types.ts';
import { Wake } from './wake.ts';

export interface KyselyEventStoreOptions {
  readonly db: Db;
  readonly codec: EventCodec;
  readonly logger: StoreLogger;
  readonly groupCommit?: GroupCommitOptions;
  /** Starts delivering other processes' append notifications to `wake`; returns a stopper. */
  readonly listen?: (wake: () => void) => Promise<() => Promise<void>>;
  /** Releases the backend (pool, PGlite instance) after everything else has stopped. */
  readonly release: () => Promise<void>;
}

const MAX_STREAM_ID_LENGTH = 256;
const MAX_EVENTS_PER_APPEND = 10_000;
const EXPECTED_CODES = { no_stream: '-1', any: '-2', stream_exists: '-3' } as const;

/**
 * The event store over a kysely database: the part both backends share. Backends differ only in
 * the kysely dialect, how notifications are listened to, and how they are released.
 */
export class KyselyEventStore implements EventStore {
  readonly #db: Db;
  readonly #codec: EventCodec;
  readonly #logger: StoreLogger;
  readonly #committer: GroupCommitter;
  readonly #wake = new Wake();
  readonly #subscriptions = new Set<Subscription>();
  readonly #release: () => Promise<void>;
  #stopListening: Promise<() => Promise<void>> | undefined;
  #closed = false;

  readonly checkpoints: CheckpointStore;
  readonly outbox: OutboxStore;

  constructor(options: KyselyEventStoreOptions) {
    this.#db = options.db;
    this.#codec = options.codec;
    this.#logger = options.logger;
    this.#release = options.release;
    this.#committer = new GroupCommitter((batch) => this.#executeBatch(batch), options.groupCommit);
    this.#stopListening = options
      .listen?.(() => this.#wake.notify())
      .catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'cannot listen for append notifications; readers poll');
        return async () => {};
      });
    this.checkpoints = createCheckpointStore(this.#db);
    this.outbox = createOutboxStore(this.#db, this.#wake);
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult> {
    const request = this.#prepare(streamId, events, options);
    const outcome = await this.#committer
      .submit(request, options.signal)
      .catch((error: unknown) => {
        throw mapAppendError(error, streamId);
      });
    return this.#result(streamId, options, outcome);
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    checkStreamId(streamId);
    throwIfAborted(options.signal, `reading stream ${streamId}`);
    const from = options.fromVersion ?? 1n;
    const to = options.toVersion ?? 9_223_372_036_854_775_807n;
    const { rows } = await sql<EventRow>`
      SELECT ${sql.raw(EVENT_COLUMNS)} FROM events
      WHERE stream_id = ${streamId} AND stream_version >= ${from.toString()}::bigint
        AND stream_version <= ${to.toString()}::bigint
      ORDER BY stream_version`.execute(this.#db);
    const events: RecordedEvent[] = [];
    for (const row of rows) {
      const event = decodeRow(this.#codec, row);
      if (isCorrupt(event)) throw corruptEventError(event);
      events.push(event);
    }
    return events;
  }

  async streamVersion(streamId: string, signal?: AbortSignal): Promise<bigint | undefined> {
    checkStreamId(streamId);
    throwIfAborted(signal, `reading the version of stream ${streamId}`);
    const row = await this.#db
      .selectFrom('streams')
      .select(sql<string>`version::text`.as('version'))
      .where('stream_id', '=', streamId)
      .executeTakeFirst();
    return row ? BigInt(row.version) : undefined;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllPage> {
    throwIfAborted(options.signal, 'reading the log');
    const after = options.after ?? START;
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
      throw new ValidationError('readAll', [
        { path: 'limit', message: 'must be an integer from 1 to 100000' },
      ]);
    }
    // Only transactions older than the oldest one still running are read: none of them can
    // commit any more, so nothing can appear behind the returned position later. Sorts and
    // bitmap scans are switched off for this read (in its own read-only transaction, which takes
    // no transaction id) so that the plan is always the ordered range scan of
    // events_tx_position_idx: with stale statistics the planner would otherwise sort the whole
    // rest of the log to return one page.
    const rows = await this.#db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)`.execute(
        trx,
      );
      const result = await sql<EventRow>`
        SELECT ${sql.raw(EVENT_COLUMNS)} FROM events
        WHERE (transaction_id, global_position) > (${after.transactionId.toString()}::text::xid8, ${after.position.toString()}::bigint)
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id, global_position
        LIMIT ${limit}`.execute(trx);
      return result.rows;
    });
    const events: RecordedEvent[] = [];
    const corrupt: CorruptEvent[] = [];
    let position = after;
    for (const row of rows) {
      const event = decodeRow(this.#codec, row);
      if (isCorrupt(event)) corrupt.push(event);
      else events.push(event);
      position = event.position;
    }
    return { events, corrupt, position, hasMore: rows.length === limit };
  }

  subscribe(options: SubscriptionOptions): Subscription {
    if (this.#closed) throw new AviaryError(ErrorCode.Aborted, 'the event store is closed');
    const subscription = startSubscription(this, this.#wake, this.#logger, options);
    this.#subscriptions.add(subscription);
    void subscription.done.finally(() => this.#subscriptions.delete(subscription));
    return subscription;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#committer.close();
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    const stop = await this.#stopListening;
    await stop?.();
    await this.#release();
  }

  #prepare(streamId: string, events: readonly NewEvent[], options: AppendOptions): AppendRequest {
    if (this.#closed) throw new AviaryError(ErrorCode.Aborted, 'the event store is closed');
    checkStreamId(streamId);
    const issues: ValidationIssue[] = [];
    if (!Array.isArray(events) || events.length === 0) {
      issues.push({ path: 'events', message: 'an append needs at least one event' });
    } else if (events.length > MAX_EVENTS_PER_APPEND) {
      issues.push({
        path: 'events',
        message: `at most ${MAX_EVENTS_PER_APPEND} events per append`,
      });
    }
    const expected = expectedCode(options?.expectedVersion, issues);
    const ids = new Set<string>();
    const ev: AppendRequest['ev'][number][] = [];
    (Array.isArray(events) ? events : []).forEach((event, i) => {
      const path = `events[${i}]`;
      if (typeof event !== 'object' || event === null) {
        issues.push({ path, message: 'must be an object with type and data' });
        return;
      }
      const id = event.id ?? randomUUID();
      if (typeof id !== 'string' || id.length === 0 || id.length > 200) {
        issues.push({
          path: `${path}.id`,
          message: 'must be a non-empty string of at most 200 characters',
        });
      } else if (ids.has(id)) {
        issues.push({ path: `${path}.id`, message: `"${id}" appears twice in this append` });
      }
      ids.add(id);
      checkMetadata(event.metadata, `${path}.metadata`, issues);
      try {
        const { schemaVersion, data } = this.#codec.encode(event, path);
        ev.push({ id, type: event.type, v: schemaVersion, data, meta: event.metadata ?? {} });
      } catch (error) {
        if (error instanceof ValidationError) issues.push(...error.issues);
        else throw error;
      }
    });
    const ob = (options?.outbox ?? []).map((message, i) => {
      const path = `outbox[${i}]`;
      if (typeof message?.id !== 'string' || message.id.length === 0) {
        issues.push({ path: `${path}.id`, message: 'must be a non-empty string' });
      }
      if (typeof message?.subject !== 'string' || !/^[^\s*>]+$/.test(message.subject)) {
        issues.push({
          path: `${path}.subject`,
          message: 'must be a subject without spaces or wildcards',
        });
      }
      if (!(message?.payload instanceof Uint8Array)) {
        issues.push({ path: `${path}.payload`, message: 'must be a Uint8Array' });
      }
      checkMetadata(message?.headers, `${path}.headers`, issues);
      return {
        id: message?.id,
        subject: message?.subject,
        payload:
          message?.payload instanceof Uint8Array
            ? Buffer.from(message.payload).toString('base64')
            : '',
        headers: message?.headers ?? {},
      };
    });
    if (issues.length > 0) throw new ValidationError(`append to ${streamId} rejected`, issues);
    return { s: streamId, e: expected, ev, ob };
  }

  #result(streamId: string, options: AppendOptions, outcome: AppendOutcome): AppendResult {
    switch (outcome.status) {
      case 'ok':
        this.#wake.notify();
        return {
          nextVersion: BigInt(outcome.version),
          position: { transactionId: BigInt(outcome.tx), position: BigInt(outcome.last) },
          duplicate: false,
        };
      case 'duplicate':
        return { nextVersion: BigInt(outcome.version), position: undefined, duplicate: true };
      case 'conflict': {
        const expected = options.expectedVersion;
        throw new ConcurrencyError(
          streamId,
          expected === 'any' ? 'stream_exists' : expected,
          BigInt(outcome.actual),
        );
      }
      case 'mismatch':
        throw new AviaryError(
          ErrorCode.IdempotencyMismatch,
          `append to ${streamId}: ${outcome.found} of its event ids were stored before, ${outcome.same} of them identical: ` +
            'an event id may be re-appended only with the same stream, type and data',
        );
      default: {
        const never: never = outcome;
        throw new AviaryError(
          ErrorCode.Unavailable,
          `unexpected append outcome ${JSON.stringify(never)}`,
        );
      }
    }
  }

  async #executeBatch(batch: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    const { rows } = await sql<{ r: { tx: string | null; results: AppendOutcome[] } }>`
      SELECT es_append_batch(${JSON.stringify(batch)}::jsonb) AS r`.execute(this.#db);
    const result = rows[0]?.r;
    if (!result || !Array.isArray(result.results)) {
      throw new AviaryError(ErrorCode.Unavailable, 'the append function returned no result');
    }
    return result.results.map((o) => (o.status === 'ok' ? { ...o, tx: result.tx ?? '0' } : o));
  }
}

function checkStreamId(streamId: string): void {
  if (
    typeof streamId !== 'string' ||
    streamId.length === 0 ||
    streamId.length > MAX_STREAM_ID_LENGTH ||
    /[\s\p{Cc}]/u.test(streamId)
  ) {
    throw new ValidationError('stream id rejected', [
      {
        path: 'streamId',
        message: `must be 1 to ${MAX_STREAM_ID_LENGTH} characters without spaces or control characters, got ${JSON.stringify(streamId)}`,
      },
    ]);
  }
}

function expectedCode(expected: unknown, issues: ValidationIssue[]): string {
  if (typeof expected === 'bigint' && expected >= 0n) return expected.toString();
  if (typeof expected === 'string' && expected in EXPECTED_CODES) {
    return EXPECTED_CODES[expected as keyof typeof EXPECTED_CODES];
  }
  issues.push({
    path: 'expectedVersion',
    message: 'must be a version (bigint >= 0n) or "no_stream", "stream_exists" or "any"',
  });
  return '-2';
}

function checkMetadata(value: unknown, path: string, issues: ValidationIssue[]): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ path, message: 'must be an object of strings' });
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') issues.push({ path: `${path}.${key}`, message: 'must be a string' });
  }
}

function mapAppendError(error: unknown, streamId: string): unknown {
  if (error instanceof AviaryError) return error;
  const state = sqlState(error);
  const constraint = (error as { constraint?: string }).constraint ?? '';
  const detail = error instanceof Error ? error.message : String(error);
  if (
    state === '23505' &&
    (constraint === 'events_event_id_uq' || detail.includes('events_event_id_uq'))
  ) {
    return new AviaryError(
      ErrorCode.IdempotencyMismatch,
      `append to ${streamId}: an event id is already stored in another stream`,
      { cause: error },
    );
  }
  if (
    state === '23505' &&
    (constraint === 'outbox_message_id_uq' || detail.includes('outbox_message_id_uq'))
  ) {
    return new ValidationError(
      `append to ${streamId} rejected`,
      [{ path: 'outbox', message: 'an outbox message id is already used by another message' }],
      { cause: error },
    );
  }
  return new AviaryError(ErrorCode.Unavailable, `append to ${streamId} failed: ${detail}`, {
    cause: error,
  });
}

export function corruptEventError(event: CorruptEvent): AviaryError {
  return new AviaryError(
    ErrorCode.CorruptEvent,
    `event ${event.eventId} (${event.type}) at ${event.position.transactionId}:${event.position.position}, ` +
      `stream ${event.streamId} version ${event.streamVersion}, cannot be read: ${event.reason}`,
  );
}

function createCheckpointStore(db: Db): CheckpointStore {
  return {
    async load(consumerId, signal) {
      throwIfAborted(signal, `loading checkpoint ${consumerId}`);
      const row = await db
        .selectFrom('checkpoints')
        .select([sql<string>`last_tx::text`.as('tx'), sql<string>`last_position::text`.as('pos')])
        .where('consumer_id', '=', consumerId)
        .executeTakeFirst();
      return row ? { transactionId: BigInt(row.tx), position: BigInt(row.pos) } : undefined;
    },
    async store(consumerId, position: GlobalPosition, signal) {
      throwIfAborted(signal, `storing checkpoint ${consumerId}`);
      await sql`
        INSERT INTO checkpoints (consumer_id, last_tx, last_position)
        VALUES (${consumerId}, ${position.transactionId.toString()}::text::xid8, ${position.position.toString()}::bigint)
        ON CONFLICT (consumer_id) DO UPDATE
          SET last_tx = excluded.last_tx, last_position = excluded.last_position, updated_at = now()`.execute(
        db,
      );
    },
  };
}

function createOutboxStore(db: Db, wake: Wake): OutboxStore {
  return {
    async pending(limit, signal): Promise<PendingOutboxMessage[]> {
      throwIfAborted(signal, 'reading the outbox');
      // Due messages, oldest first, except those behind an earlier message on the same subject
      // that waits for its retry: one subject's messages are never reordered.
      const rows = await db
        .selectFrom('outbox as o')
        .select([
          sql<string>`o.position::text`.as('position'),
          'o.message_id',
          'o.stream_id',
          'o.subject',
          'o.payload',
          'o.headers',
          'o.attempts',
        ])
        .where('o.published_at', 'is', null)
        .where((eb) =>
          eb.or([
            eb('o.next_attempt_at', 'is', null),
            eb('o.next_attempt_at', '<=', sql<Date>`now()`),
          ]),
        )
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('outbox as b')
                .select(sql`1`.as('one'))
                .whereRef('b.subject', '=', 'o.subject')
                .whereRef('b.position', '<', 'o.position')
                .where('b.published_at', 'is', null)
                .where('b.next_attempt_at', '>', sql<Date>`now()`),
            ),
          ),
        )
        .orderBy('o.position')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        position: BigInt(r.position),
        id: r.message_id,
        streamId: r.stream_id,
        subject: r.subject,
        payload: new Uint8Array(r.payload),
        headers: r.headers,
        attempts: r.attempts,
      }));
    },
    async markPublished(positions) {
      if (positions.length === 0) return;
      await db
        .updateTable('outbox')
        .set({ published_at: sql<Date>`now()` })
        .where(
          'position',
          'in',
          positions.map((p) => p.toString()),
        )
        .execute();
    },
    async markFailed(position, error, retryAfterMs) {
      await db
        .updateTable('outbox')
        .set({
          attempts: sql<number>`attempts + 1`,
          last_error: error.slice(0, 2000),
          next_attempt_at: sql<Date>`now() + ${`${Math.max(0, Math.round(retryAfterMs))} milliseconds`}::interval`,
        })
        .where('position', '=', position.toString())
        .execute();
    },
    async prunePublished(olderThanMs) {
      const result = await db
        .deleteFrom('outbox')
        .where('published_at', 'is not', null)
        .where(
          'published_at',
          '<',
          sql<Date>`now() - ${`${Math.max(0, Math.round(olderThanMs))} milliseconds`}::interval`,
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    async depth() {
      const row = await db
        .selectFrom('outbox')
        .select(sql<string>`count(*)::text`.as('n'))
        .where('published_at', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    onAppended(listener) {
      return wake.on(listener);
    },
  };
}
