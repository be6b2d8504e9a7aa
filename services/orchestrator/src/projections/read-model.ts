/**
 * The read model over the projection tables (`ReadModel` of ports.ts), and the queries the
 * engine's start-up recovery needs: the fleet view of an application, the active releases, and
 * every application stream.
 */
import { ValidationError } from '@aviary/core';
import type { CanaryPhaseJson, ReleaseOutcomeJson } from '@aviary/proto';
import { type Selectable, sql } from 'kysely';
import type {
  ApplicationRef,
  ApplicationView,
  CanaryRevertView,
  CanaryView,
  ClusterView,
  ReadModel,
  ReleaseView,
  TimelineEntry,
} from '../ports.ts';
import type { ProjectionDatabase, ProjectionDb, RevertRow } from './schema.ts';

export function createReadModel(db: ProjectionDb): ReadModel {
  return {
    async applications() {
      const rows = await selectApplications(db)
        .where('spec_hash', 'is not', null)
        .orderBy('namespace')
        .orderBy('name')
        .execute();
      return rows.flatMap(toApplicationView);
    },

    async application(ref) {
      const row = await selectApplications(db)
        .where('namespace', '=', ref.namespace)
        .where('name', '=', ref.name)
        .executeTakeFirst();
      return row === undefined ? undefined : toApplicationView(row)[0];
    },

    async releases(filter = {}) {
      let query = selectReleases(db).where('started_at', 'is not', null);
      if (filter.application !== undefined) {
        query = query
          .where('namespace', '=', filter.application.namespace)
          .where('name', '=', filter.application.name);
      }
      if (filter.active === true) query = query.where('status', '<>', 'finished');
      if (filter.active === false) query = query.where('status', '=', 'finished');
      if (filter.limit !== undefined) query = query.limit(checkLimit(filter.limit));
      const rows = await query
        .orderBy('started_at', 'desc')
        .orderBy('release_id', 'desc')
        .execute();
      return rows.flatMap(toReleaseView);
    },

    async release(releaseId) {
      const row = await selectReleases(db).where('release_id', '=', releaseId).executeTakeFirst();
      return row === undefined ? undefined : toReleaseView(row)[0];
    },

    async canaries(releaseId) {
      const rows = await db
        .selectFrom('proj_canaries')
        .selectAll()
        .where('release_id', '=', releaseId)
        .orderBy('ordinal')
        .orderBy('cluster')
        .execute();
      return rows.map(toCanaryView);
    },

    async clusters() {
      const rows = await db
        .selectFrom('proj_clusters')
        .select([
          'name',
          'labels',
          'agent_version',
          sql<string>`lease_ms::text`.as('lease_ms'),
          'last_heartbeat_at',
        ])
        .orderBy('name')
        .execute();
      return rows.map(
        (r): ClusterView => ({
          name: r.name,
          labels: r.labels,
          agentVersion: r.agent_version,
          leaseMs: Number(r.lease_ms),
          lastHeartbeatAt: r.last_heartbeat_at.toISOString(),
        }),
      );
    },

    async timeline(releaseId, options = {}) {
      let query = db
        .selectFrom('proj_timeline')
        .select([
          // Not aliased `stream_version`: ORDER BY would sort the text.
          sql<string>`stream_version::text`.as('version'),
          'position',
          'type',
          'cluster',
          'actor',
          'summary',
          'data',
          'recorded_at',
        ])
        .where('release_id', '=', releaseId);
      if (options.afterVersion !== undefined) {
        if (!Number.isSafeInteger(options.afterVersion) || options.afterVersion < 0) {
          throw new ValidationError('timeline', [
            { path: 'afterVersion', message: 'must be an integer >= 0' },
          ]);
        }
        query = query.where('stream_version', '>', sql<string>`${options.afterVersion}::bigint`);
      }
      if (options.limit !== undefined) query = query.limit(checkLimit(options.limit));
      const rows = await query.orderBy('proj_timeline.stream_version').execute();
      return rows.map((r): TimelineEntry => {
        const entry: TimelineEntry = {
          position: r.position,
          streamVersion: Number(r.version),
          type: r.type,
          summary: r.summary,
          data: r.data,
          recordedAt: r.recorded_at.toISOString(),
        };
        return {
          ...entry,
          ...(r.cluster === null ? {} : { cluster: r.cluster }),
          ...(r.actor === null ? {} : { actor: r.actor }),
        };
      });
    },
  };
}

/** The latest observations of one workload in one cluster, as stored (Observation JSON). */
export interface FleetViewEntry {
  readonly cluster: string;
  readonly revisionSeen?: Readonly<Record<string, unknown>>;
  readonly canaryReadiness?: Readonly<Record<string, unknown>>;
  readonly primaryReadiness?: Readonly<Record<string, unknown>>;
  readonly updatedAt: string;
}

/**
 * Per cluster, the latest RevisionSeen, canary readiness and primary readiness observation of
 * the application's target workload (`namespace/name`), by cluster name.
 */
export async function fleetView(
  db: ProjectionDb,
  workload: ApplicationRef,
): Promise<FleetViewEntry[]> {
  const rows = await db
    .selectFrom('proj_fleet_view')
    .selectAll()
    .where('namespace', '=', workload.namespace)
    .where('name', '=', workload.name)
    .orderBy('cluster')
    .execute();
  return rows.map((r) => ({
    cluster: r.cluster,
    ...(r.revision_seen === null ? {} : { revisionSeen: r.revision_seen }),
    ...(r.canary_readiness === null ? {} : { canaryReadiness: r.canary_readiness }),
    ...(r.primary_readiness === null ? {} : { primaryReadiness: r.primary_readiness }),
    updatedAt: r.updated_at.toISOString(),
  }));
}

export interface ActiveRelease {
  readonly releaseId: string;
  readonly application: ApplicationRef;
}

/**
 * Releases created (ReleaseCreated) or started (ReleaseStarted) and not finished, oldest first:
 * what the engine resumes at start-up. A release created but not started yet is included.
 */
export async function activeReleases(db: ProjectionDb): Promise<ActiveRelease[]> {
  const rows = await db
    .selectFrom('proj_releases')
    .select(['release_id', 'namespace', 'name'])
    .where('status', '<>', 'finished')
    .orderBy(sql`coalesce(created_at, started_at)`)
    .orderBy('release_id')
    .execute();
  return rows.map((r) => ({
    releaseId: r.release_id,
    application: { namespace: r.namespace, name: r.name },
  }));
}

/** Every application that has a stream of its own (`rollout-<namespace>.<name>`), by name. */
export async function applicationStreams(db: ProjectionDb): Promise<ApplicationRef[]> {
  const rows = await db
    .selectFrom('proj_applications')
    .select(['namespace', 'name'])
    .where('version', '>', sql<string>`0`)
    .orderBy('namespace')
    .orderBy('name')
    .execute();
  return rows.map((r) => ({ namespace: r.namespace, name: r.name }));
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new ValidationError('read model', [
      { path: 'limit', message: `must be an integer >= 1, got ${limit}` },
    ]);
  }
  return limit;
}

const selectApplications = (db: ProjectionDb) =>
  db
    .selectFrom('proj_applications')
    .select([
      'namespace',
      'name',
      'spec_hash',
      'spec',
      'applied_by',
      'applied_at',
      'active_release_id',
      'gates',
    ]);

type ApplicationRow = Pick<
  Selectable<ProjectionDatabase['proj_applications']>,
  | 'namespace'
  | 'name'
  | 'spec_hash'
  | 'spec'
  | 'applied_by'
  | 'applied_at'
  | 'active_release_id'
  | 'gates'
>;

/** `[]` for an application without a spec yet (known only from its releases). */
function toApplicationView(r: ApplicationRow): ApplicationView[] {
  if (r.spec_hash === null || r.spec === null) return [];
  const view: ApplicationView = {
    namespace: r.namespace,
    name: r.name,
    specHash: r.spec_hash,
    spec: r.spec,
    appliedBy: r.applied_by ?? '',
    appliedAt: r.applied_at?.toISOString() ?? '',
    gates: r.gates,
  };
  return [r.active_release_id === null ? view : { ...view, activeReleaseId: r.active_release_id }];
}

const selectReleases = (db: ProjectionDb) =>
  db
    .selectFrom('proj_releases')
    .select([
      'release_id',
      'namespace',
      'name',
      'revision_id',
      'status',
      'outcome',
      'reason',
      'current_wave',
      'waves',
      'started_at',
      'finished_at',
      'superseded_by_release_id',
      'updated_at',
      sql<string>`version::text`.as('version'),
    ]);

type ReleaseRow = Pick<
  Selectable<ProjectionDatabase['proj_releases']>,
  | 'release_id'
  | 'namespace'
  | 'name'
  | 'revision_id'
  | 'status'
  | 'outcome'
  | 'reason'
  | 'current_wave'
  | 'waves'
  | 'started_at'
  | 'finished_at'
  | 'superseded_by_release_id'
  | 'updated_at'
> & { readonly version: string };

/** `[]` for a release created but not started yet (it has no plan to show). */
function toReleaseView(r: ReleaseRow): ReleaseView[] {
  if (r.started_at === null) return [];
  const view: ReleaseView = {
    releaseId: r.release_id,
    application: { namespace: r.namespace, name: r.name },
    revisionId: r.revision_id,
    status: r.status,
    currentWave: r.current_wave,
    waves: r.waves.map((w) => ({ name: w.name, clusters: [...w.clusters], status: w.status })),
    startedAt: r.started_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: Number(r.version),
  };
  return [
    {
      ...view,
      ...(r.outcome === null ? {} : { outcome: r.outcome as ReleaseOutcomeJson }),
      ...(r.reason === null ? {} : { reason: r.reason }),
      ...(r.finished_at === null ? {} : { finishedAt: r.finished_at.toISOString() }),
      ...(r.superseded_by_release_id === null ? {} : { supersededBy: r.superseded_by_release_id }),
    },
  ];
}

function toCanaryView(r: Selectable<ProjectionDatabase['proj_canaries']>): CanaryView {
  const view: CanaryView = {
    releaseId: r.release_id,
    cluster: r.cluster,
    phase: r.phase as CanaryPhaseJson,
    canaryWeightPercent: r.canary_weight_percent,
    primaryWeightPercent: r.primary_weight_percent,
    failedChecks: r.failed_checks,
    iterations: r.iterations,
    paused: r.paused,
    skipped: r.skipped,
    updatedAt: r.updated_at.toISOString(),
  };
  return {
    ...view,
    ...(r.last_reason === null ? {} : { lastReason: r.last_reason }),
    ...(r.revert === null ? {} : { revert: revertView(r.revert) }),
  };
}

/** The stored revert without its command id (bookkeeping for re-sends). */
function revertView(r: RevertRow): CanaryRevertView {
  const view: CanaryRevertView = { status: r.status, revisionId: r.revisionId };
  return r.reason === undefined ? view : { ...view, reason: r.reason };
}
