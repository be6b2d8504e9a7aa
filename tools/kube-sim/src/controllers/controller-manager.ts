import { KubeApiError, StatusReason } from '../errors.ts';
import type { ClusterStore, StoredEvent } from '../store.ts';
import { type ControllerContext, QueueKind } from './context.ts';
import { syncDeployment } from './deployment-controller.ts';
import { collectOrphans } from './garbage-collector.ts';
import { controllerOf, DEPLOYMENTS, nameOf, PODS, REPLICA_SETS, uidOf } from './object.ts';
import { PodLifecycle } from './pod-lifecycle.ts';
import { syncReplicaSet } from './replica-set-controller.ts';

/** Knobs of the simulated controllers and kubelet of one cluster. */
export interface ControllerOptions {
  /** How long a Pod takes from Running to Ready unless its annotations say otherwise; 200 ms. */
  readonly readyDelayMs?: number;
  /** Time between restarts of a crash-looping container; 500 ms. */
  readonly crashRestartIntervalMs?: number;
  /** Milliseconds since the epoch; `Date.now` unless told. Timers still run on real time. */
  readonly now?: () => number;
  /** Where a failed sync is reported; `console.error` unless told. */
  readonly onError?: (error: unknown) => void;
}

export interface Controllers {
  /** Resolves once every queued sync has run and none is pending (timers aside). */
  idle(): Promise<void>;
  /** Unsubscribes, clears timers and drops queued work; safe to call twice. */
  stop(): void;
}

const CONFLICT_RETRY_MS = 20;

/**
 * Runs the Deployment, ReplicaSet and garbage collection controllers and a kubelet against one
 * cluster's store: every change the store reports queues the objects it concerns, timers queue
 * the rest (readiness, restarts, progress deadlines), and each sync writes back through the
 * store, so watches see every step as they would on a real cluster.
 */
export function startControllers(
  store: ClusterStore,
  options: ControllerOptions = {},
): Controllers {
  const now = options.now ?? Date.now;
  const onError =
    options.onError ?? ((error: unknown) => console.error('kube-sim controller', error));
  const queue = new Set<string>();
  const timers = new Map<string, { readonly atMs: number; readonly handle: NodeJS.Timeout }>();
  const waiters: (() => void)[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let stopped = false;

  const schedule = (): void => {
    if (scheduled === undefined && !stopped) scheduled = setImmediate(flush);
  };
  const context: ControllerContext = {
    store,
    now,
    enqueue(kind, key) {
      if (stopped) return;
      queue.add(`${kind}:${key}`);
      schedule();
    },
    enqueueAt(kind, key, atMs) {
      if (stopped) return;
      const id = `${kind}:${key}`;
      const existing = timers.get(id);
      if (existing !== undefined && existing.atMs <= atMs) return;
      if (existing !== undefined) clearTimeout(existing.handle);
      const handle = setTimeout(
        () => {
          timers.delete(id);
          context.enqueue(kind, key);
        },
        Math.max(0, atMs - now()),
      );
      timers.set(id, { atMs, handle });
    },
  };
  const kubelet = new PodLifecycle(context, {
    readyDelayMs: options.readyDelayMs ?? 200,
    crashRestartIntervalMs: options.crashRestartIntervalMs ?? 500,
  });

  const sync = (item: string): void => {
    const colon = item.indexOf(':');
    const kind = item.slice(0, colon) as QueueKind;
    const key = item.slice(colon + 1);
    try {
      switch (kind) {
        case QueueKind.deployment:
          syncDeployment(context, key);
          break;
        case QueueKind.replicaSet:
          syncReplicaSet(context, key);
          break;
        case QueueKind.pod:
          kubelet.sync(key);
          break;
        case QueueKind.orphans:
          collectOrphans(context, key);
          break;
        default: {
          const unknown: never = kind;
          throw new Error(`unknown queue kind ${String(unknown)}`);
        }
      }
    } catch (error) {
      if (error instanceof KubeApiError && error.reason === StatusReason.NotFound) return;
      if (error instanceof KubeApiError && error.reason === StatusReason.Conflict) {
        context.enqueueAt(kind, key, now() + CONFLICT_RETRY_MS);
        return;
      }
      onError(error);
    }
  };

  function flush(): void {
    scheduled = undefined;
    if (stopped) return;
    // One round per turn of the event loop, so the API server keeps answering meanwhile.
    const batch = [...queue];
    queue.clear();
    for (const item of batch) {
      if (stopped) return;
      sync(item);
    }
    if (queue.size > 0) schedule();
    else for (const resolve of waiters.splice(0)) resolve();
  }

  const onChange = (event: StoredEvent): void => {
    const { resource, namespace, object } = event;
    const key = `${namespace}/${nameOf(object)}`;
    const owner = controllerOf(object);
    if (event.type === 'DELETED')
      context.enqueue(QueueKind.orphans, `${namespace}/${uidOf(object)}`);
    if (resource === DEPLOYMENTS) {
      context.enqueue(QueueKind.deployment, key);
    } else if (resource === REPLICA_SETS) {
      context.enqueue(QueueKind.replicaSet, key);
      if (owner?.kind === 'Deployment')
        context.enqueue(QueueKind.deployment, `${namespace}/${owner.name}`);
    } else if (resource === PODS) {
      if (event.type === 'DELETED') kubelet.forget(uidOf(object));
      else context.enqueue(QueueKind.pod, key);
      if (owner?.kind === 'ReplicaSet')
        context.enqueue(QueueKind.replicaSet, `${namespace}/${owner.name}`);
    }
  };
  const unsubscribe = store.subscribe(onChange);
  // Objects that exist already (none on a fresh cluster) get a first sync.
  for (const type of [DEPLOYMENTS, REPLICA_SETS, PODS]) {
    for (const object of store.list(type, undefined)) {
      onChange({
        type: 'ADDED',
        resourceVersion: 0,
        resource: type,
        namespace: String((object.metadata as { namespace?: string }).namespace ?? ''),
        object,
        previous: undefined,
      });
    }
  }

  return {
    idle() {
      if (stopped || (queue.size === 0 && scheduled === undefined)) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      if (scheduled !== undefined) clearImmediate(scheduled);
      scheduled = undefined;
      for (const { handle } of timers.values()) clearTimeout(handle);
      timers.clear();
      queue.clear();
      for (const resolve of waiters.splice(0)) resolve();
    },
  };
}
