/**
 * Test fixtures for the cluster canary decider: a context, builders for the agent's facts, and a
 * Given/When/Then specification that checks every decided event against its proto schema
 * (`fromJson`) and its canonical form (`toJson(fromJson(x))` equals `x`).
 */
import {
  type AnalysisOutcomeJson,
  type ObservationJson,
  type RoutesJson,
  releaseEventSchemas,
  type WebhookOutcomeJson,
  type WebhookTypeJson,
} from '@aviary/proto';
import { type DescMessage, fromJson, type JsonValue, toJson } from '@bufbuild/protobuf';
import { minimal } from '../spec/test-helpers.ts';
import { validateRollout } from '../spec/validate-rollout.ts';
import { DeciderSpecification } from '../testing/decider-specification.ts';
import { createClusterCanaryDecider } from './decider.ts';
import { formatTimestamp } from './json.ts';
import type { CanaryCommand, CanaryContext, CanaryEvent } from './types.ts';

export const RELEASE = 'rel-1';
export const CLUSTER = 'eu-1';
export const WORKLOAD = {
  namespace: 'test',
  name: 'podinfo',
  kind: 'WORKLOAD_KIND_DEPLOYMENT',
} as const;
export const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
export const MINUTE = 60_000;
export const OLD = 'rev-old';
export const NEW = 'rev-new';

/** A context over `minimal()` edited by `patch` (analysis `interval` defaults to 1 m). */
export function contextOf(patch: Parameters<typeof minimal>[0] = () => {}): CanaryContext {
  return {
    releaseId: RELEASE,
    cluster: CLUSTER,
    workload: WORKLOAD,
    rollout: validateRollout(minimal(patch)),
  };
}

const schemas = new Map<string, DescMessage>(releaseEventSchemas.map((d) => [d.name, d]));

/** Throws unless `event.data` is the canonical proto JSON of the message named `event.type`. */
export function checkEvent(event: CanaryEvent): void {
  const schema = schemas.get(event.type);
  if (schema === undefined) throw new Error(`no schema for event type ${event.type}`);
  const message = fromJson(schema, event.data as JsonValue);
  const canonical = JSON.stringify(toJson(schema, message));
  const given = JSON.stringify(event.data);
  if (canonical !== given) {
    throw new Error(
      `${event.type} is not canonical JSON:\n  given     ${given}\n  canonical ${canonical}`,
    );
  }
}

export function specificationFor(context: CanaryContext) {
  return DeciderSpecification.for(createClusterCanaryDecider(context), { check: checkEvent });
}

/** Runs commands one after the other from the given events, returning every event. */
export function run(
  context: CanaryContext,
  commands: readonly CanaryCommand[],
  given: readonly CanaryEvent[] = [],
): CanaryEvent[] {
  const decider = createClusterCanaryDecider(context);
  let state = given.reduce(decider.evolve, decider.initialState());
  const events = [...given];
  for (const command of commands) {
    const decided = decider.decide(command, state);
    for (const event of decided) checkEvent(event);
    state = decided.reduce(decider.evolve, state);
    events.push(...decided);
  }
  return events;
}

// Commands -------------------------------------------------------------------------------------

export const tick = (nowMs: number): CanaryCommand => ({ type: 'Tick', data: { nowMs } });

let observationSeq = 0;
function observation(body: Omit<ObservationJson, 'observationId' | 'cluster'>): CanaryCommand {
  observationSeq += 1;
  return {
    type: 'Observe',
    data: { observation: { observationId: `obs-${observationSeq}`, cluster: CLUSTER, ...body } },
  };
}

export const revisionSeen = (id: string): CanaryCommand =>
  observation({ revisionSeen: { workload: WORKLOAD, revision: { id, podTemplateHash: id } } });

export const ready = (role: 'canary' | 'primary', revisionId: string): CanaryCommand =>
  observation({
    workloadReadiness: {
      workload: WORKLOAD,
      role: role === 'canary' ? 'DEPLOYMENT_ROLE_CANARY' : 'DEPLOYMENT_ROLE_PRIMARY',
      revisionId,
      generation: '2',
      observedGeneration: '2',
      desiredReplicas: 2,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
    },
  });

/** The canary stuck: `Available=False/MinimumReplicasUnavailable` since `sinceMs`. */
export const stuck = (revisionId: string, sinceMs: number): CanaryCommand =>
  observation({
    workloadReadiness: {
      workload: WORKLOAD,
      role: 'DEPLOYMENT_ROLE_CANARY',
      revisionId,
      generation: '2',
      observedGeneration: '2',
      desiredReplicas: 2,
      replicas: 2,
      updatedReplicas: 2,
      conditions: [
        { type: 'Progressing', status: 'CONDITION_STATUS_TRUE', reason: 'ReplicaSetUpdated' },
        {
          type: 'Available',
          status: 'CONDITION_STATUS_FALSE',
          reason: 'MinimumReplicasUnavailable',
          lastUpdateTime: formatTimestamp(sinceMs),
        },
      ],
    },
  });

export const succeeded = (commandId: string): CanaryCommand =>
  observation({ commandResult: { commandId, outcome: 'COMMAND_OUTCOME_SUCCEEDED' } });

export const routesApplied = (commandId: string, routes: RoutesJson): CanaryCommand =>
  observation({
    routesApplied: { workload: WORKLOAD, router: 'ROUTER_KIND_ISTIO', routes, commandId },
  });

export const verdict = (
  requestId: string,
  checkName: string,
  outcome: AnalysisOutcomeJson,
  message = '',
): CanaryCommand => ({
  type: 'RecordVerdict',
  data: {
    verdict: {
      requestId,
      releaseId: RELEASE,
      cluster: CLUSTER,
      checkName,
      outcome,
      ...(message === '' ? {} : { message }),
    },
  },
});

export const webhookResult = (
  requestId: string,
  name: string,
  type: WebhookTypeJson,
  outcome: WebhookOutcomeJson,
): CanaryCommand => ({
  type: 'RecordWebhookResult',
  data: {
    requestId,
    cluster: CLUSTER,
    name,
    type,
    outcome,
    statusCode: outcome === 'WEBHOOK_OUTCOME_PASSED' ? 200 : 403,
  },
});

export const operator = (
  action:
    | 'OPERATOR_ACTION_PAUSE'
    | 'OPERATOR_ACTION_RESUME'
    | 'OPERATOR_ACTION_PROMOTE'
    | 'OPERATOR_ACTION_ABORT'
    | 'OPERATOR_ACTION_ROLLBACK'
    | 'OPERATOR_ACTION_RETRY',
  actor = 'alice',
): CanaryCommand => ({ type: 'OperatorAction', data: { actor, action, cluster: CLUSTER } });

// Reading events -------------------------------------------------------------------------------

/** The ids of the agent commands among `events`, by event type (in order). */
export function commandIds(events: readonly CanaryEvent[], type: CanaryEvent['type']): string[] {
  return events
    .filter((e) => e.type === type)
    .map((e) => (e.data as { command?: { commandId?: string } }).command?.commandId ?? '');
}

/** The request ids of AnalysisRequested / WebhookRequested events. */
export function requestIds(events: readonly CanaryEvent[]): string[] {
  return events.flatMap((e) =>
    e.type === 'AnalysisRequested'
      ? [e.data.request?.requestId ?? '']
      : e.type === 'WebhookRequested'
        ? [e.data.call?.requestId ?? '']
        : [],
  );
}

/** A compact trace: the phase changes and the requested routes, `p/c` with `m` when mirrored. */
export function summary(events: readonly CanaryEvent[]): string[] {
  return events.flatMap((e) => {
    switch (e.type) {
      case 'CanaryPhaseChanged':
        return [`phase ${(e.data.phase ?? '').replace('CANARY_PHASE_', '')}`];
      case 'CanaryWeightRequested': {
        const r = e.data.command?.setRoutes?.routes ?? {};
        return [
          `routes ${r.primaryWeightPercent ?? 0}/${r.canaryWeightPercent ?? 0}${r.mirror === true ? 'm' : ''}`,
        ];
      }
      case 'CanaryCheckFailed':
        return [`failed ${e.data.failedChecks ?? 0}/${e.data.threshold ?? 0}`];
      case 'CanaryCheckHeld':
        return [`held ${e.data.heldChecks ?? 0}/${e.data.limit ?? 0}`];
      case 'CanaryIterationCompleted':
        return [`iteration ${e.data.iterations ?? 0}`];
      case 'TickRecorded':
      case 'ObservationRecorded':
      case 'AnalysisVerdictRecorded':
      case 'WebhookResultRecorded':
      case 'OperatorActionRecorded':
        return [];
      default:
        return [e.type];
    }
  });
}

// A simulated agent, analyzer and webhook receiver --------------------------------------------

export interface SimulationOptions {
  /** Verdict for a metric request; default SUCCESSFUL. Return undefined to never answer. */
  readonly verdict?: (checkName: string, tickIndex: number) => AnalysisOutcomeJson | undefined;
  /** Outcome of a webhook call; default PASSED. Return undefined to never answer. */
  readonly webhook?: (
    name: string,
    type: WebhookTypeJson,
    tickIndex: number,
  ) => WebhookOutcomeJson | undefined;
  /** Whether the agent confirms a command; default yes. */
  readonly confirm?: (commandId: string) => boolean;
}

/**
 * Drives one canary: `tick(now)` decides a tick, then answers every effect the way a healthy
 * agent / analyzer / webhook would (unless told otherwise), feeding each answer to the decider.
 * `log` holds every command with the events it produced, for replay tests.
 */
export class Simulation {
  readonly log: { command: CanaryCommand; events: CanaryEvent[] }[] = [];
  private readonly decider;
  private state;
  private tickIndex = 0;
  private readonly options: SimulationOptions;

  constructor(context: CanaryContext, options: SimulationOptions = {}) {
    this.decider = createClusterCanaryDecider(context);
    this.state = this.decider.initialState();
    this.options = options;
  }

  get events(): CanaryEvent[] {
    return this.log.flatMap((l) => l.events);
  }

  get current() {
    return this.state;
  }

  /** Decides one command (no automatic answers). */
  send(command: CanaryCommand): CanaryEvent[] {
    const events = this.decider.decide(command, this.state);
    for (const event of events) checkEvent(event);
    this.state = events.reduce(this.decider.evolve, this.state);
    this.log.push({ command, events });
    return events;
  }

  /** Ticks, then answers its effects (and the effects of the answers); returns every event. */
  tick(nowMs: number): CanaryEvent[] {
    this.tickIndex += 1;
    const before = this.log.length;
    this.answer(this.send(tick(nowMs)));
    return this.log.slice(before).flatMap((l) => l.events);
  }

  private answer(events: readonly CanaryEvent[]): void {
    const index = this.tickIndex;
    for (const event of events) {
      const confirm = (id: string) => this.options.confirm?.(id) ?? true;
      switch (event.type) {
        case 'ClusterCanaryInitializationRequested': {
          const id = event.data.command?.commandId ?? '';
          if (!confirm(id)) break;
          this.answer(this.send(succeeded(id)));
          this.answer(this.send(ready('primary', OLD)));
          break;
        }
        case 'CanaryScaleRequested': {
          const id = event.data.command?.commandId ?? '';
          if (!confirm(id)) break;
          this.answer(this.send(succeeded(id)));
          this.answer(this.send(ready('canary', this.state.runRevisionId)));
          break;
        }
        case 'CanaryPromotionRequested': {
          const id = event.data.command?.commandId ?? '';
          if (!confirm(id)) break;
          this.answer(this.send(succeeded(id)));
          this.answer(
            this.send(ready('primary', event.data.command?.promoteCanary?.revisionId ?? '')),
          );
          break;
        }
        case 'CanaryScaleToZeroRequested': {
          const id = event.data.command?.commandId ?? '';
          if (confirm(id)) this.answer(this.send(succeeded(id)));
          break;
        }
        case 'CanaryWeightRequested': {
          const command = event.data.command ?? {};
          const id = command.commandId ?? '';
          if (confirm(id))
            this.answer(this.send(routesApplied(id, command.setRoutes?.routes ?? {})));
          break;
        }
        case 'AnalysisRequested': {
          const request = event.data.request ?? {};
          const outcome = (this.options.verdict ?? (() => 'ANALYSIS_OUTCOME_SUCCESSFUL'))(
            request.checkName ?? '',
            index,
          );
          if (outcome !== undefined) {
            this.answer(
              this.send(verdict(request.requestId ?? '', request.checkName ?? '', outcome)),
            );
          }
          break;
        }
        case 'WebhookRequested': {
          const call = event.data.call ?? {};
          const type = call.type ?? 'WEBHOOK_TYPE_UNSPECIFIED';
          const outcome = (this.options.webhook ?? (() => 'WEBHOOK_OUTCOME_PASSED'))(
            call.name ?? '',
            type,
            index,
          );
          if (outcome !== undefined && type !== 'WEBHOOK_TYPE_POST_ROLLOUT') {
            this.answer(
              this.send(webhookResult(call.requestId ?? '', call.name ?? '', type, outcome)),
            );
          }
          break;
        }
        default:
          break;
      }
    }
  }
}

/** A simulation bootstrapped in its cluster (Initialized, primary on OLD) with NEW seen. */
export function started(context: CanaryContext, options: SimulationOptions = {}): Simulation {
  const sim = new Simulation(context, options);
  sim.tick(T0 - 2 * MINUTE);
  sim.tick(T0 - MINUTE);
  sim.send(revisionSeen(NEW));
  return sim;
}
