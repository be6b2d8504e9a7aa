export { openPGliteEventStore, type PGliteEventStoreOptions } from './backends/pglite.ts';
export { openPostgresEventStore, type PostgresEventStoreOptions } from './backends/postgres.ts';
export { createEventCodec, type EventCodec } from './codec.ts';
export type { StoreLogger } from './database.ts';
export type { GroupCommitOptions } from './group-commit.ts';
export { migrateToLatest } from './migrate.ts';
export { type OutboxPublisher, OutboxRelay, type OutboxRelayOptions } from './outbox-relay.ts';
export {
  comparePositions,
  formatPosition,
  type GlobalPosition,
  parsePosition,
  START,
} from './position.ts';
export type {
  AppendOptions,
  AppendResult,
  CheckpointStore,
  CorruptEvent,
  EventMetadata,
  EventStore,
  ExpectedVersion,
  JsonObject,
  JsonValue,
  NewEvent,
  OutboxMessage,
  OutboxStore,
  PendingOutboxMessage,
  ReadAllOptions,
  ReadAllPage,
  ReadStreamOptions,
  RecordedEvent,
  Subscription,
  SubscriptionOptions,
} from './types.ts';
