/**
 * Test fixtures for the release decider: a three-wave fleet over two regions, and a simulated
 * fleet of agents (with the analyzer) answering every effect the way healthy ones would, unless
 * told otherwise. Every decided event is checked against its proto schema (`checkEvent`).
 */
import type { AnalysisOutcomeJson, ObservationJson } from '@aviary/proto';
import { checkEvent, MINUTE, NEW, OLD, RELEASE, T0, WORKLOAD } from '../canary/test-kit.ts';
import type { CanaryCommand, CanaryEvent } from '../canary/types.ts';
import { minimal } from '../spec/test-helpers.ts';
import { validateRollout } from '../spec/validate-rollout.ts';
import { DeciderSpecification } from '../testing/decider-specification.ts';
import { createReleaseDecider, type ReleaseDecider } from './decider.ts';
import type {
  ClusterInfo,
  ReleaseCommand,
  ReleaseContext,
  ReleaseEvent,
  ReleaseState,
} from './types.ts';

export { MINUTE, NEW, OLD, RELEASE, T0 };
export const HOUR = 60 * MINUTE;

export const CLUSTERS: readonly ClusterInfo[] = [
  { name: 'eu-1', labels: { region: 'eu', env: 'prod' } },
  { name: 'eu-2', labels: { region: 'eu', env: 'prod' } },
  { name: 'eu-3', labels: { region: 'eu', env: 'prod' } },
  { name: 'us-1', labels: { region: 'us', env: 'prod' } },
  { name: 'us-2', labels: { region: 'us', env: 'prod' } },
];

// biome-ignore lint/suspicious/noExplicitAny: test fixtures are edited freely.
type Patch = (fleet: { [key: string]: any }) => void;

/** Three waves over two regions: eu-1 alone, the rest of eu one at a time, then us all at once. */
export function fleetContext(patch: Patch = () => {}): ReleaseContext {
  const fleet = {
    failurePolicy: 'halt',
    waves: [
      { name: 'canary', clusters: ['eu-1'], bake: '30m' },
      { name: 'europe', selector: { matchLabels: { region: 'eu' } }, maxParallel: 1, bake: '15m' },
      { name: 'rest', selector: { matchLabels: { env: 'prod' } }, maxParallel: 'all', bake: '1h' },
    ],
  };
  patch(fleet);
  return {
    releaseId: RELEASE,
    revisionId: NEW,
    rollout: validateRollout(
      minimal((r) => {
        r.spec.analysis = {
          interval: '1m',
          threshold: 1,
          stepWeight: 50,
          metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
        };
        r.spec.fleet = fleet;
      }),
    ),
  };
}

export const check = (event: ReleaseEvent): void => checkEvent(event as CanaryEvent);

export function specificationFor(context: ReleaseContext) {
  return DeciderSpecification.for(createReleaseDecider(context), { check });
}

// Commands -------------------------------------------------------------------------------------

export const tick = (nowMs: number): ReleaseCommand => ({ type: 'Tick', data: { nowMs } });
export const startRelease = (clusters: readonly ClusterInfo[] = []): ReleaseCommand => ({
  type: 'StartRelease',
  data: { clusters },
});

export function observe(
  cluster: string,
  id: string,
  body: Omit<ObservationJson, 'observationId' | 'cluster'>,
): CanaryCommand {
  return { type: 'Observe', data: { observation: { observationId: id, cluster, ...body } } };
}

export const heartbeat = (cluster: ClusterInfo): CanaryCommand =>
  observe(cluster.name, `hb-${cluster.name}`, {
    heartbeat: { labels: { ...cluster.labels }, agentVersion: '1.0.0' },
  });

export const operator = (
  action: NonNullable<Extract<CanaryCommand, { type: 'OperatorAction' }>['data']['action']>,
  cluster = '',
  actor = 'alice',
): CanaryCommand => ({
  type: 'OperatorAction',
  data: { actor, action, ...(cluster === '' ? {} : { cluster }) },
});

// A simulated fleet ----------------------------------------------------------------------------

export interface FleetOptions {
  /** Verdict for a metric request; default SUCCESSFUL. */
  readonly verdict?: (cluster: string, checkName: string) => AnalysisOutcomeJson;
  /** Whether a cluster's agent answers at all; default yes. */
  readonly up?: (cluster: string) => boolean;
}

/** One logged command, the events it produced and the `now` of the last tick. */
export interface Logged {
  readonly command: ReleaseCommand;
  readonly events: ReleaseEvent[];
  readonly nowMs: number;
}

export class FleetSimulation {
  readonly log: Logged[] = [];
  readonly decider: ReleaseDecider;
  state: ReleaseState;
  nowMs = 0;
  private observationSeq = 0;
  options: FleetOptions;

  constructor(context: ReleaseContext, options: FleetOptions = {}) {
    this.decider = createReleaseDecider(context);
    this.state = this.decider.initialState();
    this.options = options;
  }

  get events(): ReleaseEvent[] {
    return this.log.flatMap((l) => l.events);
  }

  send(command: ReleaseCommand): ReleaseEvent[] {
    const events = this.decider.decide(command, this.state);
    for (const event of events) check(event);
    this.state = events.reduce(this.decider.evolve, this.state);
    this.log.push({ command, events, nowMs: this.nowMs });
    return events;
  }

  /** Heartbeats from every cluster, then the release starts, then every agent sees NEW. */
  start(clusters: readonly ClusterInfo[] = CLUSTERS): this {
    for (const cluster of clusters) this.send(heartbeat(cluster));
    this.send(startRelease());
    for (const cluster of clusters) {
      this.send(
        observe(cluster.name, `seen-${cluster.name}`, {
          revisionSeen: { workload: WORKLOAD, revision: { id: NEW, podTemplateHash: NEW } },
        }),
      );
    }
    return this;
  }

  tick(nowMs: number): ReleaseEvent[] {
    this.nowMs = nowMs;
    const before = this.log.length;
    this.answer(this.send(tick(nowMs)));
    return this.log.slice(before).flatMap((l) => l.events);
  }

  /** Ticks every minute until the release finishes or `untilMs`. */
  runUntil(untilMs: number, stepMs = MINUTE): this {
    for (let now = this.nowMs + stepMs; now <= untilMs && !this.state.finished; now += stepMs) {
      this.tick(now);
    }
    return this;
  }

  private observe(cluster: string, body: Omit<ObservationJson, 'observationId' | 'cluster'>) {
    this.observationSeq += 1;
    this.answer(this.send(observe(cluster, `obs-${this.observationSeq}`, body)));
  }

  private ready(cluster: string, role: 'canary' | 'primary', revisionId: string) {
    this.observe(cluster, {
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
  }

  private succeeded(cluster: string, commandId: string) {
    this.observe(cluster, { commandResult: { commandId, outcome: 'COMMAND_OUTCOME_SUCCEEDED' } });
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
          if (!(this.options.up?.(cluster) ?? true)) break;
          if (event.type === 'CanaryWeightRequested') {
            this.observe(cluster, {
              routesApplied: {
                workload: WORKLOAD,
                router: 'ROUTER_KIND_ISTIO',
                routes: command.setRoutes?.routes ?? {},
                commandId: id,
              },
            });
            break;
          }
          this.succeeded(cluster, id);
          if (event.type === 'ClusterCanaryInitializationRequested') {
            this.ready(cluster, 'primary', OLD);
          } else if (event.type === 'CanaryScaleRequested') {
            this.ready(cluster, 'canary', this.state.canaries[cluster]?.runRevisionId ?? '');
          } else if (event.type === 'CanaryPromotionRequested') {
            this.ready(cluster, 'primary', command.promoteCanary?.revisionId ?? '');
          }
          break;
        }
        case 'ClusterRevertRequested': {
          const command = event.data.command ?? {};
          const cluster = command.cluster ?? '';
          if (!(this.options.up?.(cluster) ?? true)) break;
          this.succeeded(cluster, command.commandId ?? '');
          this.ready(cluster, 'primary', command.revertPrimary?.revisionId ?? '');
          break;
        }
        case 'AnalysisRequested': {
          const request = event.data.request ?? {};
          const cluster = request.cluster ?? '';
          if (!(this.options.up?.(cluster) ?? true)) break;
          const outcome = (this.options.verdict ?? (() => 'ANALYSIS_OUTCOME_SUCCESSFUL'))(
            cluster,
            request.checkName ?? '',
          );
          this.answer(
            this.send({
              type: 'RecordVerdict',
              data: {
                verdict: {
                  requestId: request.requestId ?? '',
                  releaseId: RELEASE,
                  cluster,
                  checkName: request.checkName ?? '',
                  outcome,
                },
              },
            }),
          );
          break;
        }
        default:
          break;
      }
    }
  }
}

// Reading a run --------------------------------------------------------------------------------

/** The cluster an event is about, if any. */
export function clusterOf(event: ReleaseEvent): string {
  const data = event.data as {
    cluster?: string;
    command?: { cluster?: string };
    request?: { cluster?: string };
    call?: { cluster?: string };
    observation?: { cluster?: string };
    verdict?: { cluster?: string };
  };
  return (
    data.command?.cluster ??
    data.request?.cluster ??
    data.call?.cluster ??
    data.observation?.cluster ??
    data.verdict?.cluster ??
    data.cluster ??
    ''
  );
}

/** Fleet-level events with the `now` of the tick they were decided at, as compact lines. */
export function fleetTimeline(log: readonly Logged[]): string[] {
  return log.flatMap((l) =>
    l.events.flatMap((e) => {
      const at = `+${(l.nowMs - T0) / MINUTE}m`;
      switch (e.type) {
        case 'WaveStarted':
          return [
            `${at} WaveStarted ${e.data.waveIndex ?? 0} [${(e.data.clusters ?? []).join(',')}]`,
          ];
        case 'WaveBaking':
          return [
            `${at} WaveBaking ${e.data.waveIndex ?? 0} until +${(Date.parse(e.data.bakeUntil ?? '') - T0) / MINUTE}m`,
          ];
        case 'WaveSucceeded':
          return [`${at} WaveSucceeded ${e.data.waveIndex ?? 0}`];
        case 'ClusterSkipped':
        case 'ClusterRequeued':
        case 'ClusterJoined':
          return [`${at} ${e.type} ${e.data.cluster ?? ''} wave ${e.data.waveIndex ?? 0}`];
        case 'ClusterReverted':
          return [`${at} ClusterReverted ${e.data.cluster ?? ''} to ${e.data.revisionId ?? ''}`];
        case 'ClusterRevertFailed':
          return [`${at} ClusterRevertFailed ${e.data.cluster ?? ''}`];
        case 'FleetHalted':
          return [
            `${at} FleetHalted ${e.data.cluster ?? ''} revert [${(e.data.clustersToRevert ?? []).join(',')}]`,
          ];
        case 'ReleaseFinished':
          return [`${at} ReleaseFinished ${e.data.outcome ?? ''}`];
        case 'CanaryPromoted':
          return [`${at} CanaryPromoted ${e.data.cluster ?? ''}`];
        case 'CanaryRolledBack':
          return [`${at} CanaryRolledBack ${e.data.cluster ?? ''}`];
        default:
          return [];
      }
    }),
  );
}
