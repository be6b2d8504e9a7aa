/**
 * Composition root of the cluster agent: one per Kubernetes cluster. Loads the configuration,
 * connects to the Kubernetes API (a kubeconfig file, or the pod's service account) and to NATS,
 * then runs the observer (informers → observations), the command consumer (commands → results),
 * heartbeats and the lease, until SIGTERM/SIGINT stops them in reverse order.
 */
import { readFileSync } from 'node:fs';
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  agentInboxPrefix,
  connectNats,
  createJetStreamPublisher,
  isValidClusterName,
  messagingNamespace,
  natsConfigFields,
  natsConnectOptions,
} from '@aviary/messaging';
import {
  configFields,
  createLogger,
  loadConfigOrExit,
  runService,
  serviceConfigFields,
  z,
} from '@aviary/platform';
import { KubeConfig } from '@kubernetes/client-node';
import { createAgent, parseClusterLabels } from './agent.ts';
import {
  createConfigMapResultStore,
  DEFAULT_AGENT_NAMESPACE,
  resultsConfigMapName,
} from './command-results.ts';
import { createCommandHandler } from './commands.ts';
import { createClientNodeKubeClient } from './kube/client-node-kube-client.ts';
import { guardKubeClient } from './kube/permissions.ts';
import { createLease } from './lease.ts';
import {
  createObservationPublisher,
  subjectOfObservation,
} from './messaging/observation-publisher.ts';
import { createObserver } from './observer.ts';
import { createRouteResumer } from './resume.ts';
import { createRouter } from './routers/create-router.ts';

const SERVICE = 'cluster-agent';
const configSchema = z.object({
  /** AVIARY_CLUSTER_NAME: this agent's cluster, a DNS-1123 label such as `eu-west-1`. */
  clusterName: z
    .string()
    .refine(
      isValidClusterName,
      "must be a DNS-1123 label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
  /** AVIARY_CLUSTER_LABELS: `region=eu,env=prod`, sent in heartbeats for wave selectors. */
  clusterLabels: z
    .string()
    .default('')
    .transform((text, ctx) => {
      const labels = parseClusterLabels(text);
      if (labels === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be comma-separated key=value Kubernetes labels, e.g. region=eu,env=prod',
        });
        return z.NEVER;
      }
      return labels;
    }),
  /** AVIARY_KUBECONFIG: a kubeconfig file; unset: the pod's service account (in-cluster). */
  kubeconfig: z.string().min(1).optional(),
  /** AVIARY_WATCH_NAMESPACE: watch only this namespace; unset: every namespace. */
  watchNamespace: z.string().min(1).optional(),
  /** AVIARY_TARGET_SELECTOR: label selector narrowing the target Deployments. */
  targetSelector: z.string().min(1).optional(),
  /** AVIARY_HEARTBEAT_INTERVAL_MS: `10s` by default. */
  heartbeatIntervalMs: configFields.durationMs().default(10_000),
  /** AVIARY_LEASE_MS: time without a command after which canaries go back to the primary. */
  leaseMs: configFields.durationMs().default(300_000),
  /** AVIARY_OBSERVATION_OUTBOX_LIMIT: observations kept while NATS is away before observing pauses. */
  observationOutboxLimit: z.number().int().min(1).default(10_000),
  /**
   * AVIARY_AGENT_NAMESPACE: the agent's own namespace, holding its stored command results
   * (ConfigMap `aviary-agent-<cluster>-results`); created if missing and allowed.
   */
  agentNamespace: z
    .string()
    .refine(isValidClusterName, 'must be a DNS-1123 label (a Kubernetes namespace name)')
    .default(DEFAULT_AGENT_NAMESPACE),
  ...natsConfigFields,
  ...serviceConfigFields,
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({
  service: SERVICE,
  level: config.logLevel,
  pretty: config.logPretty,
  base: { cluster: config.clusterName },
});
const agentVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) {
    kc.loadFromFile(config.kubeconfig);
  } else if ((process.env.KUBERNETES_SERVICE_HOST ?? '') !== '') {
    kc.loadFromCluster();
  } else {
    throw new AviaryError(
      ErrorCode.Config,
      'no Kubernetes API: set AVIARY_KUBECONFIG to a kubeconfig file, or run the agent in a pod',
    );
  }
  return kc;
}

await runService({
  name: SERVICE,
  logger,
  stopTimeoutMs: config.shutdownTimeoutMs,
  start: async (signal, { onStop }) => {
    const cluster = config.clusterName;
    const namespace = messagingNamespace(config.messagingNamespace);
    const kc = loadKubeConfig();
    logger.info(
      { server: kc.getCurrentCluster()?.server, labels: config.clusterLabels },
      'kubernetes API configured',
    );
    const nats = await connectNats({
      name: `aviary-${SERVICE}-${cluster}`,
      logger,
      signal,
      // A private reply inbox: the agent's NATS user may subscribe only there (nats-permissions).
      inboxPrefix: agentInboxPrefix(cluster, namespace),
      ...natsConnectOptions(config),
    });
    onStop('nats', () => nats.close());

    // Every call is checked against the permission table the RBAC manifest grants.
    const kube = guardKubeClient(createClientNodeKubeClient(kc));
    const nowMs = () => Date.now();
    const results = createConfigMapResultStore({
      kube,
      cluster,
      namespace: config.agentNamespace,
      logger,
    });
    const resultsAt = {
      namespace: config.agentNamespace,
      configMap: resultsConfigMapName(cluster),
    };
    try {
      await results.load(signal);
      logger.info({ ...resultsAt, results: results.size() }, 'stored command results loaded');
    } catch (error) {
      // The handler loads them before its first command (and answers FAILED, retriable, until
      // it can): no command is applied without knowing whether it was applied before.
      logger.warn({ err: error, ...resultsAt }, 'loading the stored command results failed');
    }
    const publish = createObservationPublisher(createJetStreamPublisher(nats.jetstream));
    const lease = createLease({
      cluster,
      leaseMs: config.leaseMs,
      nowMs,
      routerFor: (kind) => createRouter(kind, kube),
      report: (observation, s) =>
        publish(subjectOfObservation(cluster, observation, namespace), observation, s),
      logger,
    });
    // Created before the agent, which resumes each target's routes from its primaries (listed by
    // the observer's informer); started after it.
    const observer = createObserver({
      kc,
      kube,
      cluster,
      messagingNamespace: namespace,
      publish,
      nowMs,
      logger,
      outboxLimit: config.observationOutboxLimit,
      ...(config.watchNamespace !== undefined ? { namespace: config.watchNamespace } : {}),
      ...(config.targetSelector !== undefined ? { targetSelector: config.targetSelector } : {}),
    });
    const agent = createAgent({
      cluster,
      nats,
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
      heartbeat: {
        intervalMs: config.heartbeatIntervalMs,
        labels: config.clusterLabels,
        agentVersion,
      },
      logger,
      nowMs,
    });
    agent.start();
    onStop('agent', () => agent.stop());

    onStop('observer', () => observer.stop());
    await observer.start();
    logger.info(
      {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        leaseMs: config.leaseMs,
        agentVersion,
      },
      'agent running',
    );
    return undefined;
  },
});
