/**
 * One cluster canary of a release: its context, commands, events and state (ADR 0004).
 *
 * The per-cluster decider is Flagger's scheduler (`advanceCanary`, reference §2.5) split into
 * decisions and the facts that answer them. A fleet layer owns one `ClusterCanaryState` per
 * cluster of a release and routes each command to the canary of its cluster; every event below
 * carries its cluster, so a fleet fold can hand each event to the right canary.
 */
import type {
  AgentCommandJson,
  AnalysisRequestedJson,
  AnalysisVerdictJson,
  AnalysisVerdictRecordedJson,
  CanaryCheckFailedJson,
  CanaryCheckHeldJson,
  CanaryIterationCompletedJson,
  CanaryPhaseChangedJson,
  CanaryPhaseJson,
  CanaryPromotedJson,
  CanaryPromotionRequestedJson,
  CanaryRolledBackJson,
  CanaryScaleRequestedJson,
  CanaryScaleToZeroRequestedJson,
  CanaryWeightAppliedJson,
  CanaryWeightRequestedJson,
  ClusterCanaryInitializationRequestedJson,
  ClusterCanaryInitializedJson,
  ObservationJson,
  ObservationRecordedJson,
  OperatorActionJson,
  OperatorActionRecordedJson,
  ReleasePausedJson,
  ReleaseResumedJson,
  TickRecordedJson,
  WebhookRequestedJson,
  WebhookResultRecordedJson,
  WebhookTypeJson,
  WorkloadReadinessJson,
  WorkloadRefJson,
} from '@aviary/proto';
import type { Rollout } from '../spec/types.ts';

/** Flagger's phases by their proto JSON names (`CANARY_PHASE_WAITING_PROMOTION` = `WaitingPromotion`). */
export const CanaryPhase = {
  Unspecified: 'CANARY_PHASE_UNSPECIFIED',
  Initializing: 'CANARY_PHASE_INITIALIZING',
  Initialized: 'CANARY_PHASE_INITIALIZED',
  Waiting: 'CANARY_PHASE_WAITING',
  Progressing: 'CANARY_PHASE_PROGRESSING',
  WaitingPromotion: 'CANARY_PHASE_WAITING_PROMOTION',
  Promoting: 'CANARY_PHASE_PROMOTING',
  Finalising: 'CANARY_PHASE_FINALISING',
  Succeeded: 'CANARY_PHASE_SUCCEEDED',
  Failed: 'CANARY_PHASE_FAILED',
} as const satisfies Record<string, CanaryPhaseJson>;
export type CanaryPhase = (typeof CanaryPhase)[keyof typeof CanaryPhase];

/**
 * What a cluster canary needs besides its events: which release, which cluster, which workload
 * and the (normalized) spec in force. The fleet layer takes it from `ReleaseStarted`; it never
 * changes during a release, so it is not part of the folded state.
 */
export interface CanaryContext {
  readonly releaseId: string;
  readonly cluster: string;
  readonly workload: WorkloadRefJson;
  readonly rollout: Rollout;
}

// ---------------------------------------------------------------------------------------------
// Commands (imperative; each yields its input fact first)

export type CanaryCommand =
  | { readonly type: 'Tick'; readonly data: { readonly nowMs: number } }
  | { readonly type: 'Observe'; readonly data: { readonly observation: ObservationJson } }
  | { readonly type: 'RecordVerdict'; readonly data: { readonly verdict: AnalysisVerdictJson } }
  | { readonly type: 'RecordWebhookResult'; readonly data: WebhookResultRecordedJson }
  | {
      readonly type: 'OperatorAction';
      readonly data: {
        readonly actor: string;
        readonly action: OperatorActionJson;
        readonly reason?: string;
        /** Empty or absent: every canary of the release. */
        readonly cluster?: string;
      };
    };

// ---------------------------------------------------------------------------------------------
// Events (the release event messages, as `{ type: <message name>, data: <canonical JSON> }`)

type Event<T extends string, D> = { readonly type: T; readonly data: D };

export type CanaryInputEvent =
  | Event<'TickRecorded', TickRecordedJson>
  | Event<'ObservationRecorded', ObservationRecordedJson>
  | Event<'AnalysisVerdictRecorded', AnalysisVerdictRecordedJson>
  | Event<'WebhookResultRecorded', WebhookResultRecordedJson>
  | Event<'OperatorActionRecorded', OperatorActionRecordedJson>;

export type CanaryDecisionEvent =
  | Event<'ClusterCanaryInitializationRequested', ClusterCanaryInitializationRequestedJson>
  | Event<'ClusterCanaryInitialized', ClusterCanaryInitializedJson>
  | Event<'CanaryPhaseChanged', CanaryPhaseChangedJson>
  | Event<'CanaryScaleRequested', CanaryScaleRequestedJson>
  | Event<'CanaryWeightRequested', CanaryWeightRequestedJson>
  | Event<'CanaryWeightApplied', CanaryWeightAppliedJson>
  | Event<'AnalysisRequested', AnalysisRequestedJson>
  | Event<'WebhookRequested', WebhookRequestedJson>
  | Event<'CanaryCheckFailed', CanaryCheckFailedJson>
  | Event<'CanaryCheckHeld', CanaryCheckHeldJson>
  | Event<'CanaryIterationCompleted', CanaryIterationCompletedJson>
  | Event<'CanaryPromotionRequested', CanaryPromotionRequestedJson>
  | Event<'CanaryPromoted', CanaryPromotedJson>
  | Event<'CanaryScaleToZeroRequested', CanaryScaleToZeroRequestedJson>
  | Event<'CanaryRolledBack', CanaryRolledBackJson>
  | Event<'ReleasePaused', ReleasePausedJson>
  | Event<'ReleaseResumed', ReleaseResumedJson>;

export type CanaryEvent = CanaryInputEvent | CanaryDecisionEvent;
export type CanaryEventType = CanaryEvent['type'];

// ---------------------------------------------------------------------------------------------
// State

/** What an outstanding agent command is for (the last segment of its id). */
export const CommandKind = {
  InitializeTarget: 'initialize-target',
  ScaleCanary: 'scale-canary',
  SetRoutes: 'set-routes',
  PromoteCanary: 'promote-canary',
  ScaleCanaryToZero: 'scale-canary-to-zero',
} as const;
export type CommandKind = (typeof CommandKind)[keyof typeof CommandKind];

/** An agent command sent and not yet confirmed; re-sent verbatim (same id) on every due tick. */
export interface OutstandingCommand {
  readonly kind: CommandKind;
  /** The event type that carried it, so that a re-send is the same event. */
  readonly eventType:
    | 'ClusterCanaryInitializationRequested'
    | 'CanaryScaleRequested'
    | 'CanaryWeightRequested'
    | 'CanaryPromotionRequested'
    | 'CanaryScaleToZeroRequested';
  readonly command: AgentCommandJson;
}

/** One result awaited in the current interval: an analysis verdict or a webhook result. */
export interface AwaitedResult {
  readonly requestId: string;
  /** The metric or webhook name. */
  readonly name: string;
  /** Absent while awaited. */
  readonly outcome?: CheckOutcome;
  /** For a held check: INCONCLUSIVE or ERROR. */
  readonly heldAs?: 'ANALYSIS_OUTCOME_INCONCLUSIVE' | 'ANALYSIS_OUTCOME_ERROR';
  readonly message?: string;
}

export const CheckOutcome = {
  Passed: 'passed',
  Failed: 'failed',
  /** Inconclusive or Error verdict: holds, never fails (Aviary). */
  Held: 'held',
  /**
   * Error verdict of kind CONFIGURATION (the backend rejected the query, the template does not
   * render, …): waiting will not cure it, so the cluster's canary is paused at once; neither a
   * failed check nor a hold (Aviary). Verdicts without a kind (older histories) stay `Held`.
   */
  Misconfigured: 'misconfigured',
} as const;
export type CheckOutcome = (typeof CheckOutcome)[keyof typeof CheckOutcome];

/**
 * The checks of one analysis interval (Flagger's one tick): on the first analysis tick the
 * pre-rollout hooks, on later ticks the rollout hooks and the metrics; then, once every check
 * passed, the gate of the step (confirm-traffic-increase, confirm-promotion). Decisions are taken
 * on the result that completes a set, so each set is judged exactly once.
 */
export interface Interval {
  /** `now` of the tick that opened it. */
  readonly startedAtMs: number;
  /** Verdicts and pre-rollout / rollout webhook results, in request order. */
  readonly checks: readonly AwaitedResult[];
  readonly gate?: {
    readonly type: WebhookTypeJson;
    readonly results: readonly AwaitedResult[];
  };
}

export interface ClusterCanaryState {
  readonly phase: CanaryPhase;
  /** Confirmed routes (applied by the agent), not requested ones. */
  readonly canaryWeightPercent: number;
  readonly primaryWeightPercent: number;
  readonly mirrored: boolean;
  /** Cumulative failed checks of the run (Flagger's `status.failedChecks`). */
  readonly failedChecks: number;
  /** Consecutive held intervals (Aviary). */
  readonly heldChecks: number;
  readonly iterations: number;
  /** The next tick at or after this instant runs a check; 0: the first tick is due. */
  readonly nextCheckAtMs: number;
  /** `now` of the last due tick; decisions taken between ticks are stamped with it. */
  readonly lastTickMs: number;
  /** Counter of derived ids: every effect takes the next value. */
  readonly seq: number;
  /** Latest revision of the target (canary) seen by the agent. */
  readonly canaryRevisionId: string;
  /** The revision the current run analyses (Flagger's `lastAppliedSpec`). */
  readonly runRevisionId: string;
  /** The revision the primary runs (Flagger's `lastPromotedSpec`). */
  readonly primaryRevisionId: string;
  /** The revision whose run failed; a new run needs another revision, or `retry`. */
  readonly failedRevisionId: string;
  /**
   * The revision the primary ran before this release asked to promote over it (set by the first
   * `CanaryPromotionRequested`); empty if no promotion was asked, or the primary had no known
   * revision. What halt-and-revert puts back.
   */
  readonly previousPrimaryRevisionId: string;
  readonly canaryReadiness?: WorkloadReadinessJson;
  readonly primaryReadiness?: WorkloadReadinessJson;
  /** Sorted by command id. */
  readonly outstanding: readonly OutstandingCommand[];
  readonly interval?: Interval;
  /** Confirm-rollout requests of the current tick (phases Initialized/Succeeded/Failed/Waiting). */
  readonly confirmRollout?: readonly AwaitedResult[];
  /** Rollback hook requests still answerable: any PASSED one rolls the canary back. */
  readonly rollbackHookIds: readonly string[];
  /** CanaryPromoted was decided in this run (primary runs the revision and is ready). */
  readonly promoted: boolean;
  /** Paused by an operator or by `maxHeldChecks`: due ticks decide nothing but re-sends. */
  readonly paused: boolean;
}
