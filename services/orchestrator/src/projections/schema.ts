/**
 * The projections' tables (`proj_*`) as kysely sees them. They live in the event log's database
 * and are created by their own migrations (`migrations.ts`). Every column is derived from events
 * only (times are the events' `recordedAt`), so a rebuild from zero writes identical rows.
 *
 * Conventions: bigint columns are read as text (`::text`) so that `pg` and PGlite agree; JSON
 * columns are written as JSON text cast to `jsonb` (`pg` would turn a JS array into a Postgres
 * array); timestamps are written as RFC 3339 text and read back as `Date`.
 */
import type { ColumnType, Kysely } from 'kysely';

/** A `jsonb` column: read parsed, written as JSON text (cast by the writer). */
type Json<T> = ColumnType<T, string, string>;
/** A `timestamptz` column: read as a `Date`, written as RFC 3339 text. */
type Timestamp = ColumnType<Date, string, string>;
type NullableTimestamp = ColumnType<Date | null, string | null, string | null>;
/** A `bigint` column: selected as text (`::text`), written as a decimal string. */
type BigintText = ColumnType<string, string, string>;

/** One wave of a release as projected (`proj_releases.waves`). */
export interface WaveRow {
  readonly name: string;
  readonly clusters: readonly string[];
  readonly status: 'pending' | 'running' | 'baking' | 'succeeded';
}

/** A canary's halt-and-revert (`proj_canaries.revert`), as the release decider tracks it. */
export interface RevertRow {
  readonly status: 'reverting' | 'reverted' | 'failed';
  /** The revision the primary is put back on. */
  readonly revisionId: string;
  /** The RevertPrimary command: a re-send (same id) changes nothing. */
  readonly commandId: string;
  /** Why it failed. */
  readonly reason?: string;
}

export interface ProjectionDatabase {
  /** Per projected stream, the last stream version applied: re-delivered events are skipped. */
  proj_streams: {
    stream_id: string;
    version: BigintText;
  };
  /** One row per application (`rollout-<namespace>.<name>`). */
  proj_applications: {
    namespace: string;
    name: string;
    /** Version of the application stream projected; 0 while the application is known only from
     * its releases' streams. */
    version: BigintText;
    spec_hash: string | null;
    spec: Json<Record<string, unknown>> | null;
    applied_by: string | null;
    applied_at: NullableTimestamp;
    active_release_id: string | null;
    gates: Json<Record<string, boolean>>;
    updated_at: Timestamp;
  };
  /** One row per release: created (application stream) and/or started (release stream). */
  proj_releases: {
    release_id: string;
    namespace: string;
    name: string;
    revision_id: string;
    spec_hash: string | null;
    created_at: NullableTimestamp;
    created_reason: string | null;
    created_by: string | null;
    created_cluster: string | null;
    retry_of_release_id: string | null;
    started_at: NullableTimestamp;
    status: 'running' | 'paused' | 'halted' | 'finished';
    paused: boolean;
    halted: boolean;
    outcome: string | null;
    reason: string | null;
    current_wave: number;
    waves: Json<WaveRow[]>;
    finished_at: NullableTimestamp;
    /** SupersessionRecorded's release id (migration 0003). */
    superseded_by_release_id: string | null;
    updated_at: Timestamp;
    /** Version of the release stream projected. */
    version: BigintText;
  };
  /** One row per cluster canary of a release. */
  proj_canaries: {
    release_id: string;
    cluster: string;
    /** Order in the release's plan (waves flattened); later additions after. */
    ordinal: number;
    phase: string;
    canary_weight_percent: number;
    primary_weight_percent: number;
    failed_checks: number;
    iterations: number;
    paused: boolean;
    skipped: boolean;
    last_reason: string | null;
    /** Halt-and-revert state, null when none was requested (migration 0003). */
    revert: Json<RevertRow> | null;
    updated_at: Timestamp;
  };
  /** Every event of every release stream, with a one-line summary. */
  proj_timeline: {
    release_id: string;
    stream_version: BigintText;
    position: string;
    type: string;
    cluster: string | null;
    actor: string | null;
    summary: string;
    data: Json<Record<string, unknown>>;
    recorded_at: Timestamp;
  };
  /** One row per cluster that sent a heartbeat. */
  proj_clusters: {
    name: string;
    labels: Json<Record<string, string>>;
    agent_version: string;
    lease_ms: BigintText;
    last_heartbeat_at: Timestamp;
  };
  /** Per (workload, cluster): the latest RevisionSeen and readiness observations, as stored. */
  proj_fleet_view: {
    namespace: string;
    name: string;
    cluster: string;
    revision_seen: Json<Record<string, unknown>> | null;
    canary_readiness: Json<Record<string, unknown>> | null;
    primary_readiness: Json<Record<string, unknown>> | null;
    updated_at: Timestamp;
  };
}

export type ProjectionDb = Kysely<ProjectionDatabase>;

/** Every projection table, in an order safe for `TRUNCATE`. */
export const PROJECTION_TABLES = [
  'proj_streams',
  'proj_applications',
  'proj_releases',
  'proj_canaries',
  'proj_timeline',
  'proj_clusters',
  'proj_fleet_view',
] as const satisfies readonly (keyof ProjectionDatabase)[];
