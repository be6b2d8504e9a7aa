/**
 * Which streams the projections read, and what their ids name:
 * - `release-<releaseId>`: one release (releases, canaries, timeline);
 * - `rollout-<namespace>.<name>`: one application (applications, the releases created for it);
 * - `cluster-<name>`: one cluster's recorded observations (clusters, fleet view).
 * Every other category is passed over.
 */
import type { ApplicationRef } from '../ports.ts';
import { UnprojectableEventError } from './records.ts';

export type ProjectedStream =
  | { readonly kind: 'release'; readonly releaseId: string }
  | { readonly kind: 'application'; readonly application: ApplicationRef }
  | { readonly kind: 'cluster'; readonly cluster: string };

const RELEASE = 'release-';
const APPLICATION = 'rollout-';
const CLUSTER = 'cluster-';

/** Whether the projections read this stream (cheap: by prefix only). */
export function isProjectedStream(streamId: string): boolean {
  return (
    streamId.startsWith(RELEASE) || streamId.startsWith(APPLICATION) || streamId.startsWith(CLUSTER)
  );
}

/**
 * What a projected stream's id names; `undefined` for a stream the projections do not read.
 * Throws `UnprojectableEventError` for an id of a projected category that names nothing.
 */
export function parseStreamId(streamId: string): ProjectedStream | undefined {
  if (streamId.startsWith(RELEASE)) {
    const releaseId = streamId.slice(RELEASE.length);
    if (releaseId === '') throw new UnprojectableEventError(`stream ${streamId} names no release`);
    return { kind: 'release', releaseId };
  }
  if (streamId.startsWith(APPLICATION)) {
    const rest = streamId.slice(APPLICATION.length);
    // A namespace is a DNS label (no dots); the name may hold dots.
    const dot = rest.indexOf('.');
    if (dot <= 0 || dot === rest.length - 1) {
      throw new UnprojectableEventError(`stream ${streamId} is not rollout-<namespace>.<name>`);
    }
    return {
      kind: 'application',
      application: { namespace: rest.slice(0, dot), name: rest.slice(dot + 1) },
    };
  }
  if (streamId.startsWith(CLUSTER)) {
    const cluster = streamId.slice(CLUSTER.length);
    if (cluster === '') throw new UnprojectableEventError(`stream ${streamId} names no cluster`);
    return { kind: 'cluster', cluster };
  }
  return undefined;
}

/** The stream of an application: `rollout-<namespace>.<name>`. */
export function applicationStreamId(application: ApplicationRef): string {
  return `${APPLICATION}${application.namespace}.${application.name}`;
}
