/**
 * Watches the cluster's Deployments with client-node informers and publishes what changes:
 *
 * - Targets (every Deployment without the `aviary.dev/primary-of` label, narrowed by an optional
 *   label selector): `RevisionSeen` when the revision id (`revision.ts`: pod-template hash plus
 *   tracked config checksums) differs from the last one reported, and `WorkloadReadiness` with
 *   role CANARY when the rollout status changes.
 * - Primaries (owned Deployments labelled `aviary.dev/primary-of: <target>`): `WorkloadReadiness`
 *   with role PRIMARY, named after the target, with the revision of the `aviary.dev/revision`
 *   annotation.
 *
 * Observation ids are `<cluster>:<uid>:<resourceVersion>:<kind>[:<revision id>]`, so a relist or a
 * restarted agent reporting the same object version again is deduplicated by JetStream. Each
 * observation is published through `publish`, retried until stored (or the observer stops), in
 * the order the informers saw the objects.
 *
 * client-node informers re-list by themselves after a watch ends or expires (410); after any other
 * error they stop, so the observer logs the error and starts the informer again after a pause that
 * doubles from `restartDelayMs` up to 30 s (reset when events flow again).
 */
import type { MessagingNamespace } from '@aviary/messaging';
import {
  ConditionStatus,
  DeploymentRole,
  type Observation,
  type WorkloadCondition,
  WorkloadConditionSchema,
  type WorkloadReadiness,
} from '@aviary/proto';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  AppsV1Api,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1Deployment,
} from '@kubernetes/client-node';
import type { KubeClient } from './kube/kube-client.ts';
import { guardKubeClient, type KubeVerb, requireGranted } from './kube/permissions.ts';
import {
  type PublishObservation,
  retryingPublisher,
  subjectOfObservation,
} from './messaging/observation-publisher.ts';
import {
  deploymentRef,
  ObservationKind,
  objectObservationId,
  readinessObservation,
  revisionSeenObservation,
} from './messaging/observations.ts';
import { isOwned, PRIMARY_OF_LABEL, REVISION_ANNOTATION } from './ownership.ts';
import { computeRevision } from './revision.ts';

export interface ObserverLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface ObserverOptions {
  readonly kc: KubeConfig;
  /** Reads the tracked ConfigMaps and Secrets of a target. */
  readonly kube: KubeClient;
  readonly cluster: string;
  readonly messagingNamespace: MessagingNamespace;
  readonly publish: PublishObservation;
  readonly nowMs: () => number;
  readonly logger: ObserverLogger;
  /** The Kubernetes namespace to watch; every namespace when unset. */
  readonly namespace?: string;
  /** Label selector narrowing which Deployments are targets (e.g. `aviary.dev/target=true`). */
  readonly targetSelector?: string;
  /** First pause before restarting an informer after an error. Default 1 s. */
  readonly restartDelayMs?: number;
}

export interface Observer {
  /** Starts the informers; resolves after their first list (or first failure, then retries). */
  start(): Promise<void>;
  /** Resolves once every observation queued so far is published. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const MAX_RESTART_DELAY_MS = 30_000;

type Role = typeof DeploymentRole.CANARY | typeof DeploymentRole.PRIMARY;

interface Seen {
  revisionId?: string;
  readiness?: string;
}

function conditionStatusOf(status: string | undefined): ConditionStatus {
  switch (status) {
    case 'True':
      return ConditionStatus.TRUE;
    case 'False':
      return ConditionStatus.FALSE;
    case 'Unknown':
      return ConditionStatus.UNKNOWN;
    default:
      return ConditionStatus.UNSPECIFIED;
  }
}

function timestampOf(value: Date | string | undefined) {
  if (value === undefined) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : timestampFromMs(ms);
}

/** The readiness fields of a Deployment (everything but the envelope). */
export function readinessOf(
  d: V1Deployment,
  workload: { namespace: string; name: string },
  role: Role,
  revisionId: string,
): Omit<WorkloadReadiness, '$typeName'> {
  const conditions: WorkloadCondition[] = (d.status?.conditions ?? []).map((c) => {
    const lastUpdateTime = timestampOf(c.lastUpdateTime);
    const lastTransitionTime = timestampOf(c.lastTransitionTime);
    return create(WorkloadConditionSchema, {
      type: c.type,
      status: conditionStatusOf(c.status),
      reason: c.reason ?? '',
      message: c.message ?? '',
      ...(lastUpdateTime !== undefined ? { lastUpdateTime } : {}),
      ...(lastTransitionTime !== undefined ? { lastTransitionTime } : {}),
    });
  });
  return {
    workload: deploymentRef(workload.namespace, workload.name),
    role,
    revisionId,
    generation: BigInt(d.metadata?.generation ?? 0),
    observedGeneration: BigInt(d.status?.observedGeneration ?? 0),
    desiredReplicas: d.spec?.replicas ?? 1,
    replicas: d.status?.replicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    readyReplicas: d.status?.readyReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    conditions,
  };
}

/** What a readiness report says, without times that change on every status write. */
function fingerprint(r: Omit<WorkloadReadiness, '$typeName'>): string {
  return JSON.stringify([
    r.revisionId,
    String(r.generation),
    String(r.observedGeneration),
    r.desiredReplicas,
    r.replicas,
    r.updatedReplicas,
    r.readyReplicas,
    r.availableReplicas,
    r.conditions.map((c) => [c.type, c.status, c.reason]),
  ]);
}

/** What the Deployment informers do, outside the `KubeClient` port (see `kube/permissions.ts`). */
export const INFORMER_VERBS: readonly KubeVerb[] = ['list', 'watch'];

export function createObserver(options: ObserverOptions): Observer {
  const { kc, cluster, logger, nowMs } = options;
  // The informers list and watch Deployments outside the port: declared against the table here.
  requireGranted('Deployment', INFORMER_VERBS);
  const kube = guardKubeClient(options.kube);
  const apps = kc.makeApiClient(AppsV1Api);
  const controller = new AbortController();
  const { signal } = controller;
  const publish = retryingPublisher(options.publish, {
    onRetry: (error, attempt) =>
      logger.warn({ err: error, attempt }, 'publishing an observation failed; retrying'),
  });
  const seen = new Map<string, Seen>();
  let queue: Promise<void> = Promise.resolve();
  let stopped = false;

  function enqueue(work: () => Promise<void>) {
    queue = queue.then(async () => {
      if (stopped) return;
      try {
        await work();
      } catch (error) {
        if (stopped) return;
        logger.error({ err: error }, 'observing a deployment failed');
      }
    });
  }

  async function emit(observation: Observation) {
    await publish(
      subjectOfObservation(cluster, observation, options.messagingNamespace),
      observation,
      signal,
    );
  }

  async function observe(d: V1Deployment, role: Role) {
    const namespace = d.metadata?.namespace ?? 'default';
    const uid = d.metadata?.uid ?? '';
    const resourceVersion = d.metadata?.resourceVersion ?? '';
    const name =
      role === DeploymentRole.PRIMARY
        ? (d.metadata?.labels?.[PRIMARY_OF_LABEL] ?? '')
        : (d.metadata?.name ?? '');
    const key = `${role}:${namespace}/${d.metadata?.name ?? ''}`;
    const state = seen.get(key) ?? {};
    seen.set(key, state);
    let revisionId = '';
    if (role === DeploymentRole.PRIMARY) {
      revisionId = d.metadata?.annotations?.[REVISION_ANNOTATION] ?? '';
    } else {
      try {
        const revision = await computeRevision(kube, d, signal);
        revisionId = revision.id;
        if (state.revisionId !== revision.id) {
          await emit(
            revisionSeenObservation(
              objectObservationId(
                cluster,
                uid,
                resourceVersion,
                ObservationKind.revisionSeen,
                revision.id,
              ),
              cluster,
              nowMs(),
              {
                workload: deploymentRef(namespace, name),
                revision: {
                  $typeName: 'aviary.common.v1.Revision',
                  id: revision.id,
                  podTemplateHash: revision.podTemplateHash,
                  configChecksums: { ...revision.configChecksums },
                },
              },
            ),
          );
          state.revisionId = revision.id;
          logger.info({ namespace, name, revisionId: revision.id }, 'revision seen');
        }
      } catch (error) {
        if (signal.aborted) throw error;
        // A missing required ConfigMap/Secret: the revision is unknown until it exists.
        logger.warn({ err: error, namespace, name }, 'cannot compute the revision of a target');
      }
    }
    const readiness = readinessOf(d, { namespace, name }, role, revisionId);
    const print = fingerprint(readiness);
    if (state.readiness === print) return;
    await emit(
      readinessObservation(
        objectObservationId(cluster, uid, resourceVersion, ObservationKind.workloadReadiness),
        cluster,
        nowMs(),
        readiness,
      ),
    );
    state.readiness = print;
  }

  function informerFor(labelSelector: string, role: Role) {
    const ns = options.namespace;
    const path =
      ns === undefined
        ? '/apis/apps/v1/deployments'
        : `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments`;
    const list = () =>
      ns === undefined
        ? apps.listDeploymentForAllNamespaces({ labelSelector })
        : apps.listNamespacedDeployment({ namespace: ns, labelSelector });
    const informer: Informer<V1Deployment> & ObjectCache<V1Deployment> = makeInformer(
      kc,
      path,
      list,
      labelSelector,
    );
    const what = role === DeploymentRole.PRIMARY ? 'primaries' : 'targets';
    let delayMs = options.restartDelayMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    const accept = (d: V1Deployment) => {
      delayMs = options.restartDelayMs ?? 1000;
      if (role === DeploymentRole.PRIMARY && !isOwned(d)) return;
      enqueue(() => observe(d, role));
    };
    const onError = (error: unknown) => {
      if (stopped || timer !== undefined) return;
      logger.error(
        { err: error, informer: what, restartInMs: delayMs },
        'deployment watch failed; restarting the informer',
      );
      timer = setTimeout(() => {
        timer = undefined;
        if (stopped) return;
        informer.start().catch(onError);
      }, delayMs);
      delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY_MS);
    };
    informer.on('add', accept);
    informer.on('update', accept);
    informer.on('delete', (d) => {
      const key = `${role}:${d.metadata?.namespace ?? 'default'}/${d.metadata?.name ?? ''}`;
      enqueue(async () => {
        seen.delete(key);
      });
    });
    informer.on('error', onError);
    return {
      async start() {
        await informer.start().catch(onError);
      },
      async stop() {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        await informer.stop();
      },
    };
  }

  const userSelector = options.targetSelector?.trim() ?? '';
  const informers = [
    informerFor(
      userSelector === '' ? `!${PRIMARY_OF_LABEL}` : `!${PRIMARY_OF_LABEL},${userSelector}`,
      DeploymentRole.CANARY,
    ),
    informerFor(PRIMARY_OF_LABEL, DeploymentRole.PRIMARY),
  ];

  return {
    async start() {
      await Promise.all(informers.map((i) => i.start()));
    },
    async idle() {
      let current: Promise<void>;
      do {
        current = queue;
        await current;
      } while (current !== queue);
    },
    async stop() {
      stopped = true;
      controller.abort(new Error('observer stopped'));
      await Promise.all(informers.map((i) => i.stop()));
      await queue;
    },
  };
}
