/**
 * Projects one batch of events in one transaction: the rows it touches are loaded, the events
 * newer than each stream's last projected version are folded into them in log order, and the
 * rows, the timeline and the streams' versions are written back together. A batch delivered again
 * (after a crash between the commit and the checkpoint) finds every event at or below its
 * stream's version and changes nothing.
 */
import type { CorruptEvent, RecordedEvent } from '@aviary/event-store';
import { formatPosition } from '@aviary/event-store';
import { sql } from 'kysely';
import type { ApplicationRef } from '../ports.ts';
import { createdReleaseId, foldApplicationEvent } from './application-fold.ts';
import { type ClusterChange, clusterChangeOf } from './cluster-fold.ts';
import { newApplication } from './records.ts';
import { type ApplicationEffect, foldReleaseEvent } from './release-fold.ts';
import type { ProjectionDb } from './schema.ts';
import { isProjectedStream, type ProjectedStream, parseStreamId } from './streams.ts';
import { actorOf, clusterOf, summarize } from './summary.ts';
import { Workspace } from './workspace.ts';

/**
 * Taken by every batch: projectors of several orchestrators on one database apply batches one
 * at a time, so that two never fold the same event into the same rows. (Two keys: a key space
 * apart from the event store's one-key stream locks.)
 */
const LOCK_KEYS = [0x61766961, 0x70726f6a] as const; // 'avia', 'proj'

export interface BatchOutcome {
  /** Events folded (newer than their stream's projected version). */
  readonly applied: number;
  /** Events passed over as already projected (re-delivery). */
  readonly duplicates: number;
  /** Events whose content the projections cannot use: reported, passed over. */
  readonly unprojectable: readonly CorruptEvent[];
}

export async function projectBatch(
  db: ProjectionDb,
  events: readonly RecordedEvent[],
): Promise<BatchOutcome> {
  const relevant = events.filter((e) => isProjectedStream(e.streamId));
  if (relevant.length === 0) return { applied: 0, duplicates: 0, unprojectable: [] };
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_KEYS[0]}::int, ${LOCK_KEYS[1]}::int)`.execute(
      trx,
    );
    const ws = new Workspace(trx);
    await ws.loadVersions(relevant.map((e) => e.streamId));
    const fresh: RecordedEvent[] = [];
    const seen = new Map<string, bigint>();
    for (const event of relevant) {
      const last = seen.get(event.streamId) ?? ws.version(event.streamId);
      if (event.streamVersion > last) {
        fresh.push(event);
        seen.set(event.streamId, event.streamVersion);
      }
    }
    const unprojectable: CorruptEvent[] = [];
    const report = (event: RecordedEvent, error: unknown) =>
      unprojectable.push({
        position: event.position,
        streamId: event.streamId,
        streamVersion: event.streamVersion,
        eventId: event.id,
        type: event.type,
        reason: error instanceof Error ? error.message : String(error),
      });

    const plan = prepare(fresh);
    await prefetch(ws, plan);
    for (const { event, stream, change, error } of plan) {
      if (error !== undefined) report(event, error);
      else if (stream?.kind === 'release')
        await projectRelease(ws, stream.releaseId, event, report);
      else if (stream?.kind === 'application') {
        await projectApplication(ws, stream.application, event, report);
      } else if (change !== undefined) await applyClusterChange(ws, change);
      ws.setVersion(event.streamId, event.streamVersion);
    }
    await ws.save();
    return { applied: fresh.length, duplicates: relevant.length - fresh.length, unprojectable };
  });
}

/** One event with what can be read from it before any row is loaded. */
interface Planned {
  readonly event: RecordedEvent;
  readonly stream?: ProjectedStream;
  readonly change?: ClusterChange;
  readonly error?: unknown;
}

function prepare(events: readonly RecordedEvent[]): Planned[] {
  return events.map((event) => {
    try {
      const stream = parseStreamId(event.streamId);
      if (stream?.kind !== 'cluster') return stream === undefined ? { event } : { event, stream };
      const change = clusterChangeOf(stream.cluster, event);
      return change === undefined ? { event, stream } : { event, stream, change };
    } catch (error) {
      return { event, error };
    }
  });
}

/** Loads in bulk what the batch will touch (anything missed is loaded on demand). */
async function prefetch(ws: Workspace, plan: readonly Planned[]): Promise<void> {
  const releases: string[] = [];
  const applications: ApplicationRef[] = [];
  const fleet: { namespace: string; name: string; cluster: string }[] = [];
  for (const { event, stream, change } of plan) {
    if (stream?.kind === 'release') releases.push(stream.releaseId);
    if (stream?.kind === 'application') {
      applications.push(stream.application);
      const created = createdReleaseId(event);
      if (created !== undefined) releases.push(created);
    }
    if (change?.kind === 'fleet-view') fleet.push(change);
  }
  await ws.loadReleases(releases);
  await ws.loadApplications(applications);
  await ws.loadFleetView(fleet);
}

async function projectRelease(
  ws: Workspace,
  releaseId: string,
  event: RecordedEvent,
  report: (event: RecordedEvent, error: unknown) => void,
): Promise<void> {
  const aggregate = await ws.release(releaseId);
  const actor = actorOf(event.metadata, event.data);
  const cluster = clusterOf(event.data);
  let summary: string;
  try {
    summary = summarize(event.type, event.data, actor, {
      waveName: (index) => aggregate.release?.waves[index]?.name,
    });
  } catch (error) {
    summary = event.type;
    report(event, error);
  }
  ws.addTimeline({
    releaseId,
    streamVersion: event.streamVersion,
    position: formatPosition(event.position),
    type: event.type,
    cluster: cluster ?? null,
    actor: actor ?? null,
    summary,
    data: event.data,
    recordedAt: event.recordedAt.toISOString(),
  });
  let effect: ApplicationEffect | undefined;
  try {
    effect = foldReleaseEvent(aggregate, event);
  } catch (error) {
    report(event, error);
    // Passed over, but projected: the release's version counts it.
    if (aggregate.release?.startedAt != null) aggregate.release.version = event.streamVersion;
    return;
  }
  if (effect === undefined) return;
  const { release } = effect;
  const ref = { namespace: release.namespace, name: release.name };
  const application = await ws.application(ref, () =>
    newApplication(ref.namespace, ref.name, release.updatedAt),
  );
  if (effect.kind === 'release-active') {
    // ReleaseCreated (the application stream) names the active release; a release started
    // without one becomes active only if none is.
    if (application.activeReleaseId !== null) return;
    application.activeReleaseId = release.releaseId;
  } else {
    if (application.activeReleaseId !== release.releaseId) return;
    application.activeReleaseId = null;
  }
  ws.applicationChanged(ref);
}

async function projectApplication(
  ws: Workspace,
  ref: ApplicationRef,
  event: RecordedEvent,
  report: (event: RecordedEvent, error: unknown) => void,
): Promise<void> {
  const at = event.recordedAt.toISOString();
  const application = await ws.application(ref, () => newApplication(ref.namespace, ref.name, at));
  const releaseId = createdReleaseId(event);
  const aggregate = releaseId === undefined ? undefined : await ws.release(releaseId);
  const created =
    aggregate === undefined
      ? undefined
      : { releaseId: aggregate.releaseId, release: aggregate.release };
  try {
    foldApplicationEvent(application, event, created);
  } catch (error) {
    report(event, error);
    return;
  }
  if (aggregate !== undefined && created !== undefined) aggregate.release = created.release;
  ws.applicationChanged(ref);
}

async function applyClusterChange(ws: Workspace, change: ClusterChange): Promise<void> {
  if (change.kind === 'heartbeat') {
    ws.putCluster(change.cluster);
    return;
  }
  const row = await ws.fleetView(change.namespace, change.name, change.cluster, change.at);
  row[change.slot] = change.observation;
  row.updatedAt = change.at;
}
