/**
 * The rows one batch of events touches, loaded once inside the batch's transaction, changed in
 * memory by the folds, and written back with one multi-row upsert per table.
 */
import { type RawBuilder, sql, type Transaction } from 'kysely';
import type { ApplicationRef } from '../ports.ts';
import {
  type ApplicationRecord,
  type CanaryRecord,
  type ClusterRecord,
  type FleetViewRecord,
  type ReleaseRecord,
  statusOf,
  type TimelineRecord,
} from './records.ts';
import type { ReleaseAggregate } from './release-fold.ts';
import type { ProjectionDatabase, WaveRow } from './schema.ts';

type Trx = Transaction<ProjectionDatabase>;
type SqlValue = RawBuilder<unknown> | string | number | boolean | null;
/** Every column of a table, as SQL values. */
type Row<T extends keyof ProjectionDatabase> = {
  readonly [K in keyof ProjectionDatabase[T] & string]: SqlValue;
};

/** Statement parameters stay well below the protocol's limit of 65,535. */
const MAX_PARAMETERS = 20_000;

const json = (value: unknown): RawBuilder<unknown> => sql`${JSON.stringify(value)}::jsonb`;
const jsonOrNull = (value: unknown): SqlValue => (value === null ? null : json(value));
const timestamp = (value: string): RawBuilder<unknown> => sql`${value}::timestamptz`;
const timestampOrNull = (value: string | null): SqlValue =>
  value === null ? null : timestamp(value);
const bigint = (value: bigint | number): RawBuilder<unknown> => sql`${value.toString()}::bigint`;
const iso = (value: Date): string => value.toISOString();
const isoOrNull = (value: Date | null): string | null => (value === null ? null : iso(value));

const appKey = (ref: ApplicationRef): string => JSON.stringify([ref.namespace, ref.name]);
const fleetKey = (namespace: string, name: string, cluster: string): string =>
  JSON.stringify([namespace, name, cluster]);

export class Workspace {
  readonly #trx: Trx;
  readonly #versions = new Map<string, bigint>();
  readonly #changedVersions = new Set<string>();
  readonly #releases = new Map<string, ReleaseAggregate>();
  readonly #applications = new Map<string, ApplicationRecord | undefined>();
  readonly #changedApplications = new Set<string>();
  readonly #clusters = new Map<string, ClusterRecord>();
  readonly #fleetView = new Map<string, FleetViewRecord | undefined>();
  readonly #changedFleetView = new Set<string>();
  readonly #timeline: TimelineRecord[] = [];

  constructor(trx: Trx) {
    this.#trx = trx;
  }

  // Stream versions -------------------------------------------------------------------------

  async loadVersions(streamIds: readonly string[]): Promise<void> {
    const missing = [...new Set(streamIds)].filter((id) => !this.#versions.has(id));
    if (missing.length === 0) return;
    const rows = await this.#trx
      .selectFrom('proj_streams')
      .select(['stream_id', sql<string>`version::text`.as('version')])
      .where('stream_id', 'in', missing)
      .execute();
    for (const id of missing) this.#versions.set(id, 0n);
    for (const row of rows) this.#versions.set(row.stream_id, BigInt(row.version));
  }

  /** The last version projected of a stream loaded with `loadVersions` (0: none). */
  version(streamId: string): bigint {
    return this.#versions.get(streamId) ?? 0n;
  }

  setVersion(streamId: string, version: bigint): void {
    this.#versions.set(streamId, version);
    this.#changedVersions.add(streamId);
  }

  // Releases and canaries --------------------------------------------------------------------

  /** Loads releases (with all their canaries) in bulk. */
  async loadReleases(releaseIds: readonly string[]): Promise<void> {
    const missing = [...new Set(releaseIds)].filter((id) => !this.#releases.has(id));
    if (missing.length === 0) return;
    const releases = await this.#trx
      .selectFrom('proj_releases')
      .select([
        'release_id',
        'namespace',
        'name',
        'revision_id',
        'spec_hash',
        'created_at',
        'created_reason',
        'created_by',
        'created_cluster',
        'retry_of_release_id',
        'started_at',
        'status',
        'paused',
        'halted',
        'outcome',
        'reason',
        'current_wave',
        'waves',
        'finished_at',
        'superseded_by_release_id',
        'updated_at',
        sql<string>`version::text`.as('version'),
      ])
      .where('release_id', 'in', missing)
      .execute();
    const canaries = await this.#trx
      .selectFrom('proj_canaries')
      .selectAll()
      .where('release_id', 'in', missing)
      .execute();
    for (const id of missing) {
      this.#releases.set(id, {
        releaseId: id,
        release: undefined,
        canaries: new Map(),
        changedCanaries: new Set(),
      });
    }
    for (const r of releases) {
      const aggregate = this.#releases.get(r.release_id);
      if (aggregate === undefined) continue;
      aggregate.release = {
        releaseId: r.release_id,
        namespace: r.namespace,
        name: r.name,
        revisionId: r.revision_id,
        specHash: r.spec_hash,
        createdAt: isoOrNull(r.created_at),
        createdReason: r.created_reason,
        createdBy: r.created_by,
        createdCluster: r.created_cluster,
        retryOfReleaseId: r.retry_of_release_id,
        startedAt: isoOrNull(r.started_at),
        paused: r.paused,
        halted: r.halted,
        finished: r.status === 'finished',
        outcome: r.outcome,
        reason: r.reason,
        currentWave: r.current_wave,
        waves: r.waves.map((w: WaveRow) => ({ ...w, clusters: [...w.clusters] })),
        finishedAt: isoOrNull(r.finished_at),
        supersededBy: r.superseded_by_release_id,
        updatedAt: iso(r.updated_at),
        version: BigInt(r.version),
      };
    }
    for (const c of canaries) {
      this.#releases.get(c.release_id)?.canaries.set(c.cluster, {
        releaseId: c.release_id,
        cluster: c.cluster,
        ordinal: c.ordinal,
        phase: c.phase,
        canaryWeightPercent: c.canary_weight_percent,
        primaryWeightPercent: c.primary_weight_percent,
        failedChecks: c.failed_checks,
        iterations: c.iterations,
        paused: c.paused,
        skipped: c.skipped,
        lastReason: c.last_reason,
        revert: c.revert,
        updatedAt: iso(c.updated_at),
      });
    }
  }

  /** A release's rows (loaded on demand); `release` is undefined while it is unknown. */
  async release(releaseId: string): Promise<ReleaseAggregate> {
    await this.loadReleases([releaseId]);
    const aggregate = this.#releases.get(releaseId);
    if (aggregate === undefined) throw new Error(`release ${releaseId} was not loaded`);
    return aggregate;
  }

  addTimeline(entry: TimelineRecord): void {
    this.#timeline.push(entry);
  }

  // Applications ------------------------------------------------------------------------------

  async loadApplications(refs: readonly ApplicationRef[]): Promise<void> {
    const missing = new Map<string, ApplicationRef>();
    for (const ref of refs) {
      const key = appKey(ref);
      if (!this.#applications.has(key)) missing.set(key, ref);
    }
    if (missing.size === 0) return;
    const rows = await this.#trx
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
        'updated_at',
        sql<string>`version::text`.as('version'),
      ])
      .where((eb) =>
        eb.or(
          [...missing.values()].map((ref) =>
            eb.and([eb('namespace', '=', ref.namespace), eb('name', '=', ref.name)]),
          ),
        ),
      )
      .execute();
    for (const key of missing.keys()) this.#applications.set(key, undefined);
    for (const r of rows) {
      this.#applications.set(appKey(r), {
        namespace: r.namespace,
        name: r.name,
        version: BigInt(r.version),
        specHash: r.spec_hash,
        spec: r.spec,
        appliedBy: r.applied_by,
        appliedAt: isoOrNull(r.applied_at),
        activeReleaseId: r.active_release_id,
        gates: { ...r.gates },
        updatedAt: iso(r.updated_at),
      });
    }
  }

  /** An application's row, loaded on demand; `create` makes a row for one not known yet. */
  async application(
    ref: ApplicationRef,
    create: () => ApplicationRecord,
  ): Promise<ApplicationRecord> {
    await this.loadApplications([ref]);
    const key = appKey(ref);
    let application = this.#applications.get(key);
    if (application === undefined) {
      application = create();
      this.#applications.set(key, application);
    }
    return application;
  }

  applicationChanged(ref: ApplicationRef): void {
    this.#changedApplications.add(appKey(ref));
  }

  // Clusters and the fleet view ---------------------------------------------------------------

  /** Heartbeats replace the whole row: nothing to load. */
  putCluster(cluster: ClusterRecord): void {
    this.#clusters.set(cluster.name, cluster);
  }

  async loadFleetView(
    keys: readonly { namespace: string; name: string; cluster: string }[],
  ): Promise<void> {
    const missing = keys.filter(
      (k) => !this.#fleetView.has(fleetKey(k.namespace, k.name, k.cluster)),
    );
    if (missing.length === 0) return;
    const rows = await this.#trx
      .selectFrom('proj_fleet_view')
      .selectAll()
      .where((eb) =>
        eb.or(
          missing.map((k) =>
            eb.and([
              eb('namespace', '=', k.namespace),
              eb('name', '=', k.name),
              eb('cluster', '=', k.cluster),
            ]),
          ),
        ),
      )
      .execute();
    for (const k of missing)
      this.#fleetView.set(fleetKey(k.namespace, k.name, k.cluster), undefined);
    for (const r of rows) {
      this.#fleetView.set(fleetKey(r.namespace, r.name, r.cluster), {
        namespace: r.namespace,
        name: r.name,
        cluster: r.cluster,
        revisionSeen: r.revision_seen,
        canaryReadiness: r.canary_readiness,
        primaryReadiness: r.primary_readiness,
        updatedAt: iso(r.updated_at),
      });
    }
  }

  /** A workload's row of the fleet view in one cluster, created when missing; marked changed. */
  async fleetView(namespace: string, name: string, cluster: string, at: string) {
    await this.loadFleetView([{ namespace, name, cluster }]);
    const key = fleetKey(namespace, name, cluster);
    let row = this.#fleetView.get(key);
    if (row === undefined) {
      row = {
        namespace,
        name,
        cluster,
        revisionSeen: null,
        canaryReadiness: null,
        primaryReadiness: null,
        updatedAt: at,
      };
      this.#fleetView.set(key, row);
    }
    this.#changedFleetView.add(key);
    return row;
  }

  // Saving ------------------------------------------------------------------------------------

  /** Writes every changed row. */
  async save(): Promise<void> {
    const trx = this.#trx;
    await upsert(
      trx,
      'proj_streams',
      ['stream_id'],
      [...this.#changedVersions].map((id) => ({
        stream_id: id,
        version: bigint(this.#versions.get(id) ?? 0n),
      })),
    );
    const applications = [...this.#changedApplications].flatMap((key) => {
      const a = this.#applications.get(key);
      return a === undefined ? [] : [applicationRow(a)];
    });
    await upsert(trx, 'proj_applications', ['namespace', 'name'], applications);
    const releases: Row<'proj_releases'>[] = [];
    const canaries: Row<'proj_canaries'>[] = [];
    for (const aggregate of this.#releases.values()) {
      // Unchanged releases are rewritten as they were: cheaper than tracking every field.
      if (aggregate.release !== undefined) releases.push(releaseRow(aggregate.release));
      for (const cluster of aggregate.changedCanaries) {
        const c = aggregate.canaries.get(cluster);
        if (c !== undefined) canaries.push(canaryRow(c));
      }
    }
    await upsert(trx, 'proj_releases', ['release_id'], releases);
    await upsert(trx, 'proj_canaries', ['release_id', 'cluster'], canaries);
    await insertTimeline(trx, this.#timeline);
    await upsert(trx, 'proj_clusters', ['name'], [...this.#clusters.values()].map(clusterRow));
    const fleet = [...this.#changedFleetView].flatMap((key) => {
      const f = this.#fleetView.get(key);
      return f === undefined ? [] : [fleetViewRow(f)];
    });
    await upsert(trx, 'proj_fleet_view', ['namespace', 'name', 'cluster'], fleet);
  }
}

function applicationRow(a: ApplicationRecord): Row<'proj_applications'> {
  return {
    namespace: a.namespace,
    name: a.name,
    version: bigint(a.version),
    spec_hash: a.specHash,
    spec: jsonOrNull(a.spec),
    applied_by: a.appliedBy,
    applied_at: timestampOrNull(a.appliedAt),
    active_release_id: a.activeReleaseId,
    gates: json(a.gates),
    updated_at: timestamp(a.updatedAt),
  };
}

function releaseRow(r: ReleaseRecord): Row<'proj_releases'> {
  const waves: WaveRow[] = r.waves.map((w) => ({
    name: w.name,
    clusters: w.clusters,
    status: w.status,
  }));
  return {
    release_id: r.releaseId,
    namespace: r.namespace,
    name: r.name,
    revision_id: r.revisionId,
    spec_hash: r.specHash,
    created_at: timestampOrNull(r.createdAt),
    created_reason: r.createdReason,
    created_by: r.createdBy,
    created_cluster: r.createdCluster,
    retry_of_release_id: r.retryOfReleaseId,
    started_at: timestampOrNull(r.startedAt),
    status: statusOf(r),
    paused: r.paused,
    halted: r.halted,
    outcome: r.outcome,
    reason: r.reason,
    current_wave: r.currentWave,
    waves: json(waves),
    finished_at: timestampOrNull(r.finishedAt),
    superseded_by_release_id: r.supersededBy,
    updated_at: timestamp(r.updatedAt),
    version: bigint(r.version),
  };
}

function canaryRow(c: CanaryRecord): Row<'proj_canaries'> {
  return {
    release_id: c.releaseId,
    cluster: c.cluster,
    ordinal: c.ordinal,
    phase: c.phase,
    canary_weight_percent: c.canaryWeightPercent,
    primary_weight_percent: c.primaryWeightPercent,
    failed_checks: c.failedChecks,
    iterations: c.iterations,
    paused: c.paused,
    skipped: c.skipped,
    last_reason: c.lastReason,
    revert: jsonOrNull(c.revert),
    updated_at: timestamp(c.updatedAt),
  };
}

function clusterRow(c: ClusterRecord): Row<'proj_clusters'> {
  return {
    name: c.name,
    labels: json(c.labels),
    agent_version: c.agentVersion,
    lease_ms: bigint(c.leaseMs),
    last_heartbeat_at: timestamp(c.lastHeartbeatAt),
  };
}

function fleetViewRow(f: FleetViewRecord): Row<'proj_fleet_view'> {
  return {
    namespace: f.namespace,
    name: f.name,
    cluster: f.cluster,
    revision_seen: jsonOrNull(f.revisionSeen),
    canary_readiness: jsonOrNull(f.canaryReadiness),
    primary_readiness: jsonOrNull(f.primaryReadiness),
    updated_at: timestamp(f.updatedAt),
  };
}

async function insertTimeline(trx: Trx, entries: readonly TimelineRecord[]): Promise<void> {
  const rows: Row<'proj_timeline'>[] = entries.map((e) => ({
    release_id: e.releaseId,
    stream_version: bigint(e.streamVersion),
    position: e.position,
    type: e.type,
    cluster: e.cluster,
    actor: e.actor,
    summary: e.summary,
    data: json(e.data),
    recorded_at: timestamp(e.recordedAt),
  }));
  await upsert(trx, 'proj_timeline', ['release_id', 'stream_version'], rows, 'nothing');
}

/**
 * `INSERT … ON CONFLICT (keys) DO UPDATE SET` every other column (or `DO NOTHING`), in chunks
 * that keep each statement's parameters bounded.
 */
async function upsert<T extends keyof ProjectionDatabase>(
  trx: Trx,
  table: T,
  keys: readonly (keyof ProjectionDatabase[T] & string)[],
  rows: readonly Row<T>[],
  onConflict: 'update' | 'nothing' = 'update',
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first) as (keyof Row<T> & string)[];
  const updated = columns.filter((c) => !(keys as readonly string[]).includes(c));
  const action =
    onConflict === 'nothing' || updated.length === 0
      ? sql`DO NOTHING`
      : sql`DO UPDATE SET ${sql.join(updated.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`))}`;
  const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  for (let i = 0; i < rows.length; i += chunk) {
    const values = rows
      .slice(i, i + chunk)
      .map((row) => sql`(${sql.join(columns.map((c) => row[c]))})`);
    await sql`
      INSERT INTO ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))})
      VALUES ${sql.join(values)}
      ON CONFLICT (${sql.join(keys.map((k) => sql.ref(k)))}) ${action}`.execute(trx);
  }
}
