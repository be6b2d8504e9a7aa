/**
 * The scenario format: a Rollout spec, a fleet of clusters, a sequence of inputs per tick and the
 * expected phases, weights and events. Scenario files live in `packages/decider/scenarios/`
 * (YAML, or JSON); `runScenario` runs one with a simulated agent, analyzer and webhook receiver,
 * all pure. Durations are Go durations (`90s`, `1m`, `1h30m`), offsets from `startAt`.
 *
 * ```yaml
 * name: canary happy path
 * rollout: { apiVersion: aviary.dev/v1alpha1, kind: Rollout, metadata: …, spec: … }
 * clusters: [{ name: eu-1, labels: { region: eu } }]
 * behaviour: { verdicts: { request-success-rate: FAILED } }   # defaults for every step
 * steps:
 *   - at: 1m                      # one tick at T0 + 1m
 *     expect: { phases: { eu-1: Progressing }, weights: { eu-1: 0 } }
 *   - every: 1m                   # ticks every minute after the last tick …
 *     until: 30m                  # … until T0 + 30m, or until the release finishes
 *     behaviour: { verdicts: { eu-1/request-success-rate: INCONCLUSIVE } }
 *   - operator: [{ action: skip_cluster, cluster: eu-2 }]   # before the step's ticks, if any
 * expect:
 *   release: succeeded             # running | succeeded | failed | aborted
 *   timeline: ['+1m WaveStarted 0 [eu-1]', '+7m CanaryPromoted eu-1', …]
 *   events: [CanaryPromoted@eu-1]  # each must occur (in the step's ticks, or in the whole run)
 *   absent: [CanaryRolledBack]
 * ```
 */

/**
 * Analyzer verdicts; `NONE`: never answered (held once `analysis.resultTimeout` has passed).
 * `ERROR` has no error kind (a provider error, or a verdict recorded before kinds existed);
 * `CONFIG_ERROR` is an `ERROR` of kind `CONFIGURATION` (the backend rejected the query, 400).
 */
export type VerdictOutcome =
  | 'SUCCESSFUL'
  | 'FAILED'
  | 'INCONCLUSIVE'
  | 'ERROR'
  | 'CONFIG_ERROR'
  | 'NONE';
/** Webhook results; `NONE`: never answered. */
export type WebhookOutcome = 'PASSED' | 'FAILED' | 'ERROR' | 'NONE';

/** How the simulated parties answer. Keys are a name (every cluster) or `cluster/name`. */
export interface Behaviour {
  /** Per metric name; default SUCCESSFUL. */
  readonly verdicts?: Readonly<Record<string, VerdictOutcome>>;
  /**
   * Per metric name: a slow provider. The verdict comes this long (a duration, e.g. `2m10s`: an
   * ingestion delay plus a round) after the end of the window it judges, and is delivered before
   * the first tick at or after that instant. Absent or `0s`: answered at once.
   */
  readonly verdictDelays?: Readonly<Record<string, string>>;
  /**
   * Per webhook name; default PASSED, except rollback hooks (default NONE: no rollback asked) and
   * post-rollout / event hooks (never answered).
   */
  readonly webhooks?: Readonly<Record<string, WebhookOutcome>>;
  /** Clusters whose agent answers nothing (commands stay unconfirmed and are re-sent). */
  readonly agentDown?: readonly string[];
  /** Clusters whose canary never becomes ready (Available=False from the scale-up on). */
  readonly canaryNotReady?: readonly string[];
  /** Clusters whose agent rejects `RevertPrimary` (`NoPreviousRevision`). */
  readonly revertRejected?: readonly string[];
}

export interface OperatorStep {
  /** `pause`, `resume`, `promote`, `abort`, `rollback`, `retry`, `skip_cluster`, `requeue_cluster`. */
  readonly action: string;
  readonly cluster?: string;
  readonly actor?: string;
  readonly reason?: string;
}

export interface Expectation {
  /** Phase per cluster, by Flagger's name (`Progressing`, `WaitingPromotion`, `Succeeded`, …). */
  readonly phases?: Readonly<Record<string, string>>;
  /** Confirmed canary weight per cluster. */
  readonly weights?: Readonly<Record<string, number>>;
  /** Event types (`Type` or `Type@cluster`) that must be decided. */
  readonly events?: readonly string[];
  /** Event types (`Type` or `Type@cluster`) that must not be decided. */
  readonly absent?: readonly string[];
  /** `running`, `succeeded`, `failed` or `aborted` (ReleaseFinished's outcome). */
  readonly release?: string;
  /** The fleet-level timeline so far, exactly (see `timelineOf`). */
  readonly timeline?: readonly string[];
}

export interface Step {
  /** One tick at this offset. */
  readonly at?: string;
  /** Ticks every `every` after the last tick, up to `until` (offset) or the release's end. */
  readonly every?: string;
  readonly until?: string;
  /** Sent before the step's ticks, in order. */
  readonly operator?: readonly OperatorStep[];
  /**
   * Clusters whose agent registers now (first Heartbeat, then the released revision seen), before
   * the step's operator actions and ticks: clusters that register mid-release.
   */
  readonly register?: readonly {
    readonly name: string;
    readonly labels?: Record<string, string>;
  }[];
  /** A newer revision's release supersedes this one, before the step's ticks. */
  readonly supersede?: { readonly release: string; readonly revision: string };
  /** Overrides the scenario's behaviour for this step (merged over it). */
  readonly behaviour?: Behaviour;
  /** Checked after the step; `events` / `absent` against the step's decisions only. */
  readonly expect?: Expectation;
}

export interface Scenario {
  readonly name: string;
  readonly description?: string;
  /** The Rollout resource (validated with `validateRollout`). */
  readonly rollout: unknown;
  readonly clusters: readonly { readonly name: string; readonly labels?: Record<string, string> }[];
  /** RFC 3339; default 2026-11-23T09:00:00Z (a Monday). */
  readonly startAt?: string;
  readonly releaseId?: string;
  /** The released revision (default `rev-new`) and the primary's before it (default `rev-old`). */
  readonly revision?: string;
  readonly previousRevision?: string;
  readonly behaviour?: Behaviour;
  readonly steps: readonly Step[];
  /** Checked at the end; `events` / `absent` against the whole run. */
  readonly expect?: Expectation;
}
