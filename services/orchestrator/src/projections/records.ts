/**
 * The projections' rows in memory, as the folds (`*-fold.ts`) change them and the workspace
 * (`workspace.ts`) loads and saves them. Times are RFC 3339 strings of the events' `recordedAt`.
 */
import type { ReleaseStatus } from '../ports.ts';
import type { RevertRow, WaveRow } from './schema.ts';

/** Thrown by a fold for an event whose content the projections cannot use; it is reported and
 * passed over (the rest of the batch is projected). */
export class UnprojectableEventError extends Error {
  override name = 'UnprojectableEventError';
}

export interface ApplicationRecord {
  readonly namespace: string;
  readonly name: string;
  /** Application stream version projected; 0 while known only from release streams. */
  version: bigint;
  specHash: string | null;
  spec: Record<string, unknown> | null;
  appliedBy: string | null;
  appliedAt: string | null;
  activeReleaseId: string | null;
  gates: Record<string, boolean>;
  updatedAt: string;
}

export interface WaveRecord {
  name: string;
  clusters: string[];
  status: WaveRow['status'];
}

export interface ReleaseRecord {
  readonly releaseId: string;
  namespace: string;
  name: string;
  revisionId: string;
  specHash: string | null;
  createdAt: string | null;
  createdReason: string | null;
  createdBy: string | null;
  createdCluster: string | null;
  retryOfReleaseId: string | null;
  /** Null until the release stream's ReleaseStarted is projected. */
  startedAt: string | null;
  paused: boolean;
  halted: boolean;
  finished: boolean;
  outcome: string | null;
  reason: string | null;
  currentWave: number;
  waves: WaveRecord[];
  finishedAt: string | null;
  /** The release that supersedes this one (SupersessionRecorded), before and after it finishes. */
  supersededBy: string | null;
  updatedAt: string;
  /** Release stream version projected. */
  version: bigint;
}

export interface CanaryRecord {
  readonly releaseId: string;
  readonly cluster: string;
  /** Plan order (waves flattened); a joined cluster's canary is put after its wave's others. */
  ordinal: number;
  phase: string;
  canaryWeightPercent: number;
  primaryWeightPercent: number;
  failedChecks: number;
  iterations: number;
  paused: boolean;
  skipped: boolean;
  lastReason: string | null;
  /** Halt-and-revert of the cluster's promoted primary, once requested. */
  revert: RevertRow | null;
  updatedAt: string;
}

export interface TimelineRecord {
  readonly releaseId: string;
  readonly streamVersion: bigint;
  readonly position: string;
  readonly type: string;
  readonly cluster: string | null;
  readonly actor: string | null;
  readonly summary: string;
  readonly data: Record<string, unknown>;
  readonly recordedAt: string;
}

export interface ClusterRecord {
  readonly name: string;
  labels: Record<string, string>;
  agentVersion: string;
  leaseMs: number;
  lastHeartbeatAt: string;
}

export interface FleetViewRecord {
  readonly namespace: string;
  readonly name: string;
  readonly cluster: string;
  revisionSeen: Record<string, unknown> | null;
  canaryReadiness: Record<string, unknown> | null;
  primaryReadiness: Record<string, unknown> | null;
  updatedAt: string;
}

/** A release's status: finished, else halted, else paused (as a whole), else running. */
export function statusOf(release: ReleaseRecord): ReleaseStatus {
  if (release.finished) return 'finished';
  if (release.halted) return 'halted';
  if (release.paused) return 'paused';
  return 'running';
}

export const CANARY_PHASE_UNSPECIFIED = 'CANARY_PHASE_UNSPECIFIED';

export function newCanary(
  releaseId: string,
  cluster: string,
  ordinal: number,
  at: string,
): CanaryRecord {
  return {
    releaseId,
    cluster,
    ordinal,
    phase: CANARY_PHASE_UNSPECIFIED,
    canaryWeightPercent: 0,
    primaryWeightPercent: 100,
    failedChecks: 0,
    iterations: 0,
    paused: false,
    skipped: false,
    lastReason: null,
    revert: null,
    updatedAt: at,
  };
}

export function newApplication(namespace: string, name: string, at: string): ApplicationRecord {
  return {
    namespace,
    name,
    version: 0n,
    specHash: null,
    spec: null,
    appliedBy: null,
    appliedAt: null,
    activeReleaseId: null,
    gates: {},
    updatedAt: at,
  };
}

export function newRelease(
  releaseId: string,
  application: { readonly namespace: string; readonly name: string },
  at: string,
): ReleaseRecord {
  return {
    releaseId,
    namespace: application.namespace,
    name: application.name,
    revisionId: '',
    specHash: null,
    createdAt: null,
    createdReason: null,
    createdBy: null,
    createdCluster: null,
    retryOfReleaseId: null,
    startedAt: null,
    paused: false,
    halted: false,
    finished: false,
    outcome: null,
    reason: null,
    currentWave: -1,
    waves: [],
    finishedAt: null,
    supersededBy: null,
    updatedAt: at,
    version: 0n,
  };
}
