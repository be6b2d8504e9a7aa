/**
 * Runs a scenario (`types.ts`) against the release decider with a simulated fleet of agents, an
 * analyzer and a webhook receiver, answering at once (or, for a slow provider's verdicts, before
 * a later tick) and deterministically. Pure: the clock is
 * the scenario's tick offsets.
 */
import { AviaryError, ErrorCode, ValidationError, type ValidationIssue } from '@aviary/core';
import type {
  AnalysisOutcomeJson,
  ObservationJson,
  OperatorActionJson,
  WebhookOutcomeJson,
  WorkloadRefJson,
} from '@aviary/proto';
import { formatTimestamp, parseTimestamp } from '../canary/json.ts';
import type { CanaryEvent } from '../canary/types.ts';
import { workloadOf } from '../fleet/decide.ts';
import { createReleaseDecider, type ReleaseDecider } from '../fleet/decider.ts';
import { clusterOfEvent } from '../fleet/evolve.ts';
import type {
  ClusterInfo,
  ReleaseCommand,
  ReleaseContext,
  ReleaseEvent,
  ReleaseState,
} from '../fleet/types.ts';
import { isInputFact } from '../replay/history.ts';
import { parseDurationMs } from '../spec/duration.ts';
import { parseDocuments } from '../spec/parse-rollout.ts';
import { validateRollout } from '../spec/validate-rollout.ts';
import type { Behaviour, Expectation, OperatorStep, Scenario, Step } from './types.ts';

export const DEFAULT_START = '2026-11-23T09:00:00Z';

/** One line of output: a tick (or an operator action) with what was decided on it. */
export interface TickLine {
  readonly step: number;
  readonly input: 'tick' | 'operator';
  readonly at: string;
  /** Offset from the start, `+3m`. */
  readonly offset: string;
  readonly operator?: string;
  readonly phases: Record<string, string>;
  readonly weights: Record<string, number>;
  /** Every decision of the tick and of the answers it got (input facts left out). */
  readonly decisions: readonly ReleaseEvent[];
}

export interface ScenarioRun {
  readonly name: string;
  readonly ticks: readonly TickLine[];
  readonly failures: readonly string[];
  /** The whole recorded stream (inputs and decisions), for `replay` / `whatIf`. */
  readonly history: readonly ReleaseEvent[];
  readonly context: ReleaseContext;
  readonly state: ReleaseState;
}

/** Parses a scenario document (YAML or JSON). Throws `ValidationError` for a malformed one. */
export function parseScenario(text: string): Scenario {
  const [document] = parseDocuments(text, 'yaml', 'scenario');
  return validateScenario(document);
}

export function validateScenario(value: unknown): Scenario {
  const issues: ValidationIssue[] = [];
  const s = (value ?? {}) as Record<string, unknown>;
  if (typeof s.name !== 'string' || s.name === '') issues.push(issue('name', 'must be a string'));
  if (typeof s.rollout !== 'object' || s.rollout === null) {
    issues.push(issue('rollout', 'must be a Rollout resource'));
  }
  if (!Array.isArray(s.clusters) || s.clusters.length === 0) {
    issues.push(issue('clusters', 'must list at least one cluster'));
  }
  if (!Array.isArray(s.steps)) issues.push(issue('steps', 'must be a list'));
  for (const [i, step] of (Array.isArray(s.steps) ? s.steps : []).entries()) {
    const st = (step ?? {}) as Record<string, unknown>;
    for (const key of ['at', 'every', 'until'] as const) {
      const v = st[key];
      if (v !== undefined && (typeof v !== 'string' || !parseDurationMs(v).ok)) {
        issues.push(issue(`steps[${i}].${key}`, 'must be a duration such as 1m'));
      }
    }
    if ((st.every === undefined) !== (st.until === undefined)) {
      issues.push(issue(`steps[${i}]`, 'every and until go together'));
    }
    if (st.at !== undefined && st.every !== undefined) {
      issues.push(issue(`steps[${i}]`, 'at and every are exclusive'));
    }
  }
  if (issues.length > 0) throw new ValidationError('invalid scenario', issues);
  return value as Scenario;
}

const issue = (path: string, message: string): ValidationIssue => ({ path, message });

const ms = (duration: string): number => {
  const parsed = parseDurationMs(duration);
  if (!parsed.ok) throw new AviaryError(ErrorCode.Validation, parsed.message);
  return parsed.ms;
};

/** Runs a scenario; every failed expectation (and every refused input) is a line of `failures`. */
export function runScenario(scenario: Scenario): ScenarioRun {
  const startMs = parseTimestamp(scenario.startAt ?? DEFAULT_START);
  if (startMs === undefined) {
    throw new AviaryError(ErrorCode.Validation, `startAt: not an RFC 3339 instant`);
  }
  const context: ReleaseContext = {
    releaseId: scenario.releaseId ?? 'rel-1',
    revisionId: scenario.revision ?? 'rev-new',
    rollout: validateRollout(scenario.rollout),
  };
  const sim = new FleetRun(context, scenario, startMs);
  sim.start();
  for (const [index, step] of scenario.steps.entries()) sim.step(index, step);
  if (scenario.expect !== undefined) {
    sim.check('end', scenario.expect, sim.decisions(0));
  }
  return {
    name: scenario.name,
    ticks: sim.lines,
    failures: sim.failures,
    history: sim.history,
    context,
    state: sim.state,
  };
}

const OUTCOMES: Record<string, AnalysisOutcomeJson> = {
  SUCCESSFUL: 'ANALYSIS_OUTCOME_SUCCESSFUL',
  FAILED: 'ANALYSIS_OUTCOME_FAILED',
  INCONCLUSIVE: 'ANALYSIS_OUTCOME_INCONCLUSIVE',
  ERROR: 'ANALYSIS_OUTCOME_ERROR',
  CONFIG_ERROR: 'ANALYSIS_OUTCOME_ERROR',
};
/** What the simulated analyzer says of a query its backend rejects (`CONFIG_ERROR`). */
const CONFIG_ERROR_MESSAGE = 'provider query-rejected: bad_data: parse error (HTTP 400)';
const WEBHOOK_OUTCOMES: Record<string, WebhookOutcomeJson> = {
  PASSED: 'WEBHOOK_OUTCOME_PASSED',
  FAILED: 'WEBHOOK_OUTCOME_FAILED',
  ERROR: 'WEBHOOK_OUTCOME_ERROR',
};

class FleetRun {
  readonly lines: TickLine[] = [];
  readonly failures: string[] = [];
  readonly history: ReleaseEvent[] = [];
  state: ReleaseState;
  private readonly decider: ReleaseDecider;
  private readonly workload: WorkloadRefJson;
  private readonly previous: string;
  private nowMs: number;
  private observationSeq = 0;
  /** Verdicts of a slow provider (`verdictDelays`), in the order they fall due. */
  private late: { readonly dueMs: number; readonly command: ReleaseCommand }[] = [];
  private behaviour: Behaviour;
  private readonly clusters: readonly ClusterInfo[];

  private readonly scenario: Scenario;
  private readonly startMs: number;

  constructor(context: ReleaseContext, scenario: Scenario, startMs: number) {
    this.scenario = scenario;
    this.startMs = startMs;
    this.decider = createReleaseDecider(context);
    this.state = this.decider.initialState();
    this.workload = workloadOf(context);
    this.previous = scenario.previousRevision ?? 'rev-old';
    this.nowMs = startMs;
    this.behaviour = scenario.behaviour ?? {};
    this.clusters = scenario.clusters.map((c) => ({ name: c.name, labels: { ...c.labels } }));
  }

  /** Decisions recorded from history index `from` on. */
  decisions(from: number): ReleaseEvent[] {
    return this.history.slice(from).filter((e) => !isInputFact(e));
  }

  /** Heartbeats, the release's start, and every agent seeing the new revision. */
  start(): void {
    for (const c of this.clusters) {
      this.send(
        this.observe(c.name, { heartbeat: { labels: { ...c.labels }, agentVersion: '1' } }),
      );
    }
    this.send({ type: 'StartRelease', data: { clusters: [] } });
    const revision = this.scenario.revision ?? 'rev-new';
    for (const c of this.clusters) {
      this.send(
        this.observe(c.name, {
          revisionSeen: {
            workload: this.workload,
            revision: { id: revision, podTemplateHash: revision },
          },
        }),
      );
    }
  }

  step(index: number, step: Step): void {
    const from = this.history.length;
    this.behaviour = merge(this.scenario.behaviour ?? {}, step.behaviour ?? {});
    for (const c of step.register ?? []) {
      this.send(
        this.observe(c.name, { heartbeat: { labels: { ...c.labels }, agentVersion: '1' } }),
      );
      const revision = this.scenario.revision ?? 'rev-new';
      this.send(
        this.observe(c.name, {
          revisionSeen: {
            workload: this.workload,
            revision: { id: revision, podTemplateHash: revision },
          },
        }),
      );
    }
    for (const op of step.operator ?? []) this.operator(index, op);
    if (step.supersede !== undefined) {
      const { release, revision } = step.supersede;
      try {
        this.send({ type: 'Supersede', data: { releaseId: release, revisionId: revision } });
      } catch (error) {
        this.failures.push(`step ${index}: supersede refused: ${(error as Error).message}`);
      }
    }
    if (step.at !== undefined) this.tick(index, this.startMs + ms(step.at));
    if (step.every !== undefined && step.until !== undefined) {
      const every = ms(step.every);
      const until = this.startMs + ms(step.until);
      for (let now = this.nowMs + every; now <= until && !this.state.finished; now += every) {
        this.tick(index, now);
      }
    }
    if (step.expect !== undefined) this.check(`step ${index}`, step.expect, this.decisions(from));
  }

  check(where: string, expect: Expectation, decided: readonly ReleaseEvent[]): void {
    const fail = (message: string) => this.failures.push(`${where}: ${message}`);
    for (const [cluster, phase] of Object.entries(expect.phases ?? {})) {
      const actual = phaseName(this.state.canaries[cluster]?.phase);
      if (actual !== phase) fail(`phase of ${cluster}: expected ${phase}, got ${actual}`);
    }
    for (const [cluster, weight] of Object.entries(expect.weights ?? {})) {
      const actual = this.state.canaries[cluster]?.canaryWeightPercent;
      if (actual !== weight) fail(`weight of ${cluster}: expected ${weight}, got ${actual}`);
    }
    const labels = decided.map(label);
    const has = (wanted: string) => labels.some((l) => l === wanted || l.startsWith(`${wanted}@`));
    for (const wanted of expect.events ?? []) {
      if (!has(wanted)) fail(`expected ${wanted} to be decided`);
    }
    for (const unwanted of expect.absent ?? []) {
      if (has(unwanted)) fail(`expected no ${unwanted}`);
    }
    if (expect.release !== undefined) {
      const actual = releaseOutcome(this.history);
      if (actual !== expect.release) fail(`release: expected ${expect.release}, got ${actual}`);
    }
    if (expect.timeline !== undefined) {
      const actual = timelineOf(this.history, this.startMs);
      if (JSON.stringify(actual) !== JSON.stringify(expect.timeline)) {
        fail(
          `timeline: expected\n  ${expect.timeline.join('\n  ')}\ngot\n  ${actual.join('\n  ')}`,
        );
      }
    }
  }

  private line(step: number, input: 'tick' | 'operator', from: number, operator = ''): void {
    const phases: Record<string, string> = {};
    const weights: Record<string, number> = {};
    for (const [cluster, canary] of Object.entries(this.state.canaries)) {
      phases[cluster] = phaseName(canary.phase);
      weights[cluster] = canary.canaryWeightPercent;
    }
    this.lines.push({
      step,
      input,
      at: formatTimestamp(this.nowMs),
      offset: offset(this.nowMs - this.startMs),
      ...(operator === '' ? {} : { operator }),
      phases,
      weights,
      decisions: this.decisions(from),
    });
  }

  private operator(index: number, op: OperatorStep): void {
    const from = this.history.length;
    const action = `OPERATOR_ACTION_${op.action.toUpperCase()}` as OperatorActionJson;
    try {
      this.send({
        type: 'OperatorAction',
        data: {
          actor: op.actor ?? 'alice',
          action,
          ...(op.reason === undefined ? {} : { reason: op.reason }),
          ...(op.cluster === undefined ? {} : { cluster: op.cluster }),
        },
      });
    } catch (error) {
      this.failures.push(`step ${index}: ${op.action} refused: ${(error as Error).message}`);
      return;
    }
    this.line(
      index,
      'operator',
      from,
      `${op.action}${op.cluster === undefined ? '' : ` ${op.cluster}`}`,
    );
  }

  private tick(index: number, nowMs: number): void {
    const from = this.history.length;
    this.nowMs = nowMs;
    // Late verdicts due by now come in before the tick (between it and the previous one).
    const due = this.late.filter((l) => l.dueMs <= nowMs);
    this.late = this.late.filter((l) => l.dueMs > nowMs);
    for (const { command } of due) {
      try {
        this.send(command);
      } catch (error) {
        this.failures.push(`step ${index}: late verdict refused: ${(error as Error).message}`);
      }
    }
    this.send({ type: 'Tick', data: { nowMs } });
    this.line(index, 'tick', from);
  }

  private send(command: ReleaseCommand): void {
    const events = this.decider.decide(command, this.state);
    this.state = events.reduce(this.decider.evolve, this.state);
    this.history.push(...events);
    this.answer(events);
  }

  private observe(
    cluster: string,
    body: Omit<ObservationJson, 'observationId' | 'cluster'>,
  ): ReleaseCommand {
    this.observationSeq += 1;
    return {
      type: 'Observe',
      data: { observation: { observationId: `obs-${this.observationSeq}`, cluster, ...body } },
    };
  }

  private down(cluster: string): boolean {
    return (this.behaviour.agentDown ?? []).includes(cluster);
  }

  private readiness(
    cluster: string,
    role: 'canary' | 'primary',
    revisionId: string,
    ready: boolean,
  ) {
    const common = {
      workload: this.workload,
      role: role === 'canary' ? 'DEPLOYMENT_ROLE_CANARY' : 'DEPLOYMENT_ROLE_PRIMARY',
      revisionId,
      generation: '2',
      observedGeneration: '2',
      desiredReplicas: 2,
      replicas: 2,
      updatedReplicas: 2,
    } as const;
    this.send(
      this.observe(cluster, {
        workloadReadiness: ready
          ? { ...common, readyReplicas: 2, availableReplicas: 2 }
          : {
              ...common,
              conditions: [
                {
                  type: 'Available',
                  status: 'CONDITION_STATUS_FALSE',
                  reason: 'MinimumReplicasUnavailable',
                  lastUpdateTime: formatTimestamp(this.nowMs),
                },
              ],
            },
      }),
    );
  }

  private answer(events: readonly ReleaseEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'ClusterCanaryInitializationRequested':
        case 'CanaryScaleRequested':
        case 'CanaryPromotionRequested':
        case 'CanaryScaleToZeroRequested':
        case 'CanaryWeightRequested': {
          const command = event.data.command ?? {};
          const cluster = command.cluster ?? '';
          const id = command.commandId ?? '';
          if (this.down(cluster)) break;
          if (event.type === 'CanaryWeightRequested') {
            this.send(
              this.observe(cluster, {
                routesApplied: {
                  workload: this.workload,
                  router: 'ROUTER_KIND_ISTIO',
                  routes: command.setRoutes?.routes ?? {},
                  commandId: id,
                },
              }),
            );
            break;
          }
          this.send(
            this.observe(cluster, {
              commandResult: { commandId: id, outcome: 'COMMAND_OUTCOME_SUCCEEDED' },
            }),
          );
          if (event.type === 'ClusterCanaryInitializationRequested') {
            this.readiness(cluster, 'primary', this.previous, true);
          } else if (event.type === 'CanaryScaleRequested') {
            const ready = !(this.behaviour.canaryNotReady ?? []).includes(cluster);
            this.readiness(
              cluster,
              'canary',
              this.state.canaries[cluster]?.runRevisionId ?? '',
              ready,
            );
          } else if (event.type === 'CanaryPromotionRequested') {
            this.readiness(cluster, 'primary', command.promoteCanary?.revisionId ?? '', true);
          }
          break;
        }
        case 'ClusterRevertRequested': {
          const command = event.data.command ?? {};
          const cluster = command.cluster ?? '';
          if (this.down(cluster)) break;
          if ((this.behaviour.revertRejected ?? []).includes(cluster)) {
            this.send(
              this.observe(cluster, {
                commandResult: {
                  commandId: command.commandId ?? '',
                  outcome: 'COMMAND_OUTCOME_REJECTED',
                  reason: 'NoPreviousRevision',
                  message: 'no saved primary template',
                },
              }),
            );
            break;
          }
          this.send(
            this.observe(cluster, {
              commandResult: {
                commandId: command.commandId ?? '',
                outcome: 'COMMAND_OUTCOME_SUCCEEDED',
              },
            }),
          );
          this.readiness(cluster, 'primary', command.revertPrimary?.revisionId ?? '', true);
          break;
        }
        case 'AnalysisRequested': {
          const request = event.data.request ?? {};
          const cluster = request.cluster ?? '';
          const name = request.checkName ?? '';
          const wanted = pick(this.behaviour.verdicts, cluster, name) ?? 'SUCCESSFUL';
          const outcome = OUTCOMES[wanted];
          if (this.down(cluster) || outcome === undefined) break;
          const command: ReleaseCommand = {
            type: 'RecordVerdict',
            data: {
              verdict: {
                requestId: request.requestId ?? '',
                releaseId: request.releaseId ?? '',
                cluster,
                checkName: name,
                outcome,
                ...(wanted === 'CONFIG_ERROR'
                  ? { message: CONFIG_ERROR_MESSAGE, errorKind: 'ERROR_KIND_CONFIGURATION' }
                  : {}),
              },
            },
          };
          const delayMs = ms(pick(this.behaviour.verdictDelays, cluster, name) ?? '0s');
          if (delayMs === 0) {
            this.send(command);
            break;
          }
          const windowEndMs = parseTimestamp(request.windowEnd ?? '') ?? this.nowMs;
          const dueMs = windowEndMs + delayMs;
          // Stable: verdicts due at the same instant keep their request order.
          const at = this.late.findIndex((l) => l.dueMs > dueMs);
          this.late.splice(at === -1 ? this.late.length : at, 0, { dueMs, command });
          break;
        }
        case 'WebhookRequested': {
          const call = event.data.call ?? {};
          const cluster = call.cluster ?? '';
          const name = call.name ?? '';
          const type = call.type ?? 'WEBHOOK_TYPE_UNSPECIFIED';
          const fallback =
            type === 'WEBHOOK_TYPE_ROLLBACK' ||
            type === 'WEBHOOK_TYPE_POST_ROLLOUT' ||
            type === 'WEBHOOK_TYPE_EVENT'
              ? 'NONE'
              : 'PASSED';
          const outcome =
            WEBHOOK_OUTCOMES[pick(this.behaviour.webhooks, cluster, name) ?? fallback];
          if (this.down(cluster) || outcome === undefined) break;
          this.send({
            type: 'RecordWebhookResult',
            data: {
              requestId: call.requestId ?? '',
              cluster,
              name,
              type,
              outcome,
              statusCode: outcome === 'WEBHOOK_OUTCOME_PASSED' ? 200 : 403,
            },
          });
          break;
        }
        default:
          break;
      }
    }
  }
}

function pick<T>(table: Readonly<Record<string, T>> | undefined, cluster: string, name: string) {
  return table?.[`${cluster}/${name}`] ?? table?.[name] ?? table?.['*'];
}

function merge(base: Behaviour, over: Behaviour): Behaviour {
  return {
    verdicts: { ...base.verdicts, ...over.verdicts },
    verdictDelays: { ...base.verdictDelays, ...over.verdictDelays },
    webhooks: { ...base.webhooks, ...over.webhooks },
    agentDown: over.agentDown ?? base.agentDown ?? [],
    canaryNotReady: over.canaryNotReady ?? base.canaryNotReady ?? [],
    revertRejected: over.revertRejected ?? base.revertRejected ?? [],
  };
}

/** `CANARY_PHASE_WAITING_PROMOTION` → `WaitingPromotion`. */
export function phaseName(phase: string | undefined): string {
  if (phase === undefined) return 'none';
  return phase
    .replace('CANARY_PHASE_', '')
    .toLowerCase()
    .split('_')
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('');
}

/** `Type@cluster` (or `Type` for release-wide events). */
export function label(event: ReleaseEvent): string {
  const cluster = clusterOf(event);
  return cluster === '' ? event.type : `${event.type}@${cluster}`;
}

export function clusterOf(event: ReleaseEvent): string {
  switch (event.type) {
    case 'ReleaseStarted':
    case 'WaveStarted':
    case 'WaveBaking':
    case 'WaveSucceeded':
    case 'ReleaseFinished':
      return '';
    case 'SupersessionRecorded':
      return '';
    case 'ClusterSkipped':
    case 'ClusterRequeued':
    case 'ClusterJoined':
    case 'ClusterReverted':
    case 'ClusterRevertFailed':
    case 'FleetHalted':
      return event.data.cluster ?? '';
    case 'ClusterRevertRequested':
      return event.data.command?.cluster ?? '';
    default:
      return clusterOfEvent(event as CanaryEvent);
  }
}

/** `+90s`, `+3m`, `+2h` (the largest whole unit). */
export function offset(deltaMs: number): string {
  const sign = deltaMs < 0 ? '-' : '+';
  const abs = Math.abs(deltaMs);
  if (abs % 3_600_000 === 0 && abs > 0) return `${sign}${abs / 3_600_000}h`;
  if (abs % 60_000 === 0) return `${sign}${abs / 60_000}m`;
  return `${sign}${abs / 1000}s`;
}

/** `running`, or ReleaseFinished's outcome in lower case. */
export function releaseOutcome(history: readonly ReleaseEvent[]): string {
  const finished = history.find((e) => e.type === 'ReleaseFinished');
  if (finished?.type !== 'ReleaseFinished') return 'running';
  return (finished.data.outcome ?? '').replace('RELEASE_OUTCOME_', '').toLowerCase();
}

/**
 * The fleet-level story of a run, one line per event at the offset of the tick it came on:
 * waves, skips, requeues, halts, pauses, promotions, rollbacks, the end.
 */
export function timelineOf(history: readonly ReleaseEvent[], startMs: number): string[] {
  let nowMs = startMs;
  const lines: string[] = [];
  for (const e of history) {
    const at = offset(nowMs - startMs);
    switch (e.type) {
      case 'TickRecorded':
        nowMs = parseTimestamp(e.data.now) ?? nowMs;
        break;
      case 'WaveStarted':
        lines.push(
          `${offset(nowMs - startMs)} WaveStarted ${e.data.waveIndex ?? 0} [${(e.data.clusters ?? []).join(',')}]`,
        );
        break;
      case 'WaveSucceeded':
        lines.push(`${at} WaveSucceeded ${e.data.waveIndex ?? 0}`);
        break;
      case 'ClusterSkipped':
      case 'ClusterRequeued':
      case 'ClusterJoined':
        lines.push(`${at} ${e.type} ${e.data.cluster ?? ''} wave ${e.data.waveIndex ?? 0}`);
        break;
      case 'ClusterReverted':
        lines.push(`${at} ClusterReverted ${e.data.cluster ?? ''} to ${e.data.revisionId ?? ''}`);
        break;
      case 'ClusterRevertFailed':
        lines.push(`${at} ClusterRevertFailed ${e.data.cluster ?? ''}`);
        break;
      case 'FleetHalted':
        lines.push(
          `${at} FleetHalted ${e.data.cluster ?? ''} revert [${(e.data.clustersToRevert ?? []).join(',')}]`,
        );
        break;
      case 'ReleaseFinished':
        lines.push(
          `${at} ReleaseFinished ${(e.data.outcome ?? '').replace('RELEASE_OUTCOME_', '')}${e.data.supersededByReleaseId ? ` by ${e.data.supersededByReleaseId}` : ''}`,
        );
        break;
      case 'ReleasePaused':
      case 'ReleaseResumed':
      case 'CanaryPromoted':
      case 'CanaryRolledBack':
        lines.push(`${at} ${e.type}${e.data.cluster ? ` ${e.data.cluster}` : ''}`);
        break;
      default:
        break;
    }
  }
  return lines;
}
