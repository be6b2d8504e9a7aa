import { deepEqual, type JsonObject } from '../patch.ts';
import { type ControllerContext, QueueKind, splitKey } from './context.ts';
import {
  annotationsOf,
  conditionOf,
  controllerOf,
  labelsOf,
  numberAt,
  objectAt,
  omitZeros,
  ownerReference,
  PODS,
  parseTimestamp,
  REPLICA_SETS,
  stringAt,
  uidOf,
} from './object.ts';

/** The Pods a ReplicaSet controls (its controller owner reference), in the same namespace. */
export function podsOf(context: ControllerContext, replicaSet: JsonObject): JsonObject[] {
  const namespace = stringAt(replicaSet, 'metadata', 'namespace');
  const uid = uidOf(replicaSet);
  return context.store.list(PODS, namespace).filter((p) => controllerOf(p)?.uid === uid);
}

function isActive(pod: JsonObject): boolean {
  const phase = stringAt(pod, 'status', 'phase');
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** When the Pod became Ready, or undefined if it is not Ready. */
export function readySinceMs(pod: JsonObject): number | undefined {
  const ready = conditionOf(pod.status, 'Ready');
  if (ready?.status !== 'True') return undefined;
  return parseTimestamp(stringAt(ready, 'lastTransitionTime')) ?? 0;
}

const PHASE_RANK: Readonly<Record<string, number>> = { Pending: 0, Unknown: 1, Running: 2 };

function restartsOf(pod: JsonObject): number {
  let total = 0;
  for (const c of ((pod.status as JsonObject | undefined)?.containerStatuses as
    | JsonObject[]
    | undefined) ?? []) {
    total += typeof c.restartCount === 'number' ? c.restartCount : 0;
  }
  return total;
}

/** `controller.ActivePods` order: the Pods to delete first come first. */
function deletionOrder(a: JsonObject, b: JsonObject): number {
  const phase = (p: JsonObject) => PHASE_RANK[stringAt(p, 'status', 'phase')] ?? 1;
  if (phase(a) !== phase(b)) return phase(a) - phase(b);
  const ra = readySinceMs(a);
  const rb = readySinceMs(b);
  if ((ra === undefined) !== (rb === undefined)) return ra === undefined ? -1 : 1;
  if (ra !== undefined && rb !== undefined && ra !== rb) return rb - ra;
  if (restartsOf(a) !== restartsOf(b)) return restartsOf(b) - restartsOf(a);
  const ca = stringAt(a, 'metadata', 'creationTimestamp');
  const cb = stringAt(b, 'metadata', 'creationTimestamp');
  if (ca !== cb) return ca < cb ? 1 : -1;
  return (
    Number(stringAt(b, 'metadata', 'resourceVersion')) -
    Number(stringAt(a, 'metadata', 'resourceVersion'))
  );
}

/**
 * One pass of the ReplicaSet controller: create or delete Pods until as many as `spec.replicas`
 * exist, then report `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas`
 * (Ready for `minReadySeconds`) and `observedGeneration` through the status path.
 */
export function syncReplicaSet(context: ControllerContext, key: string): void {
  const [namespace, name] = splitKey(key);
  const replicaSet = context.store.find(REPLICA_SETS, namespace, name);
  if (replicaSet === undefined) return;
  const desired = numberAt(replicaSet, 'spec', 'replicas') ?? 1;
  let pods = podsOf(context, replicaSet).filter(isActive);

  if (pods.length < desired) {
    const template = objectAt(replicaSet, 'spec', 'template');
    const templateMeta = objectAt(template, 'metadata');
    for (let i = pods.length; i < desired; i++) {
      context.store.create(PODS, namespace, {
        metadata: {
          generateName: `${name}-`,
          labels: labelsOf({ metadata: templateMeta }),
          annotations: annotationsOf({ metadata: templateMeta }),
          ownerReferences: [ownerReference(replicaSet, REPLICA_SETS)],
        },
        spec: { ...objectAt(template, 'spec'), nodeName: 'kube-sim-node' },
      });
    }
  } else if (pods.length > desired) {
    const doomed = [...pods].sort(deletionOrder).slice(0, pods.length - desired);
    for (const pod of doomed) {
      context.store.delete(PODS, namespace, stringAt(pod, 'metadata', 'name'));
    }
  }
  pods = podsOf(context, replicaSet).filter(isActive);

  const now = context.now();
  const minReadyMs = (numberAt(replicaSet, 'spec', 'minReadySeconds') ?? 0) * 1000;
  let ready = 0;
  let available = 0;
  for (const pod of pods) {
    const since = readySinceMs(pod);
    if (since === undefined) continue;
    ready++;
    if (minReadyMs === 0 || since + minReadyMs <= now) available++;
    else context.enqueueAt(QueueKind.replicaSet, key, since + minReadyMs + 1);
  }
  const status = {
    ...omitZeros(
      {
        replicas: pods.length,
        fullyLabeledReplicas: pods.length,
        readyReplicas: ready,
        availableReplicas: available,
        observedGeneration: numberAt(replicaSet, 'metadata', 'generation') ?? 1,
      },
      ['replicas'],
    ),
  };
  if (!deepEqual(replicaSet.status, status)) {
    context.store.update(
      REPLICA_SETS,
      namespace,
      name,
      { ...replicaSet, status },
      { subresource: 'status' },
    );
  }
}
