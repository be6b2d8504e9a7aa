/**
 * A simulated fleet at the message level: agents and an analyzer that answer the orchestrator's
 * outbox messages the way the real ones do (same subjects, same proto JSON), without Kubernetes
 * or Prometheus. For the engine's tests and the fleet benchmark; the end-to-end tests use the real
 * agents, kube-sim, Prometheus and the analyzer instead (`test/fleet`).
 *
 * Per cluster and workload it keeps what a cluster would: the target's revision (set by
 * `deploy`, as GitOps does), the primary's revision, the canary's replicas and the routes. Each
 * command is answered with its `CommandResult` (and `RoutesApplied` for routes, `WorkloadReadiness`
 * for what changed a Deployment); each analysis request with a verdict that `behaviour` chooses
 * from the revision the canary runs.
 */
import type { OutboxMessage } from '@aviary/event-store';
import { type MessagingNamespace, parseSubject } from '@aviary/messaging';
import type {
  AgentCommandJson,
  AnalysisOutcomeJson,
  AnalysisRequestJson,
  AnalysisVerdictJson,
  ObservationJson,
  WorkloadRefJson,
} from '@aviary/proto';

export interface SimulatedFleetOptions {
  readonly namespace: MessagingNamespace;
  readonly clusters: readonly { readonly name: string; readonly labels: Record<string, string> }[];
  readonly observe: (observation: ObservationJson) => Promise<void>;
  readonly verdict: (verdict: AnalysisVerdictJson) => Promise<void>;
  /** The verdict outcome for a check of a canary running `revision`. Default: successful. */
  readonly behaviour?: (revision: string, request: AnalysisRequestJson) => AnalysisOutcomeJson;
  readonly nowMs?: () => number;
  /** Replicas of the target and the primary. Default 2. */
  readonly replicas?: number;
  readonly leaseMs?: number;
}

interface Workload {
  readonly ref: WorkloadRefJson;
  target: string;
  primary: string;
  canaryReplicas: number;
  generation: number;
}

export class SimulatedFleet {
  private readonly options: SimulatedFleetOptions;
  private readonly nowMs: () => number;
  private readonly workloads = new Map<string, Workload>();
  private readonly done = new Map<string, string>();
  private seq = 0;
  /** Commands applied (not re-deliveries), per cluster, in order. */
  readonly applied = new Map<string, string[]>();
  readonly stats = { commands: 0, duplicates: 0, analyses: 0, renewals: 0 };

  constructor(options: SimulatedFleetOptions) {
    this.options = options;
    this.nowMs = options.nowMs ?? Date.now;
  }

  private id(cluster: string, what: string): string {
    this.seq += 1;
    return `${cluster}:sim:${what}:${this.seq}`;
  }

  private at(): string {
    return new Date(this.nowMs()).toISOString();
  }

  /** Every agent's heartbeat. */
  async heartbeats(): Promise<void> {
    for (const cluster of this.options.clusters) {
      await this.options.observe({
        observationId: this.id(cluster.name, 'heartbeat'),
        cluster: cluster.name,
        observedAt: this.at(),
        heartbeat: {
          labels: cluster.labels,
          agentVersion: 'simulated',
          leaseMs: this.options.leaseMs ?? 300_000,
        },
      });
    }
  }

  /** GitOps sets the target's revision in these clusters (default all): agents report it. */
  async deploy(
    ref: WorkloadRefJson,
    revision: string,
    clusters?: readonly string[],
  ): Promise<void> {
    for (const cluster of clusters ?? this.options.clusters.map((c) => c.name)) {
      const w = this.workload(cluster, ref);
      w.target = revision;
      w.generation += 1;
      await this.options.observe({
        observationId: this.id(cluster, 'revision'),
        cluster,
        observedAt: this.at(),
        revisionSeen: { workload: ref, revision: { id: revision } },
      });
    }
  }

  primaryRevision(cluster: string, ref: WorkloadRefJson): string {
    return this.workload(cluster, ref).primary;
  }

  private workload(cluster: string, ref: WorkloadRefJson): Workload {
    const key = `${cluster}|${ref.namespace}|${ref.name}`;
    let w = this.workloads.get(key);
    if (w === undefined) {
      w = { ref, target: '', primary: '', canaryReplicas: 0, generation: 1 };
      this.workloads.set(key, w);
    }
    return w;
  }

  /** Answers one outbox message (a command or an analysis request); others are ignored. */
  async deliver(message: Pick<OutboxMessage, 'subject' | 'payload'>): Promise<void> {
    const parsed = parseSubject(message.subject, this.options.namespace);
    const json = JSON.parse(new TextDecoder().decode(message.payload));
    if (parsed?.type === 'command') await this.command(json as AgentCommandJson);
    else if (parsed?.type === 'analysis-request') await this.analyse(json as AnalysisRequestJson);
  }

  private async command(command: AgentCommandJson): Promise<void> {
    const cluster = command.cluster ?? '';
    if (command.renewLease !== undefined) {
      this.stats.renewals += 1;
      return;
    }
    const commandId = command.commandId ?? '';
    const ref = command.workload ?? {};
    const w = this.workload(cluster, ref);
    const observations: ObservationJson[] = [];
    const readiness = (role: 'CANARY' | 'PRIMARY') => {
      const replicas = role === 'PRIMARY' ? (this.options.replicas ?? 2) : w.canaryReplicas;
      observations.push({
        observationId: this.id(cluster, `readiness-${role}`),
        cluster,
        observedAt: this.at(),
        workloadReadiness: {
          workload: ref,
          role: `DEPLOYMENT_ROLE_${role}`,
          revisionId: role === 'PRIMARY' ? w.primary : w.target,
          generation: String(w.generation),
          observedGeneration: String(w.generation),
          desiredReplicas: replicas,
          replicas,
          updatedReplicas: replicas,
          readyReplicas: replicas,
          availableReplicas: replicas,
        },
      });
    };
    if (this.done.has(commandId)) {
      this.stats.duplicates += 1;
    } else {
      this.stats.commands += 1;
      const log = this.applied.get(cluster) ?? [];
      log.push(commandId);
      this.applied.set(cluster, log);
      if (command.initializeTarget !== undefined) {
        if (w.primary === '') w.primary = w.target;
        w.canaryReplicas = 0;
        readiness('PRIMARY');
        readiness('CANARY');
      } else if (command.scaleCanary !== undefined) {
        w.canaryReplicas = command.scaleCanary.replicas ?? this.options.replicas ?? 2;
        readiness('CANARY');
      } else if (command.promoteCanary !== undefined) {
        w.primary = command.promoteCanary.revisionId ?? w.target;
        readiness('PRIMARY');
      } else if (command.revertPrimary !== undefined) {
        w.primary = command.revertPrimary.revisionId ?? w.primary;
        readiness('PRIMARY');
      } else if (command.scaleCanaryToZero !== undefined) {
        w.canaryReplicas = 0;
        readiness('CANARY');
      } else if (command.setRoutes !== undefined) {
        observations.push({
          observationId: `${commandId}:routes`,
          cluster,
          observedAt: this.at(),
          routesApplied: {
            workload: ref,
            router: command.setRoutes.router ?? 'ROUTER_KIND_UNSPECIFIED',
            routes: command.setRoutes.routes ?? {},
            commandId,
          },
        });
      }
      this.done.set(commandId, commandId);
    }
    observations.push({
      observationId: `${commandId}:result`,
      cluster,
      observedAt: this.at(),
      commandResult: {
        commandId,
        outcome: 'COMMAND_OUTCOME_SUCCEEDED',
        workload: ref,
        observedGeneration: String(w.generation),
      },
    });
    for (const observation of observations) await this.options.observe(observation);
  }

  private async analyse(request: AnalysisRequestJson): Promise<void> {
    this.stats.analyses += 1;
    const w = this.workload(request.cluster ?? '', request.workload ?? {});
    const outcome = this.options.behaviour?.(w.target, request) ?? 'ANALYSIS_OUTCOME_SUCCESSFUL';
    await this.options.verdict({
      requestId: request.requestId ?? '',
      releaseId: request.releaseId ?? '',
      cluster: request.cluster ?? '',
      checkName: request.checkName ?? '',
      outcome,
      message: `simulated: revision ${w.target} is ${outcome === 'ANALYSIS_OUTCOME_FAILED' ? 'faulty' : 'healthy'}`,
    });
  }
}
