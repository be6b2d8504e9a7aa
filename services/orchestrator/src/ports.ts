/**
 * The orchestrator's seams: what the HTTP API, the webhook dispatcher and the notifier use of the
 * engine (`Operations`), of the projections (`ReadModel`) and of each other. Each side is built
 * and tested against these types, the engine and the projections implement them.
 */
import type {
  AnalysisVerdictJson,
  CanaryPhaseJson,
  OperatorActionJson,
  ReleaseOutcomeJson,
  WebhookCallJson,
  WebhookResultRecordedJson,
} from '@aviary/proto';

/** `<namespace>/<name>` of a Rollout (an application). */
export interface ApplicationRef {
  readonly namespace: string;
  readonly name: string;
}

/** Who asked: the bearer token's subject, recorded as the event's actor. */
export interface Actor {
  readonly name: string;
  readonly role: Role;
}

export type Role = 'viewer' | 'operator' | 'admin';

// ---------------------------------------------------------------------------------------------
// Operations: what operators (and the webhook dispatcher) ask of the engine. Every call appends
// an event carrying its actor, or throws an AviaryError:
// - VALIDATION: the input is malformed (400);
// - NOT_FOUND: no such application / release / cluster (404);
// - REFUSED: well-formed, but the release's state does not allow it now (409);
// - UNAVAILABLE: this orchestrator does not lead, or the log is unreachable (503).

export interface ApplySpecResult {
  readonly application: ApplicationRef;
  readonly specHash: string;
  /** False when the same spec (same hash) was already in force: nothing was appended. */
  readonly changed: boolean;
  /** Problems that did not stop the spec (e.g. from a Flagger import). */
  readonly notes: readonly string[];
}

export interface OperatorActionInput {
  readonly releaseId: string;
  readonly action: OperatorActionJson;
  /** Empty or absent: the whole release. */
  readonly cluster?: string;
  readonly reason?: string;
}

export interface Operations {
  /** A `kind: Rollout` document, or a Flagger `Canary` (YAML or JSON; several documents with its
   * `MetricTemplate`s). */
  applySpec(document: string, actor: Actor): Promise<ApplySpecResult>;
  /** pause / resume / promote / abort / rollback / retry / skip / requeue, on a running release. */
  operatorAction(input: OperatorActionInput, actor: Actor): Promise<{ readonly releaseId: string }>;
  /**
   * Starts a new release of a finished release's revision (the operator's "retry after fixing"):
   * returns the new release's id. A running release is retried per cluster with `operatorAction`.
   */
  retryRelease(
    releaseId: string,
    actor: Actor,
    reason?: string,
  ): Promise<{ readonly releaseId: string }>;
  /** Opens or closes a manual gate of an application (`aviary-gate:<gate>` webhooks). */
  setGate(
    application: ApplicationRef,
    gate: string,
    open: boolean,
    actor: Actor,
    reason?: string,
  ): Promise<void>;
  /** Whether a gate is open now (closed when never opened). */
  gateOpen(application: ApplicationRef, gate: string): boolean;
  /** A webhook's result, from the dispatcher; idempotent by request id. */
  recordWebhookResult(releaseId: string, result: WebhookResultRecordedJson): Promise<void>;
  /** An analysis verdict (normally from NATS); idempotent by request id. */
  recordVerdict(verdict: AnalysisVerdictJson): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The read model: projections of the log, kept current by a checkpointed subscription, rebuildable.

export type ReleaseStatus = 'running' | 'paused' | 'halted' | 'finished';

export interface ReleaseView {
  readonly releaseId: string;
  readonly application: ApplicationRef;
  readonly revisionId: string;
  readonly status: ReleaseStatus;
  /** Set once finished. */
  readonly outcome?: ReleaseOutcomeJson;
  readonly reason?: string;
  /** -1 before the first wave. */
  readonly currentWave: number;
  readonly waves: readonly {
    readonly name: string;
    readonly clusters: readonly string[];
    readonly status: 'pending' | 'running' | 'baking' | 'succeeded';
  }[];
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** The newer revision's release that supersedes this one (set before it finishes SUPERSEDED). */
  readonly supersededBy?: string;
  readonly updatedAt: string;
  /** The release stream's version projected. */
  readonly version: number;
}

export interface CanaryView {
  readonly releaseId: string;
  readonly cluster: string;
  readonly phase: CanaryPhaseJson;
  readonly canaryWeightPercent: number;
  readonly primaryWeightPercent: number;
  readonly failedChecks: number;
  readonly iterations: number;
  readonly paused: boolean;
  readonly skipped: boolean;
  readonly lastReason?: string;
  /** Halt-and-revert of this cluster's promoted primary, once requested. */
  readonly revert?: CanaryRevertView;
  readonly updatedAt: string;
}

export interface CanaryRevertView {
  /** `reverting` until the agent reports the primary on `revisionId` again, or it is refused. */
  readonly status: 'reverting' | 'reverted' | 'failed';
  /** The revision the primary is put back on. */
  readonly revisionId: string;
  /** Why it failed (the cluster keeps the released revision and needs a human). */
  readonly reason?: string;
}

export interface ClusterView {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly agentVersion: string;
  readonly leaseMs: number;
  /** The last heartbeat the orchestrator recorded (RFC 3339). */
  readonly lastHeartbeatAt: string;
}

export interface ApplicationView extends ApplicationRef {
  readonly specHash: string;
  /** The normalized Rollout spec in force (JSON). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly appliedBy: string;
  readonly appliedAt: string;
  readonly activeReleaseId?: string;
  readonly gates: Readonly<Record<string, boolean>>;
}

export interface TimelineEntry {
  /** The log's global position (`formatPosition`). */
  readonly position: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly cluster?: string;
  readonly actor?: string;
  /** One line for people, e.g. `eu-1: weight 20%`, `wave eu started`. */
  readonly summary: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly recordedAt: string;
}

export interface ReadModel {
  applications(): Promise<ApplicationView[]>;
  application(ref: ApplicationRef): Promise<ApplicationView | undefined>;
  releases(filter?: {
    readonly application?: ApplicationRef;
    readonly active?: boolean;
    readonly limit?: number;
  }): Promise<ReleaseView[]>;
  release(releaseId: string): Promise<ReleaseView | undefined>;
  canaries(releaseId: string): Promise<CanaryView[]>;
  clusters(): Promise<ClusterView[]>;
  timeline(
    releaseId: string,
    options?: { readonly afterVersion?: number; readonly limit?: number },
  ): Promise<TimelineEntry[]>;
}

// ---------------------------------------------------------------------------------------------
// Webhooks and notifications

/** Calls one webhook the Flagger way and says how it went (never throws for the call's outcome). */
export interface WebhookCaller {
  call(
    call: WebhookCallJson,
    application: ApplicationRef,
    signal: AbortSignal,
  ): Promise<WebhookResultRecordedJson>;
}
