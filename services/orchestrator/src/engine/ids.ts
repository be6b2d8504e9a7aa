/**
 * Stream ids and derived ids of the orchestrator's log.
 *
 * - `rollout-<namespace>.<name>`: one application (RolloutSpecApplied, ReleaseCreated, GateChanged).
 * - `release-<releaseId>`: one release (every input fact and decision of the release decider).
 * - `cluster-<name>`: what one cluster's agent reported that outlives a release (heartbeats that
 *   changed something, revisions seen, readiness), so that a new release starts from it.
 *
 * Release ids are `<namespace>.<name>.<sequence>`: DNS labels cannot hold `.` or `:`, so the id is
 * unambiguous, and it never contains `:`, which separates the parts of command ids
 * (`<release>:<cluster>:<seq>:<kind>`).
 */
import type { ApplicationRef } from '../ports.ts';

export const applicationStreamId = (app: ApplicationRef): string =>
  `rollout-${app.namespace}.${app.name}`;

export const releaseStreamId = (releaseId: string): string => `release-${releaseId}`;

export const clusterStreamId = (cluster: string): string => `cluster-${cluster}`;

export const appKey = (app: ApplicationRef): string => `${app.namespace}/${app.name}`;

export const releaseIdOf = (app: ApplicationRef, sequence: number): string =>
  `${app.namespace}.${app.name}.${sequence}`;

/** The release a command, analysis or webhook request id belongs to (its part before `:`). */
export function releaseIdOfRequest(id: string): string | undefined {
  const i = id.indexOf(':');
  return i > 0 ? id.slice(0, i) : undefined;
}

/** The application of a release id (`<namespace>.<name>.<sequence>`). */
export function applicationOfRelease(releaseId: string): ApplicationRef | undefined {
  const m =
    /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([1-9][0-9]*)$/.exec(
      releaseId,
    );
  return m === null ? undefined : { namespace: m[1] ?? '', name: m[2] ?? '' };
}

/** The actor of the orchestrator's own decisions outside the decider (release creation). */
export const ORCHESTRATOR_ACTOR = 'aviary-orchestrator';
