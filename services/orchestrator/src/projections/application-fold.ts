/**
 * Folds one event of an application stream (`rollout-<namespace>.<name>`) into the application's
 * row: the spec in force (RolloutSpecApplied), the active release (ReleaseCreated, which also
 * records the release's creation in its row), and the manual gates (GateChanged).
 */
import type { RecordedEvent } from '@aviary/event-store';
import type { GateChangedJson, ReleaseCreatedJson, RolloutSpecAppliedJson } from '@aviary/proto';
import {
  type ApplicationRecord,
  newRelease,
  type ReleaseRecord,
  UnprojectableEventError,
} from './records.ts';
import { actorOf } from './summary.ts';

/** The release a ReleaseCreated event names, as loaded (undefined: not projected yet). */
export interface CreatedRelease {
  readonly releaseId: string;
  release: ReleaseRecord | undefined;
}

/** The release id a ReleaseCreated event names (to load its row before folding). */
export function createdReleaseId(event: RecordedEvent): string | undefined {
  if (event.type !== 'ReleaseCreated') return undefined;
  const releaseId = (event.data as ReleaseCreatedJson).releaseId ?? '';
  return releaseId === '' ? undefined : releaseId;
}

/**
 * Applies one event (newer than what the row holds). For ReleaseCreated, `created` holds the
 * release's row (created here when missing). Throws `UnprojectableEventError`, before changing
 * anything, for an event the row cannot take.
 */
export function foldApplicationEvent(
  application: ApplicationRecord,
  event: RecordedEvent,
  created?: CreatedRelease,
): void {
  const at = event.recordedAt.toISOString();
  switch (event.type) {
    case 'RolloutSpecApplied': {
      const data = event.data as RolloutSpecAppliedJson;
      const namespace = data.rollout?.namespace ?? '';
      const name = data.rollout?.name ?? '';
      if (namespace !== application.namespace || name !== application.name) {
        throw new UnprojectableEventError(
          `RolloutSpecApplied for ${namespace}/${name} in the stream of ${application.namespace}/${application.name}`,
        );
      }
      if (typeof data.spec !== 'object' || data.spec === null || Array.isArray(data.spec)) {
        throw new UnprojectableEventError('RolloutSpecApplied holds no spec object');
      }
      application.spec = data.spec as Record<string, unknown>;
      application.specHash = data.specHash ?? '';
      application.appliedBy = actorOf(event.metadata, event.data) ?? '';
      application.appliedAt = at;
      break;
    }
    case 'ReleaseCreated': {
      const data = event.data as ReleaseCreatedJson;
      const releaseId = data.releaseId ?? '';
      if (releaseId === '' || created === undefined || created.releaseId !== releaseId) {
        throw new UnprojectableEventError('ReleaseCreated names no release');
      }
      const existing = created.release;
      if (
        existing !== undefined &&
        (existing.namespace !== application.namespace || existing.name !== application.name)
      ) {
        throw new UnprojectableEventError(
          `release ${releaseId} belongs to ${existing.namespace}/${existing.name}, not to ${application.namespace}/${application.name}`,
        );
      }
      const release = existing ?? newRelease(releaseId, application, at);
      if (release.revisionId === '') release.revisionId = data.revision?.id ?? '';
      if (release.specHash === null && data.specHash) release.specHash = data.specHash;
      release.createdAt = at;
      release.createdReason = data.reason ?? '';
      release.createdBy = actorOf(event.metadata, event.data) ?? '';
      release.createdCluster = data.cluster ?? '';
      release.retryOfReleaseId = data.retryOfReleaseId ?? '';
      if (existing === undefined) release.updatedAt = at;
      created.release = release;
      if (!release.finished) application.activeReleaseId = releaseId;
      break;
    }
    case 'GateChanged': {
      const data = event.data as GateChangedJson;
      const gate = data.gate ?? '';
      if (gate === '') throw new UnprojectableEventError('GateChanged names no gate');
      application.gates = { ...application.gates, [gate]: data.open ?? false };
      break;
    }
    default:
      // Other events of an application stream change nothing projected.
      break;
  }
  application.version = event.streamVersion;
  application.updatedAt = at;
}
