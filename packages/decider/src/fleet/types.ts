/**
 * The release (fleet) decider: its context, commands, events and state (ADR 0004, "Fleet").
 *
 * A release walks one revision of one application through the fleet in waves. The release decider
 * owns one cluster canary per cluster of the plan (`../canary`), routes each cluster-scoped command
 * to the canary of its cluster, folds every canary event into every canary (each ignores the events
 * of other clusters), and decides the fleet itself: wave starts, bake, freeze windows, the failure
 * policy, pause / resume, skip / requeue, the end of the release.
 */
import type {
  AgentCommandJson,
  ClusterJoinedJson,
  ClusterRequeuedJson,
  ClusterRevertedJson,
  ClusterRevertFailedJson,
  ClusterRevertRequestedJson,
  ClusterSkippedJson,
  FleetHaltedJson,
  ReleaseFinishedJson,
  ReleaseStartedJson,
  SupersessionRecordedJson,
  WaveBakingJson,
  WaveStartedJson,
  WaveSucceededJson,
  WorkloadRefJson,
} from '@aviary/proto';
import type { CanaryCommand, CanaryEvent, ClusterCanaryState } from '../canary/types.ts';
import type { Rollout } from '../spec/types.ts';

/** Fixed for a release (not folded): which release, which revision, which workload, which spec. */
export interface ReleaseContext {
  readonly releaseId: string;
  readonly rollout: Rollout;
  /** The revision released; a cluster succeeded when its primary runs it. */
  readonly revisionId: string;
  /** The target in every cluster; default: the spec's `targetRef` in the Rollout's namespace. */
  readonly workload?: WorkloadRefJson;
  /** The release this one supersedes (carried in `ReleaseStarted`); default none. */
  readonly supersededReleaseId?: string;
}

/** A cluster with the labels wave selectors match against. */
export interface ClusterInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The actor of decisions the fleet takes through a canary's decider (the abort of a halt). */
export const FLEET_ACTOR = 'aviary-fleet';

// ---------------------------------------------------------------------------------------------
// Commands

export type ReleaseCommand =
  | {
      /** Resolves the waves against the known clusters (Heartbeats) and `clusters`; once. */
      readonly type: 'StartRelease';
      readonly data: { readonly clusters?: readonly ClusterInfo[] };
    }
  | {
      /**
       * A newer revision's release (`releaseId`) replaces this one: running canaries route all
       * traffic back to their primary, no wave starts, the release finishes SUPERSEDED. Refused
       * once the release is halted (it winds down and ends by itself) or finished.
       */
      readonly type: 'Supersede';
      readonly data: { readonly releaseId: string; readonly revisionId: string };
    }
  | CanaryCommand;

// ---------------------------------------------------------------------------------------------
// Events

type Event<T extends string, D> = { readonly type: T; readonly data: D };

export type FleetEvent =
  | Event<'ReleaseStarted', ReleaseStartedJson>
  | Event<'WaveStarted', WaveStartedJson>
  | Event<'WaveBaking', WaveBakingJson>
  | Event<'WaveSucceeded', WaveSucceededJson>
  | Event<'ClusterSkipped', ClusterSkippedJson>
  | Event<'ClusterRequeued', ClusterRequeuedJson>
  | Event<'ClusterJoined', ClusterJoinedJson>
  | Event<'FleetHalted', FleetHaltedJson>
  | Event<'ClusterRevertRequested', ClusterRevertRequestedJson>
  | Event<'ClusterReverted', ClusterRevertedJson>
  | Event<'ClusterRevertFailed', ClusterRevertFailedJson>
  | Event<'SupersessionRecorded', SupersessionRecordedJson>
  | Event<'ReleaseFinished', ReleaseFinishedJson>;

/** Every event of a release stream: the canaries' (inputs and decisions) and the fleet's. */
export type ReleaseEvent = CanaryEvent | FleetEvent;

// ---------------------------------------------------------------------------------------------
// State

/** One wave of the plan, as in `ReleaseStarted.waves` (selectors resolved). */
export interface PlannedWave {
  readonly name: string;
  readonly clusters: readonly string[];
  /** 0: no limit. */
  readonly maxParallel: number;
  readonly bakeMs: number;
}

export const WaveStatus = {
  /** Its canaries run, `maxParallel` at a time. */
  Running: 'running',
  /** Every cluster succeeded; waiting for `bakeUntilMs`. */
  Baking: 'baking',
  /** Baked; the next wave may start (outside freeze windows). */
  Succeeded: 'succeeded',
} as const;
export type WaveStatus = (typeof WaveStatus)[keyof typeof WaveStatus];

export const RevertStatus = {
  /** `RevertPrimary` sent (re-sent every tick) until the primary reports the revision. */
  Reverting: 'reverting',
  /** The agent reported the primary on the previous revision (`ClusterReverted`). */
  Reverted: 'reverted',
  /** The agent refused the command, or it failed for good (`ClusterRevertFailed`). */
  Failed: 'failed',
} as const;
export type RevertStatus = (typeof RevertStatus)[keyof typeof RevertStatus];

/** Halt-and-revert of one promoted cluster. */
export interface ClusterRevert {
  readonly cluster: string;
  /** The revision put back (the primary's before the release promoted it). */
  readonly revisionId: string;
  readonly status: RevertStatus;
  /** The `RevertPrimary` command, re-sent verbatim while reverting. */
  readonly command: AgentCommandJson;
  /** The agent's last result for it: `REJECTED` or a non-retriable failure ends the revert. */
  readonly refused?: string;
}

export interface ReleaseState {
  /** Registered by Heartbeat observations, sorted by name (latest labels win). */
  readonly knownClusters: readonly ClusterInfo[];
  readonly started: boolean;
  readonly waves: readonly PlannedWave[];
  /** One canary per planned cluster, keyed by cluster name. */
  readonly canaries: Readonly<Record<string, ClusterCanaryState>>;
  /** -1 before the first wave starts. */
  readonly currentWave: number;
  readonly waveStatus: WaveStatus;
  readonly bakeUntilMs: number;
  /** Skipped clusters, sorted. */
  readonly skipped: readonly string[];
  /** Requeued clusters moved to a later wave, in requeue order. */
  readonly moved: readonly { readonly cluster: string; readonly waveIndex: number }[];
  readonly paused: boolean;
  readonly halted: boolean;
  /** Set by `FleetHalted`: empty cluster = an operator stopped the release. */
  readonly haltedByOperator: boolean;
  /** `FleetHalted.clustersToRevert` (halt-and-revert), sorted. */
  readonly toRevert: readonly string[];
  /** The reverts requested so far, sorted by cluster. */
  readonly reverts: readonly ClusterRevert[];
  /** Set by `SupersessionRecorded`: the newer release that replaces this one. */
  readonly supersededBy?: string;
  readonly finished: boolean;
  /** `now` of the last tick. */
  readonly lastTickMs: number;
}
