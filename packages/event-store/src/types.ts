import type { GlobalPosition } from './position.ts';

/**
 * The event log's public contract. Both backends (PostgreSQL through `pg`, and PGlite, the
 * embedded default) implement it and pass the same contract test suite.
 *
 * Vocabulary:
 * - A **stream** is the ordered history of one thing (a release: `release-<id>`). Its id's part
 *   before the first `-` is its category. Stream versions count its events: 1, 2, 3, ….
 * - The **global order** of the log is `(transaction id, position)`: events appended in one
 *   transaction share a transaction id; readers only see transactions that can no longer commit
 *   "in the past", so a subscriber never skips an event.
 */

/** JSON as stored in the log. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Who caused an event and how it relates to others. Flat string values only. The well-known keys
 * carry the causation chain, the actor of an operator action and the W3C trace context.
 */
export interface EventMetadata {
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly actor?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly [key: string]: string | undefined;
}

/** An event to append: its type names a message of the event catalogue; data is its JSON. */
export interface NewEvent {
  /** Unique across the log; re-appending the same id is a no-op (idempotent re-delivery). */
  readonly id?: string;
  readonly type: string;
  /**
   * The event's content: the canonical protobuf JSON of its message (or an object the message's
   * JSON parser accepts, or the protobuf message itself). Validated against its schema at append.
   */
  readonly data: unknown;
  readonly metadata?: EventMetadata;
}

/** A message to publish once the append that carries it has committed (the outbox). */
export interface OutboxMessage {
  /** The publish's message id (NATS `Nats-Msg-Id`): the broker drops re-publishes of the same id. */
  readonly id: string;
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * What the append expects of the stream: an exact version (the number of events the caller's
 * decision was based on, `0n` for a new stream), or one of the named states.
 */
export type ExpectedVersion = bigint | 'no_stream' | 'stream_exists' | 'any';

export interface AppendOptions {
  readonly expectedVersion: ExpectedVersion;
  /** Messages written in the same transaction as the events, published afterwards. */
  readonly outbox?: readonly OutboxMessage[];
  readonly signal?: AbortSignal;
}

export interface AppendResult {
  /** The stream's version after the append (its number of events). */
  readonly nextVersion: bigint;
  /**
   * Where the last appended event stands in the global order; `undefined` when the append was a
   * duplicate of one already stored (nothing new was written).
   */
  readonly position: GlobalPosition | undefined;
  /** True when every event id was already stored by an identical append: nothing was written. */
  readonly duplicate: boolean;
}

/** An event as stored, decoded and checked against its schema. */
export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly streamVersion: bigint;
  readonly position: GlobalPosition;
  readonly type: string;
  readonly schemaVersion: number;
  /** Canonical protobuf JSON of the event's message. */
  readonly data: JsonObject;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

/** A stored row that could not be decoded. Reported with its position; it never stops a reader. */
export interface CorruptEvent {
  readonly position: GlobalPosition;
  readonly streamId: string;
  readonly streamVersion: bigint;
  readonly eventId: string;
  readonly type: string;
  readonly reason: string;
}

export interface ReadStreamOptions {
  /** First stream version to return (default 1). */
  readonly fromVersion?: bigint;
  /** Last stream version to return (default: the end). Time travel: state as of this version. */
  readonly toVersion?: bigint;
  readonly signal?: AbortSignal;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position (default: the start of the log). */
  readonly after?: GlobalPosition;
  /** Maximum number of rows in the page (default 1000). */
  readonly limit?: number;
  readonly signal?: AbortSignal;
}

export interface ReadAllPage {
  readonly events: readonly RecordedEvent[];
  readonly corrupt: readonly CorruptEvent[];
  /** Where the next page starts: the last row read (events or corrupt), or `after` if none. */
  readonly position: GlobalPosition;
  /** True when the page was full: there may be more to read right away. */
  readonly hasMore: boolean;
}

export interface SubscriptionOptions {
  /**
   * A durable consumer id: its checkpoint is loaded at start and stored after every batch the
   * handler finished. Without it, the subscription starts at `from` and keeps no checkpoint.
   */
  readonly consumerId?: string;
  /** Start after this position when there is no stored checkpoint (default: the start). */
  readonly from?: GlobalPosition;
  /**
   * Receives events in global order, in batches. A batch whose handler throws is retried with
   * backoff (at-least-once); the subscription never moves past an event it did not deliver.
   */
  readonly handler: (events: readonly RecordedEvent[], signal: AbortSignal) => Promise<void>;
  /** A stored row that cannot be decoded: reported, then passed over. Default: logged as error. */
  readonly onCorrupt?: (corrupt: CorruptEvent) => void;
  /** A handler or read failure that will be retried. Default: logged as warning. */
  readonly onError?: (error: unknown, attempt: number) => void;
  readonly batchSize?: number;
  /** How often to look for new events when no wake-up arrives (default 500 ms). */
  readonly pollIntervalMs?: number;
  readonly signal?: AbortSignal;
}

export interface Subscription {
  /** The position of the last event handled (or passed over as corrupt). */
  readonly position: GlobalPosition;
  /** True once the subscription has read everything committed when it last looked (caught up). */
  readonly caughtUp: boolean;
  /** Resolves when the subscription has stopped. */
  readonly done: Promise<void>;
  /** Resolves once the subscription has handled everything up to and including `position`. */
  waitFor(position: GlobalPosition, signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** Outbox rows still to publish, oldest first. */
export interface PendingOutboxMessage extends OutboxMessage {
  readonly position: bigint;
  readonly streamId: string;
  readonly attempts: number;
}

/**
 * Every I/O call takes an optional AbortSignal, checked before the call goes to the database: a
 * query already sent runs to its end (an append already sent may commit), so a caller that gave
 * up retries an append with the same event ids, which is idempotent.
 */
export interface EventStore {
  /**
   * Appends events to one stream atomically, checking the expected version. Concurrent appends
   * are committed together (group commit). Throws `ConcurrencyError` when the stream is not at
   * the expected version, `ValidationError` when an event fails its schema or the input is
   * malformed, `AviaryError(IDEMPOTENCY_MISMATCH)` when an event id was stored before with
   * other content.
   */
  append(
    streamId: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<AppendResult>;

  /** The stream's events in version order; `[]` for a stream that does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;

  /** The stream's current version, or `undefined` when it does not exist. */
  streamVersion(streamId: string, signal?: AbortSignal): Promise<bigint | undefined>;

  /** One page of the whole log in global order, never skipping a later-committing event. */
  readAll(options?: ReadAllOptions): Promise<ReadAllPage>;

  /** Catch-up then live subscription to the whole log. */
  subscribe(options: SubscriptionOptions): Subscription;

  readonly checkpoints: CheckpointStore;
  readonly outbox: OutboxStore;

  /** Stops subscriptions and releases connections. */
  close(): Promise<void>;
}

export interface CheckpointStore {
  load(consumerId: string, signal?: AbortSignal): Promise<GlobalPosition | undefined>;
  store(consumerId: string, position: GlobalPosition, signal?: AbortSignal): Promise<void>;
}

export interface OutboxStore {
  /**
   * Messages not yet published whose retry time has come, oldest first; a message behind an
   * earlier one on the same subject that still waits for its retry is held back with it.
   */
  pending(limit: number, signal?: AbortSignal): Promise<PendingOutboxMessage[]>;
  markPublished(positions: readonly bigint[], signal?: AbortSignal): Promise<void>;
  markFailed(
    position: bigint,
    error: string,
    retryAfterMs: number,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Deletes published messages older than the given age; returns how many. */
  prunePublished(olderThanMs: number, signal?: AbortSignal): Promise<number>;
  /** Number of messages not yet published. */
  depth(signal?: AbortSignal): Promise<number>;
  /** Calls the listener after appends that may have written outbox rows; returns unsubscribe. */
  onAppended(listener: () => void): () => void;
}
