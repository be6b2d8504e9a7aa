/**
 * The real cluster agents and the real analyzer of `aviary dev`, in this process: the same
 * modules their own composition roots (`services/cluster-agent/src/main.ts`,
 * `services/analyzer/src/main.ts`) wire, over the dev's transport: the in-process bus, or NATS
 * JetStream when `AVIARY_NATS_URL` is given.
 *
 * - One agent per simulated cluster, with that cluster's kubeconfig only (its credentials and
 *   nothing else), its observer (informers → revisions, readiness), command handler, stored
 *   results (a ConfigMap in the cluster), lease, heartbeats, and the read-back of each target's
 *   routes at start (`resume.ts`: the split as the cluster has it is published again).
 * - The analyzer with the Datadog provider on the Datadog simulator (`metrics.ts`), its scheduler
 *   and the analysis service.
 *
 * Each is subscribed before this returns, so nothing the orchestrator publishes afterwards is
 * missed on the in-process bus (which keeps nothing for late subscribers).
 */
import { readFileSync } from 'node:fs';
import { createScheduler } from '@aviary/analyzer/src/scheduler/index.ts';
import {
  type AnalysisService,
  startAnalysisService,
} from '@aviary/analyzer/src/service/analysis-service.ts';
import { inProcessAnalysisTransport } from '@aviary/analyzer/src/service/in-process-transport.ts';
import { parseMetricTemplates } from '@aviary/analyzer/src/service/metric-templates.ts';
import { createProviders } from '@aviary/analyzer/src/service/providers.ts';
import { type Agent, createAgent } from '@aviary/cluster-agent/src/agent.ts';
import {
  createConfigMapResultStore,
  DEFAULT_AGENT_NAMESPACE,
} from '@aviary/cluster-agent/src/command-results.ts';
import { createCommandHandler } from '@aviary/cluster-agent/src/commands.ts';
import { createClientNodeKubeClient } from '@aviary/cluster-agent/src/kube/client-node-kube-client.ts';
import { guardKubeClient } from '@aviary/cluster-agent/src/kube/permissions.ts';
import { createLease } from '@aviary/cluster-agent/src/lease.ts';
import { inProcessCommands } from '@aviary/cluster-agent/src/messaging/in-process-command-consumer.ts';
import {
  createObservationPublisher,
  subjectOfObservation,
} from '@aviary/cluster-agent/src/messaging/observation-publisher.ts';
import { createObserver, type Observer } from '@aviary/cluster-agent/src/observer.ts';
import { createRouteResumer } from '@aviary/cluster-agent/src/resume.ts';
import { createRouter } from '@aviary/cluster-agent/src/routers/create-router.ts';
import type { KubeSim } from '@aviary/kube-sim';
import {
  createJetStreamPublisher,
  type InProcessBus,
  type JetStreamPublisher,
  type MessagingNamespace,
  type NatsClient,
} from '@aviary/messaging';
import type { Logger } from '@aviary/platform';
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterSpec } from './clusters.ts';

/** Where the services talk: the in-process bus, or NATS JetStream (streams already ensured). */
export type DevTransport =
  | { readonly kind: 'in-process'; readonly bus: InProcessBus }
  | { readonly kind: 'nats'; readonly nats: NatsClient };

export function publisherOf(transport: DevTransport): Pick<JetStreamPublisher, 'publish'> {
  return transport.kind === 'in-process'
    ? transport.bus
    : createJetStreamPublisher(transport.nats.jetstream);
}

export interface AgentsOptions {
  readonly transport: DevTransport;
  readonly namespace: MessagingNamespace;
  readonly sim: KubeSim;
  readonly clusters: readonly ClusterSpec[];
  readonly heartbeatIntervalMs: number;
  readonly leaseMs: number;
  /** Each agent logs through a child with `{ component: 'agent', cluster }`. */
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface RunningAgents {
  readonly agents: ReadonlyMap<string, Agent>;
  stop(): Promise<void>;
}

const agentVersion = (
  JSON.parse(
    readFileSync(new URL(import.meta.resolve('@aviary/cluster-agent/package.json')), 'utf8'),
  ) as { version: string }
).version;

/** Starts an agent per cluster; resolves once every observer has listed its cluster. */
export async function startAgents(options: AgentsOptions): Promise<RunningAgents> {
  const { transport, namespace } = options;
  const publish = createObservationPublisher(publisherOf(transport));
  const agents = new Map<string, Agent>();
  const observers: Observer[] = [];
  const stop = async () => {
    await Promise.allSettled(observers.map((o) => o.stop()));
    await Promise.allSettled([...agents.values()].map((a) => a.stop()));
  };
  try {
    for (const spec of options.clusters) {
      const cluster = spec.name;
      const logger = options.logger.child({ component: 'agent', cluster });
      const kc = new KubeConfig();
      kc.loadFromString(options.sim.cluster(cluster).kubeconfig());
      const kube = guardKubeClient(createClientNodeKubeClient(kc));
      const nowMs = () => Date.now();
      const results = createConfigMapResultStore({
        kube,
        cluster,
        namespace: DEFAULT_AGENT_NAMESPACE,
        logger,
      });
      const lease = createLease({
        cluster,
        leaseMs: options.leaseMs,
        nowMs,
        routerFor: (kind) => createRouter(kind, kube),
        report: (observation, s) =>
          publish(subjectOfObservation(cluster, observation, namespace), observation, s),
        logger,
      });
      // Created before the agent, which resumes each target's routes from its primaries (listed
      // by the observer's informer), as the agent's own `main.ts` wires it; started after it.
      const observer = createObserver({
        kc,
        kube,
        cluster,
        messagingNamespace: namespace,
        publish,
        nowMs,
        logger,
      });
      const agent = createAgent({
        cluster,
        ...(transport.kind === 'in-process'
          ? { commands: inProcessCommands({ bus: transport.bus, namespace, cluster, logger }) }
          : { nats: transport.nats }),
        messagingNamespace: namespace,
        handler: createCommandHandler({ kube, cluster, nowMs, results, logger }),
        publish,
        lease,
        resume: createRouteResumer({
          cluster,
          kube,
          routerFor: (kind) => createRouter(kind, kube),
          lease,
          primaries: (s) => observer.primaries(s),
          nowMs,
          logger,
        }),
        heartbeat: { intervalMs: options.heartbeatIntervalMs, labels: spec.labels, agentVersion },
        logger,
        nowMs,
      });
      agent.start();
      agents.set(cluster, agent);
      observers.push(observer);
    }
    await Promise.all(observers.map((o) => o.start()));
  } catch (error) {
    await stop();
    throw error;
  }
  return { agents, stop };
}

export interface AnalyzerOptions {
  readonly transport: DevTransport;
  readonly namespace: MessagingNamespace;
  /** The Datadog simulator's URL and keys. */
  readonly datadog: { readonly baseUrl: string; readonly apiKey: string; readonly appKey: string };
  /** `AVIARY_METRIC_TEMPLATES` JSON. */
  readonly templates: string;
  /** The provider's ingestion delay: how long after a window closes its data is complete. */
  readonly ingestionDelayMs: number;
  readonly roundIntervalMs: number;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export async function startAnalyzer(options: AnalyzerOptions): Promise<AnalysisService> {
  const providers = createProviders({
    datadog: { ...options.datadog, ingestionDelayMs: options.ingestionDelayMs },
  });
  const scheduler = createScheduler({
    providers: providers.scheduled,
    roundMs: options.roundIntervalMs,
  });
  const { transport, namespace } = options;
  return startAnalysisService(
    {
      ...(transport.kind === 'in-process'
        ? { transport: inProcessAnalysisTransport(transport.bus, namespace) }
        : { nats: transport.nats }),
      namespace,
      scheduler,
      providers: providers.scheduled.map((p) => p.planning),
      requests: { templates: parseMetricTemplates(options.templates), providers: providers.ids },
      logger: options.logger,
      roundIntervalMs: options.roundIntervalMs,
      gatherMs: 100,
    },
    options.signal,
  );
}
