/**
 * The per-cluster canary decider: Flagger's `advanceCanary` (reference §2.5) as
 * `decide(command, state) → events` (ADR 0004). Each command yields its input fact first, then
 * the decisions the folded state implies; every decision is folded as it is emitted, so later
 * decisions of the same command see it. Pure: time comes only from `Tick.nowMs`.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type {
  AgentCommandJson,
  AnalysisRequestJson,
  CanaryPhaseJson,
  RouteMatchJson,
  RoutesJson,
  SessionAffinityJson,
  StringMatchJson,
  WebhookCallJson,
  WebhookTypeJson,
} from '@aviary/proto';
import { routerOf } from '../spec/strategy.ts';
import { RouterKind, Strategy, type Webhook, WebhookType } from '../spec/types.ts';
import { evolveCanary } from './evolve.ts';
import { compact, formatTimestamp } from './json.ts';
import { type Readiness, readinessOf } from './readiness.ts';
import { awaitingResults, unansweredReason } from './result-timeout.ts';
import {
  type AwaitedResult,
  type CanaryCommand,
  type CanaryContext,
  type CanaryDecisionEvent,
  type CanaryEvent,
  CanaryPhase,
  CheckOutcome,
  type ClusterCanaryState,
  CommandKind,
} from './types.ts';

export function decideCanary(
  context: CanaryContext,
  command: CanaryCommand,
  state: ClusterCanaryState,
): CanaryEvent[] {
  const d = new Decision(context, state);
  switch (command.type) {
    case 'Tick':
      d.tick(command.data.nowMs);
      break;
    case 'Observe':
      d.observe(command.data.observation);
      break;
    case 'RecordVerdict':
      d.verdict(command.data.verdict);
      break;
    case 'RecordWebhookResult':
      d.webhookResult(command.data);
      break;
    case 'OperatorAction':
      d.operator(command.data);
      break;
    default: {
      const unknown: never = command;
      throw new AviaryError(
        ErrorCode.Validation,
        `unknown command ${JSON.stringify((unknown as { type?: unknown }).type)}`,
      );
    }
  }
  return d.events;
}

/** See `ClusterCanaryDecider.supersede`. */
export function decideSupersession(
  context: CanaryContext,
  state: ClusterCanaryState,
): CanaryDecisionEvent[] {
  const d = new Decision(context, state);
  d.supersede();
  return d.events as CanaryDecisionEvent[];
}

const ROUTER_KIND_JSON = {
  [RouterKind.Istio]: 'ROUTER_KIND_ISTIO',
  [RouterKind.GatewayApi]: 'ROUTER_KIND_GATEWAY_API',
  [RouterKind.Nginx]: 'ROUTER_KIND_NGINX',
  [RouterKind.Smi]: 'ROUTER_KIND_SMI',
  [RouterKind.None]: 'ROUTER_KIND_NONE',
} as const;

const WEBHOOK_TYPE_JSON = {
  [WebhookType.ConfirmRollout]: 'WEBHOOK_TYPE_CONFIRM_ROLLOUT',
  [WebhookType.PreRollout]: 'WEBHOOK_TYPE_PRE_ROLLOUT',
  [WebhookType.Rollout]: 'WEBHOOK_TYPE_ROLLOUT',
  [WebhookType.ConfirmTrafficIncrease]: 'WEBHOOK_TYPE_CONFIRM_TRAFFIC_INCREASE',
  [WebhookType.ConfirmPromotion]: 'WEBHOOK_TYPE_CONFIRM_PROMOTION',
  [WebhookType.PostRollout]: 'WEBHOOK_TYPE_POST_ROLLOUT',
  [WebhookType.Rollback]: 'WEBHOOK_TYPE_ROLLBACK',
  [WebhookType.Event]: 'WEBHOOK_TYPE_EVENT',
} as const satisfies Record<WebhookType, WebhookTypeJson>;

/** Phases in which a new run may start (Flagger's `checkCanaryStatus` path). */
const IDLE_PHASES: readonly CanaryPhase[] = [
  CanaryPhase.Initialized,
  CanaryPhase.Succeeded,
  CanaryPhase.Failed,
  CanaryPhase.Waiting,
];
const ANALYSING_PHASES: readonly CanaryPhase[] = [
  CanaryPhase.Progressing,
  CanaryPhase.WaitingPromotion,
];
/** Rollback hooks are asked in these phases (Aviary adds Waiting, Flagger #1432). */
const ROLLBACK_HOOK_PHASES: readonly CanaryPhase[] = [
  CanaryPhase.Waiting,
  CanaryPhase.Progressing,
  CanaryPhase.WaitingPromotion,
];

/** One decide call: the events so far and the state they fold to. */
class Decision {
  readonly events: CanaryEvent[] = [];
  private readonly context: CanaryContext;
  private state: ClusterCanaryState;

  constructor(context: CanaryContext, state: ClusterCanaryState) {
    this.context = context;
    this.state = state;
  }

  private get spec() {
    return this.context.rollout.spec;
  }
  private get analysis() {
    return this.context.rollout.spec.analysis;
  }
  private get router() {
    return routerOf(this.spec.provider);
  }
  private get cluster() {
    return this.context.cluster;
  }

  private emit(event: CanaryEvent): void {
    this.events.push(event);
    this.state = evolveCanary(this.context, this.state, event);
  }

  private decision(event: CanaryDecisionEvent): void {
    this.emit({ type: event.type, data: compact(event.data) } as CanaryDecisionEvent);
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  tick(nowMs: number): void {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
      throw new AviaryError(
        ErrorCode.Validation,
        `Tick.nowMs must be epoch milliseconds, got ${nowMs}`,
      );
    }
    if (nowMs < this.state.lastTickMs) {
      throw new AviaryError(
        ErrorCode.Validation,
        `Tick.nowMs ${nowMs} is before the last tick ${this.state.lastTickMs}: time never goes back`,
      );
    }
    const before = this.state;
    this.emit({ type: 'TickRecorded', data: { now: formatTimestamp(nowMs) } });
    if (nowMs < before.nextCheckAtMs) return;
    // Lost commands: re-sent verbatim, same id (the agent applies each id once).
    for (const outstanding of before.outstanding) {
      this.emit({
        type: outstanding.eventType,
        data: { command: outstanding.command },
      } as CanaryDecisionEvent);
    }
    if (this.spec.suspend) return;
    if (before.paused) return;
    // Checks still unanswered once their resultTimeout has passed: held, never failed (ADR 0004
    // §3). Within it the interval stays open (evolve kept it) and is judged when they come.
    const unanswered = (before.interval?.checks ?? []).filter((c) => c.outcome === undefined);
    const first = unanswered[0];
    if (
      first !== undefined &&
      this.state.interval === undefined &&
      ANALYSING_PHASES.includes(this.state.phase)
    ) {
      this.hold(first.name, 'ANALYSIS_OUTCOME_ERROR', unansweredReason(this.analysis));
      if (this.state.paused) return;
    }
    // Confirm-rollout asked on the previous tick and not answered: Waiting, as a closed gate.
    const confirm = before.confirmRollout ?? [];
    if (confirm.some((c) => c.outcome === undefined) && this.state.phase !== CanaryPhase.Waiting) {
      if (IDLE_PHASES.includes(this.state.phase)) {
        this.phase(CanaryPhase.Waiting, 'Canary is waiting for approval.');
      }
    }
    this.advance(nowMs);
  }

  observe(observation: NonNullable<CanaryCommandData<'Observe'>['observation']>): void {
    const before = this.state;
    this.emit({ type: 'ObservationRecorded', data: { observation } });
    if ((observation.cluster ?? '') !== this.cluster) return;
    const routesCommand = (id: string | undefined) =>
      before.outstanding.find(
        (c) => c.kind === CommandKind.SetRoutes && c.command.commandId === id,
      );
    if (observation.commandResult !== undefined) {
      const result = observation.commandResult;
      const outstanding = before.outstanding.find((c) => c.command.commandId === result.commandId);
      if (outstanding === undefined) return;
      if (result.outcome === 'COMMAND_OUTCOME_SUCCEEDED') {
        const routes = routesCommand(result.commandId);
        if (routes !== undefined) {
          this.applied(routes.command.commandId ?? '', routes.command.setRoutes?.routes ?? {});
        }
        return;
      }
      const gaveUp =
        result.outcome === 'COMMAND_OUTCOME_REJECTED' ||
        (result.outcome === 'COMMAND_OUTCOME_FAILED' && result.retriable !== true);
      if (gaveUp && [...ROLLBACK_HOOK_PHASES, CanaryPhase.Promoting].includes(this.state.phase)) {
        this.rollback(
          `command ${result.commandId} ${result.outcome === 'COMMAND_OUTCOME_REJECTED' ? 'rejected' : 'failed'}: ${result.reason ?? ''} ${result.message ?? ''}`.trim(),
        );
      }
      return;
    }
    if (observation.routesApplied !== undefined) {
      const applied = observation.routesApplied;
      const routes = routesCommand(applied.commandId);
      if (routes !== undefined) this.applied(applied.commandId ?? '', applied.routes ?? {});
    }
  }

  verdict(verdict: CanaryCommandData<'RecordVerdict'>['verdict']): void {
    const before = this.state;
    this.emit({ type: 'AnalysisVerdictRecorded', data: { verdict } });
    if ((verdict.cluster ?? '') !== this.cluster) return;
    this.pauseOnConfigurationError(before, verdict.requestId);
    this.afterCheckResult(before, verdict.requestId);
  }

  /**
   * A check of the current interval answered with a configuration error (Error of kind
   * CONFIGURATION): the canary is paused at once, whatever the other checks say, since no retry
   * will make the check measurable (Aviary; Flagger counts it as a failed check). Resuming opens
   * the next interval; the same error pauses again.
   */
  private pauseOnConfigurationError(
    before: ClusterCanaryState,
    requestId: string | undefined,
  ): void {
    const was = before.interval?.checks.find((c) => c.requestId === requestId);
    if (was === undefined || was.outcome !== undefined) return;
    const now = this.state.interval?.checks.find((c) => c.requestId === requestId);
    if (now?.outcome !== CheckOutcome.Misconfigured) return;
    if (!ANALYSING_PHASES.includes(this.state.phase) || this.state.paused) return;
    this.decision({
      type: 'ReleasePaused',
      data: {
        cluster: this.cluster,
        reason: `configuration error in check ${now.name}: ${now.message ?? ''}`,
      },
    });
  }

  webhookResult(result: CanaryCommandData<'RecordWebhookResult'>): void {
    const before = this.state;
    this.emit({ type: 'WebhookResultRecorded', data: result });
    if ((result.cluster ?? '') !== this.cluster) return;
    const id = result.requestId;
    const interval = before.interval;
    if (interval?.checks.some((c) => c.requestId === id && c.outcome === undefined) === true) {
      this.afterCheckResult(before, id);
      return;
    }
    const gate = interval?.gate;
    if (gate?.results.some((c) => c.requestId === id && c.outcome === undefined) === true) {
      const results = this.state.interval?.gate?.results ?? [];
      if (results.some((c) => c.outcome === undefined)) return;
      if (this.state.paused) return;
      if (results.every((c) => c.outcome === CheckOutcome.Passed)) {
        this.gatePassed(gate.type);
      } else if (
        gate.type === 'WEBHOOK_TYPE_CONFIRM_PROMOTION' &&
        this.state.phase === CanaryPhase.Progressing
      ) {
        this.phase(CanaryPhase.WaitingPromotion, 'Canary promotion is waiting for approval.');
      }
      return;
    }
    if (
      before.confirmRollout?.some((c) => c.requestId === id && c.outcome === undefined) === true
    ) {
      const results = this.state.confirmRollout ?? [];
      if (results.some((c) => c.outcome === undefined)) return;
      if (!IDLE_PHASES.includes(this.state.phase) || this.state.paused) return;
      if (results.every((c) => c.outcome === CheckOutcome.Passed)) {
        this.startRun();
      } else if (this.state.phase !== CanaryPhase.Waiting) {
        this.phase(CanaryPhase.Waiting, 'Canary is waiting for approval.');
      }
      return;
    }
    if (
      before.rollbackHookIds.includes(id ?? '') &&
      result.outcome === 'WEBHOOK_OUTCOME_PASSED' &&
      ROLLBACK_HOOK_PHASES.includes(this.state.phase)
    ) {
      this.rollback(`Rolling back manual webhook invoked (${result.name ?? ''})`);
    }
  }

  operator(data: CanaryCommandData<'OperatorAction'>): void {
    const reason = data.reason ?? '';
    this.emit({
      type: 'OperatorActionRecorded',
      data: compact({
        actor: data.actor,
        action: data.action,
        reason,
        cluster: data.cluster ?? '',
      }),
    });
    const cluster = data.cluster ?? '';
    if (cluster !== '' && cluster !== this.cluster) return;
    const phase = this.state.phase;
    switch (data.action) {
      case 'OPERATOR_ACTION_PAUSE':
        if (!this.state.paused) {
          this.decision({
            type: 'ReleasePaused',
            data: { cluster: this.cluster, reason, actor: data.actor },
          });
        }
        return;
      case 'OPERATOR_ACTION_RESUME':
        if (this.state.paused) {
          this.decision({
            type: 'ReleaseResumed',
            data: { cluster: this.cluster, actor: data.actor },
          });
        }
        return;
      case 'OPERATOR_ACTION_PROMOTE':
        if (ANALYSING_PHASES.includes(phase)) this.promote(`Promoted by ${data.actor}`);
        return;
      case 'OPERATOR_ACTION_ABORT':
      case 'OPERATOR_ACTION_ROLLBACK':
        if (ROLLBACK_HOOK_PHASES.includes(phase)) {
          this.rollback(`Rolled back by ${data.actor}${reason === '' ? '' : `: ${reason}`}`);
        }
        return;
      case 'OPERATOR_ACTION_RETRY':
      case 'OPERATOR_ACTION_SKIP_CLUSTER':
      case 'OPERATOR_ACTION_REQUEUE_CLUSTER':
      case 'OPERATOR_ACTION_UNSPECIFIED':
        // Retry is folded by evolve (the failed revision may run again on the next tick); skip
        // and requeue belong to the fleet.
        return;
      default:
        return;
    }
  }

  /**
   * The release is superseded: a canary at work gets all traffic back on the primary (Flagger's
   * "New revision detected! Restarting analysis.": routes 100/0, the canary keeps running for the
   * newer revision). Its phase is left as it was: the release ends, the newer one takes over.
   */
  supersede(): void {
    const atWork: readonly CanaryPhase[] = [
      ...ROLLBACK_HOOK_PHASES,
      CanaryPhase.Promoting,
      CanaryPhase.Finalising,
    ];
    if (!atWork.includes(this.state.phase)) return;
    const home =
      this.state.primaryWeightPercent === 100 &&
      this.state.canaryWeightPercent === 0 &&
      !this.state.mirrored;
    if (home && !this.outstandingOf(CommandKind.SetRoutes)) return;
    this.sendRoutes(100, 0, false);
  }

  // -------------------------------------------------------------------------------------------
  // One due tick, in Flagger's order (§2.5)

  private advance(nowMs: number): void {
    const phase = this.state.phase;
    if (phase === CanaryPhase.Unspecified) {
      // Validation admits only HorizontalPodAutoscaler scalers (no KEDA copy in the agent yet).
      const scaler = this.spec.autoscalerRef;
      const bounds = scaler?.primaryScalerReplicas;
      this.send(CommandKind.InitializeTarget, {
        initializeTarget: {
          router: ROUTER_KIND_JSON[this.router],
          service: this.serviceSpec(),
          hpaName: scaler?.kind === 'HorizontalPodAutoscaler' ? scaler.name : '',
          ...(bounds?.minReplicas !== undefined ? { primaryMinReplicas: bounds.minReplicas } : {}),
          ...(bounds?.maxReplicas !== undefined ? { primaryMaxReplicas: bounds.maxReplicas } : {}),
        },
      });
      this.phase(CanaryPhase.Initializing, 'New target detected, initialization started.');
      return;
    }
    if (phase === CanaryPhase.Initializing) {
      if (this.outstandingOf(CommandKind.InitializeTarget)) return;
      const primary = this.primaryReadiness(nowMs);
      if (primary.kind === 'waiting') return;
      if (primary.kind === 'failed') {
        this.rollback(`primary not ready: ${primary.reason}`);
        return;
      }
      this.decision({
        type: 'ClusterCanaryInitialized',
        data: {
          cluster: this.cluster,
          primaryRevisionId: this.state.primaryReadiness?.revisionId ?? '',
        },
      });
      this.phase(CanaryPhase.Initialized, 'Initialization done!');
      return;
    }
    // shouldAdvance: idle phases advance only for a new revision.
    if (
      IDLE_PHASES.includes(phase) &&
      phase !== CanaryPhase.Waiting &&
      !this.newRevisionPending()
    ) {
      return;
    }
    if (!this.spec.skipAnalysis) {
      const primary = this.primaryReadiness(nowMs);
      if (primary.kind === 'waiting') return;
      if (primary.kind === 'failed') {
        if (phase === CanaryPhase.Promoting || phase === CanaryPhase.Finalising) {
          this.failedPromotion(primary.reason);
        } else {
          this.rollback(`primary not ready: ${primary.reason}`);
        }
        return;
      }
    }
    // checkCanaryStatus: a new run starts behind the confirm-rollout gates.
    if (IDLE_PHASES.includes(phase)) {
      const hooks = this.hooks(WebhookType.ConfirmRollout);
      if (hooks.length === 0) {
        this.startRun();
        return;
      }
      for (const hook of hooks) this.requestWebhook(hook, phase);
      if (this.state.phase === CanaryPhase.Waiting) this.requestRollbackHooks();
      return;
    }
    // hasCanaryRevisionChanged: restart the analysis.
    if (
      ANALYSING_PHASES.includes(phase) &&
      this.state.canaryRevisionId !== this.state.runRevisionId
    ) {
      this.sendRoutes(100, 0, false);
      this.phase(CanaryPhase.Progressing, 'New revision detected! Restarting analysis.');
      return;
    }
    const canary = readinessOf(this.state.canaryReadiness, {
      readyThresholdPercent: this.analysis.canaryReadyThreshold,
      progressDeadlineMs: this.spec.progressDeadlineSeconds * 1000,
      nowMs,
      revisionId: this.state.runRevisionId,
    });
    if (canary.kind === 'failed' && phase !== CanaryPhase.Finalising) {
      this.rollback(`canary not ready: ${canary.reason}`);
      return;
    }
    if (
      canary.kind === 'waiting' &&
      phase !== CanaryPhase.Promoting &&
      phase !== CanaryPhase.Finalising
    ) {
      return;
    }
    if (this.spec.skipAnalysis) {
      this.skipAnalysis();
      return;
    }
    if (ROLLBACK_HOOK_PHASES.includes(phase)) this.requestRollbackHooks();
    if (phase === CanaryPhase.Promoting) {
      this.promotionStep();
      return;
    }
    if (phase === CanaryPhase.Finalising) {
      this.finalise();
      return;
    }
    // Progressing / WaitingPromotion.
    if (this.state.failedChecks >= this.analysis.threshold) {
      this.rollback(`Failed checks threshold reached ${this.state.failedChecks}`);
      return;
    }
    // The weight counts only once applied: no analysis at a weight the agent has not confirmed.
    if (this.outstandingOf(CommandKind.SetRoutes)) return;
    // An interval still awaiting results (within resultTimeout) is judged when they come: no new
    // interval, no step meanwhile.
    if (awaitingResults(this.analysis, this.state.interval, nowMs)) return;
    this.openInterval(nowMs);
  }

  /** Pre-rollout hooks on the first analysis tick, else rollout hooks then metrics. */
  private openInterval(nowMs: number): void {
    const first =
      this.state.canaryWeightPercent === 0 &&
      this.state.iterations === 0 &&
      !(this.analysis.mirror && this.state.mirrored);
    if (first) {
      const hooks = this.hooks(WebhookType.PreRollout);
      for (const hook of hooks) this.requestWebhook(hook, CanaryPhase.Progressing);
      if (hooks.length === 0) this.checksPassed();
      return;
    }
    const hooks = this.hooks(WebhookType.Rollout);
    for (const hook of hooks) this.requestWebhook(hook, CanaryPhase.Progressing);
    for (const metric of this.analysis.metrics) {
      const seq = this.state.seq + 1;
      const request: AnalysisRequestJson = {
        requestId: `${this.id(seq)}:analysis:${metric.name}`,
        releaseId: this.context.releaseId,
        cluster: this.cluster,
        workload: this.context.workload,
        checkName: metric.name,
        ...(metric.templateRef !== undefined
          ? {
              templateRef: {
                namespace: metric.templateRef.namespace,
                name: metric.templateRef.name,
              },
            }
          : {}),
        thresholdRange: {
          ...(metric.thresholdRange.min !== undefined ? { min: metric.thresholdRange.min } : {}),
          ...(metric.thresholdRange.max !== undefined ? { max: metric.thresholdRange.max } : {}),
        },
        intervalMs: metric.intervalMs,
        windowStart: formatTimestamp(nowMs - this.analysis.intervalMs),
        windowEnd: formatTimestamp(nowMs),
        priority:
          this.state.failedChecks + 1 >= this.analysis.threshold
            ? 'ANALYSIS_PRIORITY_ROLLBACK_RELEVANT'
            : 'ANALYSIS_PRIORITY_NORMAL',
        ...(Object.keys(metric.templateVariables).length > 0
          ? { templateVariables: sortedRecord(metric.templateVariables) }
          : {}),
        router: ROUTER_KIND_JSON[this.router],
        ...(metric.judge === 'comparison'
          ? {
              method:
                metric.templateRef === undefined
                  ? 'JUDGE_METHOD_LATENCY_COMPARISON'
                  : 'JUDGE_METHOD_RATE_COMPARISON',
            }
          : {}),
      };
      this.decision({ type: 'AnalysisRequested', data: { request } });
    }
    if (hooks.length === 0 && this.analysis.metrics.length === 0) this.checksPassed();
  }

  /** A verdict or a check webhook result came in; the one that completes the interval judges it. */
  private afterCheckResult(before: ClusterCanaryState, requestId: string | undefined): void {
    const was = before.interval?.checks.find((c) => c.requestId === requestId);
    if (was === undefined || was.outcome !== undefined) return;
    const checks = this.state.interval?.checks ?? [];
    if (checks.some((c) => c.outcome === undefined)) return;
    if (!ANALYSING_PHASES.includes(this.state.phase)) return;
    const failed = checks.find((c) => c.outcome === CheckOutcome.Failed);
    if (failed !== undefined) {
      // At most one failed check per interval, as in Flagger (the first failure short-circuits).
      this.decision({
        type: 'CanaryCheckFailed',
        data: {
          cluster: this.cluster,
          checkName: failed.name,
          failedChecks: this.state.failedChecks + 1,
          threshold: this.analysis.threshold,
          reason: failed.message ?? '',
        },
      });
      return;
    }
    // A configuration error paused the canary when it came: the interval neither passes nor holds.
    if (checks.some((c) => c.outcome === CheckOutcome.Misconfigured)) return;
    const held = checks.find((c) => c.outcome === CheckOutcome.Held);
    if (held !== undefined) {
      this.hold(held.name, held.heldAs ?? 'ANALYSIS_OUTCOME_ERROR', held.message ?? '');
      return;
    }
    if (!this.state.paused) this.checksPassed();
  }

  private hold(
    checkName: string,
    outcome: 'ANALYSIS_OUTCOME_INCONCLUSIVE' | 'ANALYSIS_OUTCOME_ERROR',
    reason: string,
  ): void {
    const heldChecks = this.state.heldChecks + 1;
    const limit = this.analysis.maxHeldChecks;
    this.decision({
      type: 'CanaryCheckHeld',
      data: { cluster: this.cluster, checkName, outcome, heldChecks, limit, reason },
    });
    if (heldChecks >= limit && !this.state.paused) {
      this.decision({
        type: 'ReleasePaused',
        data: {
          cluster: this.cluster,
          reason: `${heldChecks} checks held in a row (maxHeldChecks ${limit}): waiting for a human`,
        },
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Strategies: what a passed interval does

  private checksPassed(): void {
    switch (this.spec.strategy) {
      case Strategy.Canary: {
        const step = this.nextStepWeight(this.state.canaryWeightPercent);
        if (step <= 0) return; // stepWeight 0: the canary never advances (Flagger quirk 4).
        if (!this.state.mirrored && this.state.phase === CanaryPhase.Progressing) {
          if (this.requestGate(WebhookType.ConfirmTrafficIncrease)) return;
        }
        this.runCanary();
        return;
      }
      case Strategy.AB:
        if (this.state.iterations < this.analysis.iterations) {
          if (this.state.canaryWeightPercent !== 100) this.sendRoutes(0, 100, false);
          this.iteration(this.state.iterations + 1);
          return;
        }
        if (!this.requestGate(WebhookType.ConfirmPromotion))
          this.gatePassed('WEBHOOK_TYPE_CONFIRM_PROMOTION');
        return;
      case Strategy.BlueGreen:
      case Strategy.BlueGreenMirror:
        if (this.state.iterations < this.analysis.iterations) {
          if (this.analysis.mirror && !this.state.mirrored && this.router !== RouterKind.None) {
            this.sendRoutes(100, 0, true);
          }
          this.iteration(this.state.iterations + 1);
          return;
        }
        if (!this.requestGate(WebhookType.ConfirmPromotion))
          this.gatePassed('WEBHOOK_TYPE_CONFIRM_PROMOTION');
        return;
      default: {
        const unknown: never = this.spec.strategy;
        throw new AviaryError(ErrorCode.Validation, `unknown strategy ${String(unknown)}`);
      }
    }
  }

  /** Every result of a gate passed (or the gate has no hooks). */
  private gatePassed(type: WebhookTypeJson): void {
    if (type === 'WEBHOOK_TYPE_CONFIRM_TRAFFIC_INCREASE') {
      this.runCanary();
      return;
    }
    if (type !== 'WEBHOOK_TYPE_CONFIRM_PROMOTION') return;
    if (
      (this.spec.strategy === Strategy.BlueGreen ||
        this.spec.strategy === Strategy.BlueGreenMirror) &&
      this.state.iterations === this.analysis.iterations
    ) {
      // Blue/green switches live traffic to the canary one tick before the promotion.
      if (this.router !== RouterKind.None) this.sendRoutes(0, 100, false);
      this.iteration(this.state.iterations + 1);
      return;
    }
    this.promote('Copying target spec to primary');
  }

  /** Flagger's `runCanary`: one weight step, or the promotion once at/above `maxWeight`. */
  private runCanary(): void {
    const canaryW = this.state.canaryWeightPercent;
    if (canaryW < this.maxWeight()) {
      const step = this.nextStepWeight(canaryW);
      if (this.analysis.mirror && canaryW === 0) {
        if (!this.state.mirrored) this.sendRoutes(100, 0, true);
        else this.sendRoutes(100 - step, step, false);
        return;
      }
      const canary = Math.min(100, canaryW + step); // not clamped to maxWeight (Flagger quirk 3)
      const primary = Math.max(0, this.state.primaryWeightPercent - step);
      this.sendRoutes(primary, canary, false);
      return;
    }
    if (this.requestGate(WebhookType.ConfirmPromotion)) return;
    this.promote('Copying target spec to primary');
  }

  private maxWeight(): number {
    const steps = this.analysis.stepWeights;
    const last = steps[steps.length - 1];
    if (last !== undefined) return Math.min(100, last);
    return this.analysis.maxWeight > 0 ? this.analysis.maxWeight : 100;
  }

  private nextStepWeight(weight: number): number {
    const { stepWeight, stepWeights } = this.analysis;
    if (stepWeight > 0 || stepWeights.length === 0) return stepWeight;
    const maxStep = 100 - weight;
    if (maxStep === 0) return 1;
    const first = stepWeights[0] ?? 0;
    if (weight === 0) return Math.min(maxStep, first);
    for (let i = 0; i < stepWeights.length - 1; i++) {
      const next = stepWeights[i + 1];
      if (stepWeights[i] === weight && next !== undefined) return Math.min(maxStep, next - weight);
    }
    return maxStep;
  }

  private iteration(iterations: number): void {
    this.decision({
      type: 'CanaryIterationCompleted',
      data: { cluster: this.cluster, iterations },
    });
  }

  // -------------------------------------------------------------------------------------------
  // Promotion, finalisation, rollback

  private promote(reason: string): void {
    this.send(CommandKind.PromoteCanary, {
      promoteCanary: { revisionId: this.state.runRevisionId },
    });
    this.phase(CanaryPhase.Promoting, reason);
  }

  /** Promoting, on a due tick: wait for the primary to run the revision, then route back. */
  private promotionStep(): void {
    if (this.outstandingOf(CommandKind.PromoteCanary)) return;
    if (!this.state.promoted) {
      if ((this.state.primaryReadiness?.revisionId ?? '') !== this.state.runRevisionId) return;
      this.decision({
        type: 'CanaryPromoted',
        data: { cluster: this.cluster, revisionId: this.state.runRevisionId },
      });
    }
    if (this.router === RouterKind.None) {
      this.phase(CanaryPhase.Finalising, 'Promotion done (no router).');
      return;
    }
    if (this.outstandingOf(CommandKind.SetRoutes)) return;
    const { canaryWeightPercent: canaryW, primaryWeightPercent: primaryW } = this.state;
    const swp = this.analysis.stepWeightPromotion;
    if (canaryW === 0 && primaryW === 100 && !this.state.mirrored) {
      // Nothing left to shift (Flagger would stay in Promoting forever, quirk 11).
      this.phase(CanaryPhase.Finalising, 'Routing all traffic to primary');
      return;
    }
    if (swp === 0) {
      this.sendRoutes(100, 0, false);
      return;
    }
    this.sendRoutes(Math.min(100, primaryW + swp), Math.max(0, canaryW - swp), false);
  }

  private finalise(): void {
    this.send(CommandKind.ScaleCanaryToZero, { scaleCanaryToZero: {} });
    this.phase(CanaryPhase.Succeeded, 'Promotion completed! Scaling down target.');
    this.postRollout(CanaryPhase.Succeeded);
  }

  private skipAnalysis(): void {
    this.sendRoutes(100, 0, false);
    this.send(CommandKind.PromoteCanary, {
      promoteCanary: { revisionId: this.state.runRevisionId },
    });
    this.send(CommandKind.ScaleCanaryToZero, { scaleCanaryToZero: {} });
    this.phase(CanaryPhase.Succeeded, 'Promotion completed! Canary analysis was skipped.');
    this.postRollout(CanaryPhase.Succeeded);
  }

  private rollback(reason: string): void {
    const failedChecks = this.state.failedChecks;
    const revisionId = this.state.runRevisionId || this.state.canaryRevisionId;
    if (this.router !== RouterKind.None || this.state.canaryWeightPercent !== 0) {
      this.sendRoutes(100, 0, false);
    }
    this.send(CommandKind.ScaleCanaryToZero, { scaleCanaryToZero: {} });
    this.decision({
      type: 'CanaryRolledBack',
      data: { cluster: this.cluster, revisionId, reason, failedChecks },
    });
    this.phase(CanaryPhase.Failed, `Canary failed! ${reason}`);
    this.postRollout(CanaryPhase.Failed);
  }

  /** Primary not ready for good while promoting: keep serving from the canary (Flagger 1.44). */
  private failedPromotion(reason: string): void {
    this.sendRoutes(0, 100, false);
    this.phase(CanaryPhase.Failed, `Promotion failed, primary not ready: ${reason}`);
    this.postRollout(CanaryPhase.Failed);
  }

  private startRun(): void {
    this.phase(CanaryPhase.Progressing, 'New revision detected, progressing canary analysis.');
    this.send(CommandKind.ScaleCanary, { scaleCanary: {} });
  }

  // -------------------------------------------------------------------------------------------
  // Effects

  private phase(phase: CanaryPhase, reason: string): void {
    this.decision({
      type: 'CanaryPhaseChanged',
      data: { cluster: this.cluster, previousPhase: this.state.phase, phase, reason },
    });
  }

  private id(seq: number): string {
    return `${this.context.releaseId}:${this.cluster}:${seq}`;
  }

  private send(
    kind: CommandKind,
    body: Pick<
      AgentCommandJson,
      'initializeTarget' | 'scaleCanary' | 'setRoutes' | 'promoteCanary' | 'scaleCanaryToZero'
    >,
  ): void {
    const command: AgentCommandJson = {
      commandId: `${this.id(this.state.seq + 1)}:${kind}`,
      cluster: this.cluster,
      releaseId: this.context.releaseId,
      workload: this.context.workload,
      issuedAt: formatTimestamp(this.state.lastTickMs),
      ...body,
    };
    const data = { command };
    switch (kind) {
      case CommandKind.InitializeTarget:
        this.decision({ type: 'ClusterCanaryInitializationRequested', data });
        return;
      case CommandKind.ScaleCanary:
        this.decision({ type: 'CanaryScaleRequested', data });
        return;
      case CommandKind.SetRoutes:
        this.decision({ type: 'CanaryWeightRequested', data });
        return;
      case CommandKind.PromoteCanary:
        this.decision({ type: 'CanaryPromotionRequested', data });
        return;
      case CommandKind.ScaleCanaryToZero:
        this.decision({ type: 'CanaryScaleToZeroRequested', data });
        return;
      default: {
        const unknown: never = kind;
        throw new AviaryError(ErrorCode.Validation, `unknown command kind ${String(unknown)}`);
      }
    }
  }

  private sendRoutes(primary: number, canary: number, mirror: boolean): void {
    if (this.router === RouterKind.None) return; // no routing object: nothing to set
    this.send(CommandKind.SetRoutes, {
      setRoutes: {
        router: ROUTER_KIND_JSON[this.router],
        serviceName: this.spec.service.name,
        routes: this.routes(primary, canary, mirror),
      },
    });
  }

  private applied(commandId: string, routes: RoutesJson): void {
    this.decision({
      type: 'CanaryWeightApplied',
      data: { cluster: this.cluster, commandId, routes },
    });
    if (this.state.phase === CanaryPhase.Promoting && this.state.primaryWeightPercent === 100) {
      this.phase(CanaryPhase.Finalising, 'Routing all traffic to primary');
    }
  }

  private routes(primary: number, canary: number, mirror: boolean): RoutesJson {
    const a = this.analysis;
    const matches = this.spec.strategy === Strategy.AB ? a.match.map(routeMatch) : [];
    return {
      primaryWeightPercent: primary,
      canaryWeightPercent: canary,
      ...(matches.length > 0 ? { matches } : {}),
      mirror,
      ...(mirror ? { mirrorWeightPercent: a.mirrorWeight } : {}),
      ...(a.sessionAffinity !== undefined && this.spec.strategy === Strategy.Canary
        ? { sessionAffinity: sessionAffinity(a.sessionAffinity) }
        : {}),
    };
  }

  private serviceSpec() {
    const s = this.spec.service;
    return {
      name: s.name,
      port: s.port,
      portName: s.portName,
      targetPort: String(s.targetPort),
      hosts: [...s.hosts],
      gatewayRefs: s.gatewayRefs.map((g) => ({
        namespace: g.namespace ?? '',
        name: g.name,
        sectionName: g.sectionName ?? '',
      })),
      gateways: [...s.gateways],
    };
  }

  private hooks(type: WebhookType): readonly Webhook[] {
    return this.analysis.webhooks.filter((w) => w.type === type);
  }

  /** Requests the hooks of a gate; false when the gate has none (it is open). */
  private requestGate(type: WebhookType): boolean {
    const hooks = this.hooks(type);
    for (const hook of hooks) this.requestWebhook(hook, CanaryPhase.Progressing);
    return hooks.length > 0;
  }

  private requestRollbackHooks(): void {
    for (const hook of this.hooks(WebhookType.Rollback))
      this.requestWebhook(hook, this.state.phase);
  }

  private postRollout(phase: CanaryPhaseJson): void {
    for (const hook of this.hooks(WebhookType.PostRollout)) this.requestWebhook(hook, phase);
  }

  private requestWebhook(hook: Webhook, phase: CanaryPhaseJson): void {
    const call: WebhookCallJson = {
      requestId: `${this.id(this.state.seq + 1)}:webhook:${hook.name}`,
      cluster: this.cluster,
      name: hook.name,
      type: WEBHOOK_TYPE_JSON[hook.type],
      url: hook.url,
      timeoutMs: hook.timeoutMs,
      retries: hook.retries,
      disableTls: hook.disableTLS,
      payload: {
        name: this.context.workload.name ?? '',
        namespace: this.context.workload.namespace ?? '',
        phase,
        checksum: this.state.runRevisionId || this.state.canaryRevisionId,
        ...(Object.keys(hook.metadata).length > 0 ? { metadata: sortedRecord(hook.metadata) } : {}),
      },
    };
    this.decision({ type: 'WebhookRequested', data: { call } });
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  private outstandingOf(kind: CommandKind): boolean {
    return this.state.outstanding.some((c) => c.kind === kind);
  }

  private primaryReadiness(nowMs: number): Readiness {
    return readinessOf(this.state.primaryReadiness, {
      readyThresholdPercent: this.analysis.primaryReadyThreshold,
      progressDeadlineMs: this.spec.progressDeadlineSeconds * 1000,
      nowMs,
    });
  }

  /** Flagger's `hasSpecChanged` against the primary, and a failed revision only after `retry`. */
  private newRevisionPending(): boolean {
    const revision = this.state.canaryRevisionId;
    if (revision === '' || revision === this.state.primaryRevisionId) return false;
    return !(this.state.phase === CanaryPhase.Failed && revision === this.state.failedRevisionId);
  }
}

type CanaryCommandData<T extends CanaryCommand['type']> = Extract<
  CanaryCommand,
  { type: T }
>['data'];

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key] ?? '';
  return out;
}

function routeMatch(match: Readonly<Record<string, unknown>>): RouteMatchJson {
  const headers: Record<string, StringMatchJson> = {};
  const source = match.headers;
  if (source !== null && typeof source === 'object' && !Array.isArray(source)) {
    for (const name of Object.keys(source).sort()) {
      const value = (source as Record<string, unknown>)[name];
      if (value === null || typeof value !== 'object') continue;
      const m = value as Record<string, unknown>;
      for (const kind of ['exact', 'prefix', 'suffix', 'regex'] as const) {
        const v = m[kind];
        if (typeof v === 'string') {
          headers[name.toLowerCase()] = { [kind]: v };
          break;
        }
      }
    }
  }
  return Object.keys(headers).length > 0 ? { headers } : {};
}

function sessionAffinity(
  s: NonNullable<CanaryContext['rollout']['spec']['analysis']['sessionAffinity']>,
): SessionAffinityJson {
  const sameSite = {
    Strict: 'SAME_SITE_STRICT',
    Lax: 'SAME_SITE_LAX',
    None: 'SAME_SITE_NONE',
  } as const;
  return {
    cookieName: s.cookieName,
    ...(s.primaryCookieName !== undefined ? { primaryCookieName: s.primaryCookieName } : {}),
    maxAgeSeconds: s.maxAge,
    ...(s.domain !== undefined ? { domain: s.domain } : {}),
    ...(s.path !== undefined ? { path: s.path } : {}),
    httpOnly: s.httpOnly,
    secure: s.secure,
    partitioned: s.partitioned,
    ...(s.sameSite !== undefined ? { sameSite: sameSite[s.sameSite] } : {}),
  };
}

export type { AwaitedResult };
