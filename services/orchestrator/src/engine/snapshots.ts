/**
 * Release snapshots: a release actor loads its folded state from the latest snapshot plus the
 * stream's tail instead of folding the whole stream (a release with a hundred clusters records
 * tens of thousands of events).
 *
 * A snapshot is a cache: it holds the release context and the decider's state after `version`
 * events, in `format` (bumped whenever the decider's state changes shape, so an old snapshot is
 * ignored, never misread). Losing one only costs a longer load. Stored in the orchestrator's
 * database (table `orchestrator_snapshots`, migrated with the projections).
 */
import type { ReleaseContext, ReleaseState } from '@aviary/decider';
import { type Kysely, sql } from 'kysely';

/** The shape of `ReleaseState` snapshots are written in. Bump on any change of that shape. */
export const SNAPSHOT_FORMAT = 1;

export interface ReleaseSnapshot {
  readonly version: bigint;
  readonly context: ReleaseContext;
  readonly state: ReleaseState;
}

export interface SnapshotStore {
  load(streamId: string): Promise<ReleaseSnapshot | undefined>;
  save(streamId: string, snapshot: ReleaseSnapshot): Promise<void>;
}

/** Snapshots in `orchestrator_snapshots` of the orchestrator's database (PostgreSQL or PGlite). */
export function databaseSnapshots(db: Kysely<unknown>): SnapshotStore {
  return {
    async load(streamId) {
      const { rows } = await sql<{ version: string; format: number; snapshot: unknown }>`
        SELECT version::text AS version, format, snapshot
          FROM orchestrator_snapshots WHERE stream_id = ${streamId}`.execute(db);
      const row = rows[0];
      if (row === undefined || row.format !== SNAPSHOT_FORMAT) return undefined;
      const snapshot = (
        typeof row.snapshot === 'string' ? JSON.parse(row.snapshot) : row.snapshot
      ) as {
        context: ReleaseContext;
        state: ReleaseState;
      };
      return { version: BigInt(row.version), context: snapshot.context, state: snapshot.state };
    },
    async save(streamId, snapshot) {
      const json = JSON.stringify({ context: snapshot.context, state: snapshot.state });
      await sql`
        INSERT INTO orchestrator_snapshots (stream_id, version, format, snapshot, taken_at)
        VALUES (${streamId}, ${snapshot.version.toString()}::bigint, ${SNAPSHOT_FORMAT}, ${json}::jsonb, now())
        ON CONFLICT (stream_id) DO UPDATE
          SET version = EXCLUDED.version, format = EXCLUDED.format,
              snapshot = EXCLUDED.snapshot, taken_at = EXCLUDED.taken_at
          WHERE orchestrator_snapshots.version < EXCLUDED.version`.execute(db);
    },
  };
}
