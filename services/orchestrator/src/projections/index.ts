/**
 * Projections: read models of the event log for the HTTP API (applications, releases, canaries,
 * timeline, clusters) and for the engine's start-up recovery (fleet view, active releases), kept
 * current by a checkpointed subscription and rebuildable from zero. See docs/projections.md.
 */
export {
  openPGliteProjectionDb,
  openPostgresProjectionDb,
  type PostgresProjectionDbOptions,
} from './database.ts';
export { MIGRATION_LOCK_TABLE, MIGRATION_TABLE, migrateProjections } from './migrations.ts';
export { type BatchOutcome, projectBatch } from './project-batch.ts';
export { PROJECTIONS_CONSUMER_ID, Projector, type ProjectorOptions } from './projector.ts';
export {
  type ActiveRelease,
  activeReleases,
  applicationStreams,
  createReadModel,
  type FleetViewEntry,
  fleetView,
} from './read-model.ts';
export {
  PROJECTION_TABLES,
  type ProjectionDatabase,
  type ProjectionDb,
  type WaveRow,
} from './schema.ts';
export { type SharedPGlite, type SharedPGliteViewOptions, sharePGlite } from './shared-pglite.ts';
export { applicationStreamId } from './streams.ts';
