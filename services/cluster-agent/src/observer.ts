/**
 * Watches the cluster's Deployments, ConfigMaps and Secrets with client-node informers and
 * publishes what changes:
 *
 * - Targets (every Deployment without the `aviary.dev/primary-of` label, narrowed by an optional
 *   label selector): `RevisionSeen` when the revision id (`revision.ts`: pod-template hash plus
 *   tracked config checksums) differs from the last one reported, and `WorkloadReadiness` with
 *   role CANARY when the rollout status changes.
 * - Primaries (owned Deployments labelled `aviary.dev/primary-of: <target>`): `WorkloadReadiness`
 *   with role PRIMARY, named after the target, with the revision of the `aviary.dev/revision`
 *   annotation.
 *
 * - Tracked configs (Flagger's config tracking): a ConfigMap or Secret added, changed or deleted
 *   makes every target whose pod template references it be observed again, so a changed config
 *   is a new `RevisionSeen` at once, not at the target's next event. Owned objects (the
 *   `-primary` copies, the stored command results) are ignored.
 *
 * Observation ids are `<cluster>:<uid>:<version>:<kind>[:<revision id>]`, where `<version>` is
 * the Deployment's resourceVersion, followed for a target with tracked configs by `+` and a hash
 * of their resourceVersions: the same object versions give the same id (a relist or a restarted
 * agent reporting them again is deduplicated by JetStream), and a config change, which leaves
 * the Deployment's version alone, gives new ones. Observing never waits for NATS: observations
 * go to an in-memory outbox and are published from it through `publish`, in the order made, each
 * retried until stored (or the observer stops).
 *
 * The outbox is bounded (`outboxLimit`). A `WorkloadReadiness` is a snapshot of one workload's
 * state: a newer one replaces an older one of the same workload and role still waiting (the
 * older is removed, the newer appended, so nothing is reported before what it follows).
 * `RevisionSeen` observations are never removed. When the outbox is full, observing pauses
 * (backpressure): no observation is made, none dropped, until NATS takes some; the informers keep
 * their caches current meanwhile, and events are coalesced per object (each Deployment is observed
 * once, as it is then, however many events arrived), so the pause costs no memory beyond the
 * caches. Filling is logged (`observation outbox full`) and counted in metrics.
 *
 * client-node informers re-list by themselves after a watch ends or expires (410); after any other
 * error they stop, so the observer logs the error and starts the informer again after a pause that
 * doubles from `restartDelayMs` up to 30 s (reset when events flow again). A target whose configs
 * cannot be read (API error) is observed again after the same pause.
 */

import { createHash } from 'node:crypto';
import { AviaryError, ErrorCode } from '@aviary/core';
import type { MessagingNamespace } from '@aviary/messaging';
import { Counter, Gauge, metricsOf, metricsRegistry, type Registry } from '@aviary/platform';
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
  CoreV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
  type V1ConfigMap,
  type V1Deployment,
  type V1Secret,
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
import {
  configRefsOf,
  MissingConfigError,
  readTrackedConfigs,
  revisionOf,
  type TrackedConfigs,
} from './revision.ts';

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
  /** Called with each observation when it is made, before it is published (tests, metrics). */
  readonly onObservation?: (observation: Observation) => void;
  /**
   * Most observations waiting to be published (NATS away) before observing pauses. Default
   * 10 000 (a few MB).
   */
  readonly outboxLimit?: number;
  /** Where the outbox metrics go. Default the process registry. */
  readonly registry?: Registry;
}

export interface ObserverStats {
  /** Observations waiting to be published. */
  readonly pending: number;
  /** Readiness snapshots replaced by a newer one of the same workload before being published. */
  readonly coalesced: number;
  /** Whether observing is paused because the outbox is full. */
  readonly full: boolean;
  /** Times the outbox filled up. */
  readonly filled: number;
}

export interface Observer {
  /** Starts the informers; resolves after their first list (or first failure, then retries). */
  start(): Promise<void>;
  /** Resolves once every observation queued so far is published. */
  idle(): Promise<void>;
  /** Observations made and not yet stored (NATS away): they are published in order later. */
  pending(): number;
  stats(): ObserverStats;
  /**
   * The owned `<name>-primary` Deployments, once their informer has listed them (waits, across
   * informer restarts, for a first successful list; rejects when `signal` aborts or the observer
   * stops). A restarted agent resumes each target's routes from them (`resume.ts`).
   */
  primaries(signal: AbortSignal): Promise<readonly V1Deployment[]>;
  stop(): Promise<void>;
}

const DEFAULT_OUTBOX_LIMIT = 10_000;

export function observerMetrics(registry: Registry = metricsRegistry) {
  return metricsOf(registry, 'aviary_agent_observer', (r) => ({
    outbox: new Gauge({
      name: 'aviary_agent_observation_outbox',
      help: 'Observations made and waiting to be published (NATS away).',
      labelNames: ['cluster'] as const,
      registers: [r],
    }),
    outboxFull: new Gauge({
      name: 'aviary_agent_observation_outbox_full',
      help: '1 while the outbox is full and observing is paused, else 0.',
      labelNames: ['cluster'] as const,
      registers: [r],
    }),
    coalesced: new Counter({
      name: 'aviary_agent_observations_coalesced_total',
      help: 'Readiness snapshots replaced in the outbox by a newer one of the same workload.',
      labelNames: ['cluster'] as const,
      registers: [r],
    }),
  }));
}

/** The key under which a newer observation replaces an older one waiting; none for revisions. */
function snapshotKeyOf(observation: Observation): string | undefined {
  if (observation.kind.case !== 'workloadReadiness') return undefined;
  const r = observation.kind.value;
  return `${r.role}:${r.workload?.namespace ?? ''}/${r.workload?.name ?? ''}`;
}

const MAX_RESTART_DELAY_MS = 30_000;

type Role = typeof DeploymentRole.CANARY | typeof DeploymentRole.PRIMARY;

interface Seen {
  /** The Deployment reported (a re-created one starts afresh). */
  uid?: string;
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

/** What the informers do, outside the `KubeClient` port (see `kube/permissions.ts`). */
export const INFORMER_VERBS: readonly KubeVerb[] = ['list', 'watch'];
/** The kinds the informers list and watch. */
export const INFORMED_KINDS = ['Deployment', 'ConfigMap', 'Secret'] as const;

/**
 * The version part of an observation id: the Deployment's resourceVersion, and for a target with
 * tracked configs a hash of theirs (a config change leaves the Deployment's version alone).
 */
export function observedVersion(
  d: V1Deployment,
  configs: readonly KubernetesObject[] | undefined,
): string {
  const resourceVersion = d.metadata?.resourceVersion ?? '';
  if (configs === undefined || configs.length === 0) return resourceVersion;
  const versions = configs
    .map((c) => `${c.kind ?? ''}/${c.metadata?.name ?? ''}=${c.metadata?.resourceVersion ?? ''}`)
    .sort();
  const hash = createHash('sha256').update(versions.join('\n')).digest('hex').slice(0, 12);
  return `${resourceVersion}+${hash}`;
}

export function createObserver(options: ObserverOptions): Observer {
  const { kc, cluster, logger, nowMs } = options;
  // The informers list and watch Deployments outside the port: declared against the table here.
  for (const kind of INFORMED_KINDS) requireGranted(kind, INFORMER_VERBS);
  const kube = guardKubeClient(options.kube);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const controller = new AbortController();
  const { signal } = controller;
  const publish = retryingPublisher(options.publish, {
    onRetry: (error, attempt) =>
      logger.warn({ err: error, attempt }, 'publishing an observation failed; retrying'),
  });
  const seen = new Map<string, Seen>();
  /** Targets to observe again (a tracked config changed), coalesced: `<namespace>/<name>`. */
  const recheck = new Set<string>();
  const retryTimers = new Set<NodeJS.Timeout>();
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

  /**
   * Observations made and not yet stored, oldest first. Observing does not wait for NATS: while
   * it is away the agent goes on observing (each observation stamped when it was made), and the
   * outbox is published in order, each retried until stored, once it is back. The head
   * (`outbox[0]`) is the one being published: it is never removed by coalescing.
   */
  const outbox: Observation[] = [];
  let draining: Promise<void> | undefined;
  const outboxLimit = Math.max(1, options.outboxLimit ?? DEFAULT_OUTBOX_LIMIT);
  /** Observing resumes once the outbox is back to this many (hysteresis: one log per episode). */
  const resumeAt = Math.floor(outboxLimit * 0.9);
  const metrics = observerMetrics(options.registry);
  const labels = { cluster };
  let coalesced = 0;
  let filled = 0;
  let fullSinceMs: number | undefined;
  let roomWaiters: (() => void)[] = [];
  metrics.outbox.set(labels, 0);
  metrics.outboxFull.set(labels, 0);

  function wakeObserving() {
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const wake of waiters) wake();
  }

  function drain(): Promise<void> {
    draining ??= (async () => {
      try {
        for (let next = outbox[0]; next !== undefined && !stopped; next = outbox[0]) {
          await publish(
            subjectOfObservation(cluster, next, options.messagingNamespace),
            next,
            signal,
          );
          outbox.shift();
          metrics.outbox.set(labels, outbox.length);
          if (fullSinceMs !== undefined && outbox.length <= resumeAt) {
            logger.info(
              { pending: outbox.length, pausedMs: nowMs() - fullSinceMs },
              'observation outbox has room again; observing resumes',
            );
            fullSinceMs = undefined;
            metrics.outboxFull.set(labels, 0);
            wakeObserving();
          }
        }
      } catch (error) {
        if (!stopped) logger.error({ err: error }, 'publishing observations failed');
      } finally {
        draining = undefined;
      }
    })();
    return draining;
  }

  /** Removes a waiting observation `observation` supersedes (never the head, being published). */
  function coalesce(observation: Observation) {
    const key = snapshotKeyOf(observation);
    if (key === undefined) return;
    const index = outbox.findIndex((o, i) => i > 0 && snapshotKeyOf(o) === key);
    if (index < 0) return;
    outbox.splice(index, 1);
    coalesced += 1;
    metrics.coalesced.inc(labels);
  }

  async function emit(observation: Observation) {
    options.onObservation?.(observation);
    coalesce(observation);
    // Backpressure: observing (the one queue) waits for room rather than dropping anything.
    while (!stopped && (fullSinceMs !== undefined || outbox.length >= outboxLimit)) {
      if (fullSinceMs === undefined) {
        fullSinceMs = nowMs();
        filled += 1;
        metrics.outboxFull.set(labels, 1);
        logger.warn(
          { pending: outbox.length, outboxLimit },
          'observation outbox full (NATS away?); observing paused until observations are published',
        );
      }
      await new Promise<void>((resolve) => roomWaiters.push(resolve));
    }
    if (stopped) return;
    outbox.push(observation);
    metrics.outbox.set(labels, outbox.length);
    void drain();
  }

  async function observe(d: V1Deployment, role: Role) {
    const namespace = d.metadata?.namespace ?? 'default';
    const uid = d.metadata?.uid ?? '';
    let version = d.metadata?.resourceVersion ?? '';
    const name =
      role === DeploymentRole.PRIMARY
        ? (d.metadata?.labels?.[PRIMARY_OF_LABEL] ?? '')
        : (d.metadata?.name ?? '');
    const key = `${role}:${namespace}/${d.metadata?.name ?? ''}`;
    let state = seen.get(key) ?? {};
    if (state.uid !== uid) state = { uid };
    seen.set(key, state);
    let revisionId = '';
    if (role === DeploymentRole.PRIMARY) {
      revisionId = d.metadata?.annotations?.[REVISION_ANNOTATION] ?? '';
    } else {
      let configs: TrackedConfigs | undefined;
      try {
        configs = await readTrackedConfigs(kube, namespace, d.spec?.template?.spec, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        if (!(error instanceof MissingConfigError)) {
          // The API did not answer: nothing is known yet; look again after a pause.
          logger.warn(
            { err: error, namespace, name, retryInMs: restartDelayMs },
            'cannot read the tracked configs of a target; observing it again later',
          );
          const timer = setTimeout(() => {
            retryTimers.delete(timer);
            scheduleRecheck(namespace, d.metadata?.name ?? '');
          }, restartDelayMs);
          retryTimers.add(timer);
          return;
        }
        // A missing required ConfigMap/Secret: the revision is unknown until it exists (its
        // creation is a config event that observes the target again).
        logger.warn({ err: error, namespace, name }, 'cannot compute the revision of a target');
      }
      if (configs !== undefined) {
        const revision = revisionOf(d.spec?.template, configs);
        version = observedVersion(d, [
          ...configs.configMaps.map((c) => ({ ...c, kind: 'ConfigMap' })),
          ...configs.secrets.map((c) => ({ ...c, kind: 'Secret' })),
        ]);
        revisionId = revision.id;
        if (state.revisionId !== revision.id) {
          await emit(
            revisionSeenObservation(
              objectObservationId(cluster, uid, version, ObservationKind.revisionSeen, revision.id),
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
      }
    }
    const readiness = readinessOf(d, { namespace, name }, role, revisionId);
    const print = fingerprint(readiness);
    if (state.readiness === print) return;
    await emit(
      readinessObservation(
        objectObservationId(cluster, uid, version, ObservationKind.workloadReadiness),
        cluster,
        nowMs(),
        readiness,
      ),
    );
    state.readiness = print;
  }

  /** Observes a target again, once however many of its configs changed meanwhile. */
  function scheduleRecheck(namespace: string, name: string) {
    const key = `${namespace}/${name}`;
    if (stopped || recheck.has(key)) return;
    recheck.add(key);
    enqueue(async () => {
      recheck.delete(key);
      const d = targets.cache.get(name, namespace);
      if (d !== undefined) await observe(d, DeploymentRole.CANARY);
    });
  }

  /** A tracked config changed: every target referencing it is observed again. */
  function configChanged(kind: 'ConfigMap' | 'Secret', config: KubernetesObject) {
    if (isOwned(config)) return;
    const namespace = config.metadata?.namespace ?? 'default';
    const name = config.metadata?.name ?? '';
    for (const d of targets.cache.list(namespace)) {
      const refs = configRefsOf(d.spec?.template?.spec);
      if ((kind === 'ConfigMap' ? refs.configMaps : refs.secrets).has(name)) {
        scheduleRecheck(namespace, d.metadata?.name ?? '');
      }
    }
  }

  /**
   * An informer on `resource` (a path under `/api/v1` or `/apis/apps/v1`, in the watched
   * namespace or all), restarted after errors with a growing pause. `listed` resolves after its
   * first successful list.
   */
  function watchResource<T extends KubernetesObject>(
    what: string,
    pathOf: (namespacePath: string) => string,
    list: () => Promise<KubernetesListObject<T>>,
    handlers: { change: (o: T) => void; delete: (o: T) => void },
    labelSelector?: string,
  ) {
    const ns = options.namespace;
    const path = pathOf(ns === undefined ? '' : `/namespaces/${encodeURIComponent(ns)}`);
    const informer: Informer<T> & ObjectCache<T> = makeInformer(kc, path, list, labelSelector);
    let delayMs = restartDelayMs;
    let timer: NodeJS.Timeout | undefined;
    let markListed: () => void = () => undefined;
    const listed = new Promise<void>((resolve) => {
      markListed = resolve;
    });
    const onError = (error: unknown) => {
      if (stopped || timer !== undefined) return;
      logger.error(
        { err: error, informer: what, restartInMs: delayMs },
        'watch failed; restarting the informer',
      );
      timer = setTimeout(() => {
        timer = undefined;
        if (stopped) return;
        informer.start().then(markListed, onError);
      }, delayMs);
      delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY_MS);
    };
    const flowing = () => {
      delayMs = restartDelayMs;
    };
    informer.on('add', (o) => {
      flowing();
      handlers.change(o);
    });
    informer.on('update', (o) => {
      flowing();
      handlers.change(o);
    });
    informer.on('delete', (o) => {
      flowing();
      handlers.delete(o);
    });
    informer.on('error', onError);
    return {
      cache: informer as ObjectCache<T>,
      listed,
      async start() {
        await informer.start().then(markListed, onError);
      },
      async stop() {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        await informer.stop();
      },
    };
  }

  function deploymentInformer(labelSelector: string, role: Role) {
    const ns = options.namespace;
    const what = role === DeploymentRole.PRIMARY ? 'primaries' : 'targets';
    const informer = watchResource<V1Deployment>(
      what,
      (nsPath) => `/apis/apps/v1${nsPath}/deployments`,
      () =>
        ns === undefined
          ? apps.listDeploymentForAllNamespaces({ labelSelector })
          : apps.listNamespacedDeployment({ namespace: ns, labelSelector }),
      {
        change: (d) => observeLater(d),
        delete: (d) => observeLater(d),
      },
      labelSelector,
    );
    /** Deployments with an observation queued (`<namespace>/<name>`): one each, however many events. */
    const queued = new Set<string>();
    // The Deployment as it is when its turn comes (the informer's cache), not as the event
    // carried it: a config change may already have observed a newer version, and reporting an
    // older one after it would repeat an observation id with other contents. So events queue at
    // most one observation per Deployment, which bounds the queue while observing is paused.
    function observeLater(d: V1Deployment) {
      const namespace = d.metadata?.namespace ?? 'default';
      const name = d.metadata?.name ?? '';
      const key = `${namespace}/${name}`;
      if (stopped || queued.has(key)) return;
      queued.add(key);
      enqueue(async () => {
        queued.delete(key);
        const latest = informer.cache.get(name, namespace);
        if (latest === undefined) {
          seen.delete(`${role}:${key}`); // deleted
          return;
        }
        if (role === DeploymentRole.PRIMARY && !isOwned(latest)) return;
        await observe(latest, role);
      });
    }
    return informer;
  }

  const userSelector = options.targetSelector?.trim() ?? '';
  const targets = deploymentInformer(
    userSelector === '' ? `!${PRIMARY_OF_LABEL}` : `!${PRIMARY_OF_LABEL},${userSelector}`,
    DeploymentRole.CANARY,
  );
  const ns = options.namespace;
  const onConfigMap = (c: V1ConfigMap) => configChanged('ConfigMap', c);
  const onSecret = (c: V1Secret) => configChanged('Secret', c);
  const primaries = deploymentInformer(PRIMARY_OF_LABEL, DeploymentRole.PRIMARY);
  const informers = [
    targets,
    primaries,
    watchResource<V1ConfigMap>(
      'configmaps',
      (nsPath) => `/api/v1${nsPath}/configmaps`,
      () =>
        ns === undefined
          ? core.listConfigMapForAllNamespaces()
          : core.listNamespacedConfigMap({ namespace: ns }),
      { change: onConfigMap, delete: onConfigMap },
    ),
    watchResource<V1Secret>(
      'secrets',
      (nsPath) => `/api/v1${nsPath}/secrets`,
      () =>
        ns === undefined
          ? core.listSecretForAllNamespaces()
          : core.listNamespacedSecret({ namespace: ns }),
      { change: onSecret, delete: onSecret },
    ),
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
      while (outbox.length > 0 && !stopped) await drain();
    },
    pending: () => outbox.length,
    stats: () => ({ pending: outbox.length, coalesced, full: fullSinceMs !== undefined, filled }),
    async primaries(s) {
      const aborted = new Promise<never>((_, reject) => {
        const abort = () =>
          reject(new AviaryError(ErrorCode.Aborted, 'stopped before the primaries were listed'));
        if (s.aborted || signal.aborted) abort();
        s.addEventListener('abort', abort, { once: true });
        signal.addEventListener('abort', abort, { once: true });
      });
      await Promise.race([primaries.listed, aborted]);
      return primaries.cache.list(ns).filter((d) => isOwned(d));
    },
    async stop() {
      stopped = true;
      wakeObserving();
      for (const timer of retryTimers) clearTimeout(timer);
      retryTimers.clear();
      controller.abort(new Error('observer stopped'));
      await Promise.all(informers.map((i) => i.stop()));
      await queue;
      await draining;
    },
  };
}
