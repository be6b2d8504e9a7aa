import type { AgentCommandJson, WebhookCallJson } from '@aviary/proto';
import { parseTimestamp } from './json.ts';
import { awaitingResults } from './result-timeout.ts';
import {
  type AwaitedResult,
  type CanaryContext,
  type CanaryEvent,
  CanaryPhase,
  CheckOutcome,
  type ClusterCanaryState,
  CommandKind,
  type Interval,
  type OutstandingCommand,
} from './types.ts';

/** A cluster canary before any event: not started in its cluster (queued in its wave). */
export function initialCanaryState(): ClusterCanaryState {
  return {
    phase: CanaryPhase.Unspecified,
    canaryWeightPercent: 0,
    primaryWeightPercent: 100,
    mirrored: false,
    failedChecks: 0,
    heldChecks: 0,
    iterations: 0,
    nextCheckAtMs: 0,
    lastTickMs: 0,
    seq: 0,
    canaryRevisionId: '',
    runRevisionId: '',
    primaryRevisionId: '',
    failedRevisionId: '',
    previousPrimaryRevisionId: '',
    outstanding: [],
    rollbackHookIds: [],
    promoted: false,
    paused: false,
  };
}

/**
 * Folds one event of the release stream into the canary of `context.cluster`. Events about other
 * clusters leave the state unchanged, so a fleet fold may hand every event to every canary.
 */
export function evolveCanary(
  context: CanaryContext,
  state: ClusterCanaryState,
  event: CanaryEvent,
): ClusterCanaryState {
  const mine = (cluster: string | undefined) => (cluster ?? '') === context.cluster;
  switch (event.type) {
    case 'TickRecorded': {
      const nowMs = parseTimestamp(event.data.now) ?? 0;
      if (nowMs < state.nextCheckAtMs) return state;
      // A due tick closes the previous interval and the gates asked on the previous tick; an
      // interval whose results are still awaited within resultTimeout stays open (late verdicts).
      const { interval, confirmRollout: _confirm, ...rest } = state;
      const analysis = context.rollout.spec.analysis;
      return {
        ...rest,
        ...(interval !== undefined && awaitingResults(analysis, interval, nowMs)
          ? { interval }
          : {}),
        lastTickMs: nowMs,
        nextCheckAtMs: nowMs + context.rollout.spec.analysis.intervalMs,
        rollbackHookIds: [],
      };
    }
    case 'ObservationRecorded': {
      const observation = event.data.observation ?? {};
      if (!mine(observation.cluster)) return state;
      if (observation.revisionSeen !== undefined) {
        const workload = observation.revisionSeen.workload;
        if (!sameWorkload(context, workload)) return state;
        return { ...state, canaryRevisionId: observation.revisionSeen.revision?.id ?? '' };
      }
      if (observation.workloadReadiness !== undefined) {
        const readiness = observation.workloadReadiness;
        if (!sameWorkload(context, readiness.workload)) return state;
        if (readiness.role === 'DEPLOYMENT_ROLE_CANARY') {
          return { ...state, canaryReadiness: readiness };
        }
        if (readiness.role === 'DEPLOYMENT_ROLE_PRIMARY') {
          return { ...state, primaryReadiness: readiness };
        }
        return state;
      }
      if (observation.commandResult !== undefined) {
        const result = observation.commandResult;
        const outstanding = state.outstanding.find((c) => c.command.commandId === result.commandId);
        if (outstanding === undefined) return state;
        const succeeded = result.outcome === 'COMMAND_OUTCOME_SUCCEEDED';
        const gaveUp =
          result.outcome === 'COMMAND_OUTCOME_REJECTED' ||
          (result.outcome === 'COMMAND_OUTCOME_FAILED' && result.retriable !== true);
        // A confirmed set-routes is removed by CanaryWeightApplied (the decision that counts it).
        if ((succeeded && outstanding.kind !== CommandKind.SetRoutes) || gaveUp) {
          return { ...state, outstanding: without(state.outstanding, result.commandId ?? '') };
        }
        return state;
      }
      return state;
    }
    case 'AnalysisVerdictRecorded': {
      const verdict = event.data.verdict ?? {};
      if (!mine(verdict.cluster) || state.interval === undefined) return state;
      const outcome = verdict.outcome ?? 'ANALYSIS_OUTCOME_UNSPECIFIED';
      const misconfigured =
        outcome === 'ANALYSIS_OUTCOME_ERROR' && verdict.errorKind === 'ERROR_KIND_CONFIGURATION';
      const result: Partial<AwaitedResult> =
        outcome === 'ANALYSIS_OUTCOME_SUCCESSFUL'
          ? { outcome: CheckOutcome.Passed }
          : outcome === 'ANALYSIS_OUTCOME_FAILED'
            ? { outcome: CheckOutcome.Failed }
            : misconfigured
              ? { outcome: CheckOutcome.Misconfigured }
              : {
                  outcome: CheckOutcome.Held,
                  heldAs:
                    outcome === 'ANALYSIS_OUTCOME_INCONCLUSIVE'
                      ? 'ANALYSIS_OUTCOME_INCONCLUSIVE'
                      : 'ANALYSIS_OUTCOME_ERROR',
                };
      return withChecks(
        state,
        state.interval,
        answer(state.interval.checks, verdict.requestId, {
          ...result,
          message: verdict.message ?? '',
        }),
      );
    }
    case 'WebhookResultRecorded': {
      if (!mine(event.data.cluster)) return state;
      const outcome =
        event.data.outcome === 'WEBHOOK_OUTCOME_PASSED' ? CheckOutcome.Passed : CheckOutcome.Failed;
      const reply = { outcome, message: event.data.message ?? '' };
      const id = event.data.requestId;
      const interval = state.interval;
      if (interval !== undefined) {
        if (interval.checks.some((c) => c.requestId === id)) {
          return withChecks(state, interval, answer(interval.checks, id, reply));
        }
        const gate = interval.gate;
        if (gate?.results.some((c) => c.requestId === id) === true) {
          const results = answer(gate.results, id, reply);
          return { ...state, interval: { ...interval, gate: { ...gate, results } } };
        }
      }
      if (state.confirmRollout?.some((c) => c.requestId === id) === true) {
        return { ...state, confirmRollout: answer(state.confirmRollout, id, reply) };
      }
      return state;
    }
    case 'OperatorActionRecorded': {
      const cluster = event.data.cluster ?? '';
      if (cluster !== '' && cluster !== context.cluster) return state;
      if (event.data.action === 'OPERATOR_ACTION_RETRY' && state.phase === CanaryPhase.Failed) {
        return { ...state, failedRevisionId: '' };
      }
      return state;
    }
    // A command for another cluster's agent is that cluster's canary's business.
    case 'ClusterCanaryInitializationRequested':
      if (!mine(event.data.command?.cluster)) return state;
      return sent(state, CommandKind.InitializeTarget, event.type, event.data.command);
    case 'CanaryScaleRequested':
      if (!mine(event.data.command?.cluster)) return state;
      return sent(state, CommandKind.ScaleCanary, event.type, event.data.command);
    case 'CanaryWeightRequested':
      if (!mine(event.data.command?.cluster)) return state;
      return sent(state, CommandKind.SetRoutes, event.type, event.data.command);
    case 'CanaryPromotionRequested': {
      if (!mine(event.data.command?.cluster)) return state;
      const next = sent(state, CommandKind.PromoteCanary, event.type, event.data.command);
      if (next === state) return state; // a re-send
      // The first promotion over another revision remembers it: halt-and-revert puts it back.
      const promoting = event.data.command?.promoteCanary?.revisionId ?? '';
      const previous = state.primaryRevisionId;
      if (
        (state.previousPrimaryRevisionId ?? '') !== '' ||
        previous === '' ||
        previous === promoting
      )
        return next;
      return { ...next, previousPrimaryRevisionId: previous };
    }
    case 'CanaryScaleToZeroRequested':
      if (!mine(event.data.command?.cluster)) return state;
      return sent(state, CommandKind.ScaleCanaryToZero, event.type, event.data.command);
    case 'ClusterCanaryInitialized':
      if (!mine(event.data.cluster)) return state;
      return { ...state, primaryRevisionId: event.data.primaryRevisionId ?? '' };
    case 'CanaryPhaseChanged': {
      if (!mine(event.data.cluster)) return state;
      const phase = event.data.phase ?? CanaryPhase.Unspecified;
      const { interval: _interval, confirmRollout: _confirm, ...rest } = state;
      switch (phase) {
        case CanaryPhase.Progressing:
          // A new run (or a restart): counters from zero, for the revision seen now.
          return {
            ...rest,
            phase,
            failedChecks: 0,
            heldChecks: 0,
            iterations: 0,
            promoted: false,
            runRevisionId: state.canaryRevisionId,
          };
        case CanaryPhase.Failed:
          return {
            ...rest,
            phase,
            // Rolled back from Waiting, no run had started: the revision that failed is the
            // one waiting for confirmation, not the last run's.
            failedRevisionId:
              event.data.previousPhase === CanaryPhase.Waiting
                ? state.canaryRevisionId
                : state.runRevisionId,
            rollbackHookIds: [],
          };
        case CanaryPhase.Succeeded:
          return { ...rest, phase, primaryRevisionId: state.runRevisionId, rollbackHookIds: [] };
        case CanaryPhase.Promoting:
          return { ...rest, phase, rollbackHookIds: [] };
        case CanaryPhase.Waiting:
        case CanaryPhase.WaitingPromotion:
          return { ...state, phase };
        case CanaryPhase.Unspecified:
        case CanaryPhase.Initializing:
        case CanaryPhase.Initialized:
        case CanaryPhase.Finalising:
          return { ...rest, phase };
        default:
          return state;
      }
    }
    case 'CanaryWeightApplied': {
      if (!mine(event.data.cluster)) return state;
      const routes = event.data.routes ?? {};
      return {
        ...state,
        primaryWeightPercent: routes.primaryWeightPercent ?? 0,
        canaryWeightPercent: routes.canaryWeightPercent ?? 0,
        mirrored: routes.mirror ?? false,
        outstanding: without(state.outstanding, event.data.commandId ?? ''),
      };
    }
    case 'AnalysisRequested': {
      const request = event.data.request ?? {};
      if (!mine(request.cluster)) return state;
      const interval = state.interval ?? { startedAtMs: state.lastTickMs, checks: [] };
      const check: AwaitedResult = {
        requestId: request.requestId ?? '',
        name: request.checkName ?? '',
      };
      return {
        ...state,
        seq: state.seq + 1,
        interval: { ...interval, checks: [...interval.checks, check] },
      };
    }
    case 'WebhookRequested':
      return webhookRequested(context, state, event.data.call ?? {});
    case 'CanaryCheckFailed':
      if (!mine(event.data.cluster)) return state;
      return { ...state, failedChecks: event.data.failedChecks ?? 0, heldChecks: 0 };
    case 'CanaryCheckHeld':
      if (!mine(event.data.cluster)) return state;
      return { ...state, heldChecks: event.data.heldChecks ?? 0 };
    case 'CanaryIterationCompleted':
      if (!mine(event.data.cluster)) return state;
      return { ...state, iterations: event.data.iterations ?? 0 };
    case 'CanaryPromoted':
      if (!mine(event.data.cluster)) return state;
      return { ...state, promoted: true };
    case 'CanaryRolledBack':
      return state;
    case 'ReleasePaused': {
      const cluster = event.data.cluster ?? '';
      if (cluster !== '' && cluster !== context.cluster) return state;
      return { ...state, paused: true };
    }
    case 'ReleaseResumed': {
      const cluster = event.data.cluster ?? '';
      if (cluster !== '' && cluster !== context.cluster) return state;
      return { ...state, paused: false, heldChecks: 0 };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function sameWorkload(
  context: CanaryContext,
  workload: { readonly name?: string; readonly namespace?: string } | undefined,
): boolean {
  return (
    (workload?.name ?? '') === context.workload.name &&
    (workload?.namespace ?? '') === (context.workload.namespace ?? '')
  );
}

function without(
  outstanding: readonly OutstandingCommand[],
  commandId: string,
): readonly OutstandingCommand[] {
  return outstanding.filter((c) => c.command.commandId !== commandId);
}

/** Records a sent command. A re-send (same id) changes nothing; a new one takes a sequence number
 * and supersedes the outstanding commands it replaces (routes replace routes, scaling replaces
 * scaling). */
function sent(
  state: ClusterCanaryState,
  kind: CommandKind,
  eventType: OutstandingCommand['eventType'],
  command: AgentCommandJson | undefined,
): ClusterCanaryState {
  const id = command?.commandId ?? '';
  if (state.outstanding.some((c) => c.command.commandId === id)) return state;
  const scaling: readonly CommandKind[] = [CommandKind.ScaleCanary, CommandKind.ScaleCanaryToZero];
  const replaced = (other: CommandKind) =>
    other === kind || (scaling.includes(kind) && scaling.includes(other));
  const outstanding = [
    ...state.outstanding.filter((c) => !replaced(c.kind)),
    { kind, eventType, command: command ?? {} },
  ].sort((a, b) => compareStrings(a.command.commandId ?? '', b.command.commandId ?? ''));
  return { ...state, seq: state.seq + 1, outstanding };
}

function webhookRequested(
  context: CanaryContext,
  state: ClusterCanaryState,
  call: WebhookCallJson,
): ClusterCanaryState {
  if ((call.cluster ?? '') !== context.cluster) return state;
  const next = { ...state, seq: state.seq + 1 };
  const awaited: AwaitedResult = { requestId: call.requestId ?? '', name: call.name ?? '' };
  const interval: Interval = state.interval ?? { startedAtMs: state.lastTickMs, checks: [] };
  switch (call.type) {
    case 'WEBHOOK_TYPE_PRE_ROLLOUT':
    case 'WEBHOOK_TYPE_ROLLOUT':
      return { ...next, interval: { ...interval, checks: [...interval.checks, awaited] } };
    case 'WEBHOOK_TYPE_CONFIRM_TRAFFIC_INCREASE':
    case 'WEBHOOK_TYPE_CONFIRM_PROMOTION': {
      const gate =
        interval.gate?.type === call.type
          ? { type: call.type, results: [...interval.gate.results, awaited] }
          : { type: call.type, results: [awaited] };
      return { ...next, interval: { ...interval, gate } };
    }
    case 'WEBHOOK_TYPE_CONFIRM_ROLLOUT':
      return { ...next, confirmRollout: [...(state.confirmRollout ?? []), awaited] };
    case 'WEBHOOK_TYPE_ROLLBACK':
      return { ...next, rollbackHookIds: [...state.rollbackHookIds, awaited.requestId] };
    default:
      return next;
  }
}

function withChecks(
  state: ClusterCanaryState,
  interval: Interval,
  checks: readonly AwaitedResult[],
): ClusterCanaryState {
  const complete = checks.length > 0 && checks.every((c) => c.outcome !== undefined);
  const passed = complete && checks.every((c) => c.outcome === CheckOutcome.Passed);
  // A passing interval ends a row of holds.
  return {
    ...state,
    ...(passed ? { heldChecks: 0 } : {}),
    interval: { ...interval, checks },
  };
}

/** Sets the outcome of the awaited result `requestId` if it is still awaited. */
function answer(
  results: readonly AwaitedResult[],
  requestId: string | undefined,
  reply: Partial<AwaitedResult>,
): readonly AwaitedResult[] {
  return results.map((r) =>
    r.requestId === requestId && r.outcome === undefined ? { ...r, ...reply } : r,
  );
}

/** Code-unit order, independent of the locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
