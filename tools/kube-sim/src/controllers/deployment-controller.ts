import { deepEqual, type JsonObject } from '../patch.ts';
import { type ControllerContext, QueueKind, splitKey } from './context.ts';
import {
  annotationsOf,
  arrayAt,
  at,
  conditionOf,
  controllerOf,
  DEPLOYMENTS,
  labelsOf,
  nameOf,
  numberAt,
  objectAt,
  omitZeros,
  ownerReference,
  parseTimestamp,
  REPLICA_SETS,
  stringAt,
  timestamp,
  uidOf,
  withCondition,
} from './object.ts';
import { POD_TEMPLATE_HASH_LABEL, podTemplateHash } from './pod-template-hash.ts';
import { type Fenceposts, newReplicaSetReplicas, resolveFenceposts } from './rolling-update.ts';

/** The annotations the Deployment controller writes, as Kubernetes names them. */
export const DeploymentAnnotation = {
  revision: 'deployment.kubernetes.io/revision',
  desiredReplicas: 'deployment.kubernetes.io/desired-replicas',
  maxReplicas: 'deployment.kubernetes.io/max-replicas',
} as const;

/** Condition reasons of `k8s.io/kubernetes/pkg/controller/deployment/util`. */
export const DeploymentReason = {
  newReplicaSetCreated: 'NewReplicaSetCreated',
  foundNewReplicaSet: 'FoundNewReplicaSet',
  replicaSetUpdated: 'ReplicaSetUpdated',
  newReplicaSetAvailable: 'NewReplicaSetAvailable',
  progressDeadlineExceeded: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  minimumReplicasAvailable: 'MinimumReplicasAvailable',
  minimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

/** `progressDeadlineSeconds` meaning "no deadline" (math.MaxInt32). */
const NO_DEADLINE = 2_147_483_647;

/** Annotations a Deployment does not hand down to its ReplicaSets. */
const NOT_COPIED = new Set<string>([
  'kubectl.kubernetes.io/last-applied-configuration',
  DeploymentAnnotation.revision,
  'deployment.kubernetes.io/revision-history',
  DeploymentAnnotation.desiredReplicas,
  DeploymentAnnotation.maxReplicas,
]);

const replicasOf = (o: JsonObject): number => numberAt(o, 'spec', 'replicas') ?? 0;
const statusOf = (o: JsonObject, field: string): number => numberAt(o, 'status', field) ?? 0;
const revisionOf = (o: JsonObject): number =>
  Number(annotationsOf(o)[DeploymentAnnotation.revision] ?? 0) || 0;
const sum = (items: readonly JsonObject[], f: (o: JsonObject) => number): number =>
  items.reduce((total, o) => total + f(o), 0);

/** Oldest first, as `ReplicaSetsByCreationTimestamp` (revision breaks ties within a second). */
function byAge(a: JsonObject, b: JsonObject): number {
  const ca = stringAt(a, 'metadata', 'creationTimestamp');
  const cb = stringAt(b, 'metadata', 'creationTimestamp');
  if (ca !== cb) return ca < cb ? -1 : 1;
  return revisionOf(a) - revisionOf(b) || (nameOf(a) < nameOf(b) ? -1 : 1);
}

class DeploymentSync {
  readonly #context: ControllerContext;
  readonly #namespace: string;
  readonly #name: string;
  readonly #deployment: JsonObject;
  readonly #desired: number;
  readonly #hash: string;
  readonly #fenceposts: Fenceposts;
  readonly #recreate: boolean;
  readonly #nowMs: number;
  #conditions: JsonObject[];

  constructor(context: ControllerContext, deployment: JsonObject) {
    this.#context = context;
    this.#deployment = deployment;
    this.#namespace = stringAt(deployment, 'metadata', 'namespace');
    this.#name = nameOf(deployment);
    this.#desired = numberAt(deployment, 'spec', 'replicas') ?? 1;
    this.#hash = podTemplateHash(at(deployment, 'spec', 'template'));
    this.#recreate = stringAt(deployment, 'spec', 'strategy', 'type') === 'Recreate';
    const rolling = objectAt(deployment, 'spec', 'strategy', 'rollingUpdate');
    this.#fenceposts = this.#recreate
      ? { maxSurge: 0, maxUnavailable: 0 }
      : resolveFenceposts(rolling.maxSurge, rolling.maxUnavailable, this.#desired);
    this.#nowMs = context.now();
    this.#conditions = arrayAt(deployment, 'status', 'conditions');
  }

  run(): void {
    const paused = at(this.#deployment, 'spec', 'paused') === true;
    if (paused) {
      this.#setCondition('Progressing', 'Unknown', DeploymentReason.paused, 'Deployment is paused');
      this.#scalePaused();
    } else {
      if (
        conditionOf({ conditions: this.#conditions }, 'Progressing')?.reason === 'DeploymentPaused'
      ) {
        this.#setCondition(
          'Progressing',
          'Unknown',
          DeploymentReason.resumed,
          'Deployment is resumed',
        );
      }
      this.#ensureNewReplicaSet();
      if (this.#recreate) this.#recreateStep();
      else if (!this.#reconcileNew()) this.#reconcileOld();
    }
    this.#writeRevision();
    this.#writeStatus(paused);
  }

  #owned(): JsonObject[] {
    const uid = uidOf(this.#deployment);
    return this.#context.store
      .list(REPLICA_SETS, this.#namespace)
      .filter((rs) => controllerOf(rs)?.uid === uid);
  }

  #newReplicaSet(all = this.#owned()): JsonObject | undefined {
    return all.find((rs) => labelsOf(rs)[POD_TEMPLATE_HASH_LABEL] === this.#hash);
  }

  #oldReplicaSets(all = this.#owned()): JsonObject[] {
    return all.filter((rs) => labelsOf(rs)[POD_TEMPLATE_HASH_LABEL] !== this.#hash).sort(byAge);
  }

  #setCondition(type: string, status: string, reason: string, message: string): void {
    const at = timestamp(this.#nowMs);
    this.#conditions = withCondition(this.#conditions, {
      type,
      status,
      lastUpdateTime: at,
      lastTransitionTime: at,
      reason,
      message,
    });
  }

  #scale(replicaSet: JsonObject, replicas: number): void {
    const current = this.#context.store.find(REPLICA_SETS, this.#namespace, nameOf(replicaSet));
    if (current === undefined) return;
    const annotations = {
      ...annotationsOf(current),
      [DeploymentAnnotation.desiredReplicas]: String(this.#desired),
      [DeploymentAnnotation.maxReplicas]: String(this.#desired + this.#fenceposts.maxSurge),
    };
    this.#context.store.update(REPLICA_SETS, this.#namespace, nameOf(current), {
      ...current,
      metadata: { ...objectAt(current, 'metadata'), annotations },
      spec: { ...objectAt(current, 'spec'), replicas },
    });
  }

  /** Paused: no rollout; a lone active ReplicaSet still follows `spec.replicas`. */
  #scalePaused(): void {
    const all = this.#owned();
    const active = all.filter((rs) => replicasOf(rs) > 0);
    const target = active.length === 0 ? this.#newReplicaSet(all) : active[0];
    if (active.length <= 1 && target !== undefined && replicasOf(target) !== this.#desired) {
      this.#scale(target, this.#desired);
    }
  }

  #ensureNewReplicaSet(): void {
    const all = this.#owned();
    const old = this.#oldReplicaSets(all);
    const maxOldRevision = Math.max(0, ...old.map(revisionOf));
    const existing = this.#newReplicaSet(all);
    if (existing !== undefined) {
      if (revisionOf(existing) <= maxOldRevision) {
        // A rollback to an earlier template: that ReplicaSet becomes the newest revision.
        this.#context.store.update(REPLICA_SETS, this.#namespace, nameOf(existing), {
          ...existing,
          metadata: {
            ...objectAt(existing, 'metadata'),
            annotations: {
              ...annotationsOf(existing),
              [DeploymentAnnotation.revision]: String(maxOldRevision + 1),
            },
          },
        });
      }
      if (conditionOf({ conditions: this.#conditions }, 'Progressing') === undefined) {
        this.#setCondition(
          'Progressing',
          'True',
          DeploymentReason.foundNewReplicaSet,
          `Found new replica set "${nameOf(existing)}"`,
        );
      }
      return;
    }
    // Recreate creates the new ReplicaSet only once every old Pod is gone.
    if (this.#recreate && old.some((rs) => replicasOf(rs) > 0 || statusOf(rs, 'replicas') > 0)) {
      return;
    }
    const replicas = this.#recreate
      ? this.#desired
      : Math.min(
          this.#desired,
          newReplicaSetReplicas(this.#desired, this.#fenceposts, sum(old, replicasOf), 0),
        );
    const template = objectAt(this.#deployment, 'spec', 'template');
    const templateMeta = objectAt(template, 'metadata');
    const selector = objectAt(this.#deployment, 'spec', 'selector');
    const hashLabel = { [POD_TEMPLATE_HASH_LABEL]: this.#hash };
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(annotationsOf(this.#deployment))) {
      if (!NOT_COPIED.has(k)) annotations[k] = v;
    }
    const name = `${this.#name}-${this.#hash}`;
    this.#context.store.create(REPLICA_SETS, this.#namespace, {
      metadata: {
        name,
        labels: { ...labelsOf({ metadata: templateMeta }), ...hashLabel },
        annotations: {
          ...annotations,
          [DeploymentAnnotation.desiredReplicas]: String(this.#desired),
          [DeploymentAnnotation.maxReplicas]: String(this.#desired + this.#fenceposts.maxSurge),
          [DeploymentAnnotation.revision]: String(maxOldRevision + 1),
        },
        ownerReferences: [ownerReference(this.#deployment, DEPLOYMENTS)],
      },
      spec: {
        replicas,
        minReadySeconds: numberAt(this.#deployment, 'spec', 'minReadySeconds') ?? 0,
        selector: {
          ...selector,
          matchLabels: { ...objectAt(selector, 'matchLabels'), ...hashLabel },
        },
        template: {
          ...template,
          metadata: {
            ...templateMeta,
            labels: { ...objectAt(templateMeta, 'labels'), ...hashLabel },
          },
        },
      },
    });
    this.#setCondition(
      'Progressing',
      'True',
      DeploymentReason.newReplicaSetCreated,
      `Created new replica set "${name}"`,
    );
  }

  #recreateStep(): void {
    const all = this.#owned();
    const old = this.#oldReplicaSets(all);
    for (const rs of old) if (replicasOf(rs) > 0) this.#scale(rs, 0);
    const newRS = this.#newReplicaSet(all);
    if (newRS && old.every((rs) => statusOf(rs, 'replicas') === 0)) {
      if (replicasOf(newRS) !== this.#desired) this.#scale(newRS, this.#desired);
    }
  }

  /** `reconcileNewReplicaSet`: true when it scaled the new ReplicaSet. */
  #reconcileNew(): boolean {
    const all = this.#owned();
    const newRS = this.#newReplicaSet(all);
    if (newRS === undefined) return false;
    const current = replicasOf(newRS);
    if (current === this.#desired) return false;
    const next =
      current > this.#desired
        ? this.#desired
        : newReplicaSetReplicas(this.#desired, this.#fenceposts, sum(all, replicasOf), current);
    if (next === current) return false;
    this.#scale(newRS, next);
    return true;
  }

  /** `reconcileOldReplicaSets`: scale old ReplicaSets down as far as availability allows. */
  #reconcileOld(): void {
    let all = this.#owned();
    const newRS = this.#newReplicaSet(all);
    let old = this.#oldReplicaSets(all);
    if (sum(old, replicasOf) === 0) {
      this.#cleanup();
      return;
    }
    const minAvailable = this.#desired - this.#fenceposts.maxUnavailable;
    const newUnavailable = newRS ? replicasOf(newRS) - statusOf(newRS, 'availableReplicas') : 0;
    const maxScaledDown = sum(all, replicasOf) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;

    // First the old Pods that are not available anyway.
    let cleaned = 0;
    for (const rs of old) {
      if (cleaned >= maxScaledDown) break;
      const unhealthy = replicasOf(rs) - statusOf(rs, 'availableReplicas');
      if (replicasOf(rs) === 0 || unhealthy <= 0) continue;
      const down = Math.min(maxScaledDown - cleaned, unhealthy);
      this.#scale(rs, replicasOf(rs) - down);
      cleaned += down;
    }

    // Then available ones, as long as minAvailable stays available.
    all = this.#owned();
    old = this.#oldReplicaSets(all);
    const available = sum(all, (rs) => statusOf(rs, 'availableReplicas'));
    if (available <= minAvailable) return;
    const total = available - minAvailable;
    let scaledDown = 0;
    for (const rs of old) {
      if (scaledDown >= total) break;
      if (replicasOf(rs) === 0) continue;
      const down = Math.min(replicasOf(rs), total - scaledDown);
      this.#scale(rs, replicasOf(rs) - down);
      scaledDown += down;
    }
  }

  /** `cleanupDeployment`: old, empty ReplicaSets beyond `revisionHistoryLimit` go. */
  #cleanup(): void {
    const limit = numberAt(this.#deployment, 'spec', 'revisionHistoryLimit') ?? 10;
    const old = this.#oldReplicaSets().sort((a, b) => revisionOf(a) - revisionOf(b));
    let excess = old.length - limit;
    for (const rs of old) {
      if (excess <= 0) break;
      if (replicasOf(rs) !== 0 || statusOf(rs, 'replicas') !== 0) continue;
      this.#context.store.delete(REPLICA_SETS, this.#namespace, nameOf(rs));
      excess--;
    }
  }

  #writeRevision(): void {
    const newRS = this.#newReplicaSet();
    const current = this.#context.store.find(DEPLOYMENTS, this.#namespace, this.#name);
    if (newRS === undefined || current === undefined) return;
    const revision = annotationsOf(newRS)[DeploymentAnnotation.revision];
    if (
      revision === undefined ||
      annotationsOf(current)[DeploymentAnnotation.revision] === revision
    ) {
      return;
    }
    this.#context.store.update(DEPLOYMENTS, this.#namespace, this.#name, {
      ...current,
      metadata: {
        ...objectAt(current, 'metadata'),
        annotations: { ...annotationsOf(current), [DeploymentAnnotation.revision]: revision },
      },
    });
  }

  /** `calculateStatus` and `syncRolloutStatus`, written through the status path. */
  #writeStatus(paused: boolean): void {
    const all = this.#owned();
    const newRS = this.#newReplicaSet(all);
    const previous = objectAt(this.#deployment, 'status');
    const generation = numberAt(this.#deployment, 'metadata', 'generation') ?? 1;
    const replicas = sum(all, (rs) => statusOf(rs, 'replicas'));
    const updated = newRS ? statusOf(newRS, 'replicas') : 0;
    const ready = sum(all, (rs) => statusOf(rs, 'readyReplicas'));
    const available = sum(all, (rs) => statusOf(rs, 'availableReplicas'));
    const unavailable = Math.max(0, sum(all, replicasOf) - available);

    const maxUnavailable =
      this.#recreate || this.#desired === 0
        ? 0
        : Math.min(this.#fenceposts.maxUnavailable, this.#desired);
    if (available >= this.#desired - maxUnavailable) {
      this.#setCondition(
        'Available',
        'True',
        DeploymentReason.minimumReplicasAvailable,
        'Deployment has minimum availability.',
      );
    } else {
      this.#setCondition(
        'Available',
        'False',
        DeploymentReason.minimumReplicasUnavailable,
        'Deployment does not have minimum availability.',
      );
    }

    const deadlineSeconds = numberAt(this.#deployment, 'spec', 'progressDeadlineSeconds') ?? 600;
    const hasDeadline = deadlineSeconds !== NO_DEADLINE;
    if (!paused && newRS !== undefined && hasDeadline) {
      const progressing = conditionOf({ conditions: this.#conditions }, 'Progressing');
      const complete =
        replicas === updated && progressing?.reason === DeploymentReason.newReplicaSetAvailable;
      if (!complete) {
        const n = nameOf(newRS);
        const previousOld =
          (numberAt(previous, 'replicas') ?? 0) - (numberAt(previous, 'updatedReplicas') ?? 0);
        if (
          updated === this.#desired &&
          replicas === this.#desired &&
          available === this.#desired
        ) {
          this.#setCondition(
            'Progressing',
            'True',
            DeploymentReason.newReplicaSetAvailable,
            `ReplicaSet "${n}" has successfully progressed.`,
          );
        } else if (
          updated > (numberAt(previous, 'updatedReplicas') ?? 0) ||
          replicas - updated < previousOld ||
          ready > (numberAt(previous, 'readyReplicas') ?? 0) ||
          available > (numberAt(previous, 'availableReplicas') ?? 0)
        ) {
          // Progress refreshes lastUpdateTime, which restarts the deadline.
          const at = timestamp(this.#nowMs);
          const since =
            progressing?.status === 'True' ? (progressing.lastTransitionTime ?? at) : at;
          this.#conditions = [
            ...this.#conditions.filter((c) => c.type !== 'Progressing'),
            {
              type: 'Progressing',
              status: 'True',
              lastUpdateTime: at,
              lastTransitionTime: since,
              reason: DeploymentReason.replicaSetUpdated,
              message: `ReplicaSet "${n}" is progressing.`,
            },
          ];
        } else if (progressing !== undefined && this.#timedOut(progressing, deadlineSeconds)) {
          this.#setCondition(
            'Progressing',
            'False',
            DeploymentReason.progressDeadlineExceeded,
            `ReplicaSet "${n}" has timed out progressing.`,
          );
        }
      }
      const after = conditionOf({ conditions: this.#conditions }, 'Progressing');
      if (after?.status === 'True' && after.reason !== DeploymentReason.newReplicaSetAvailable) {
        const from = parseTimestamp(stringAt(after, 'lastUpdateTime')) ?? this.#nowMs;
        this.#context.enqueueAt(
          QueueKind.deployment,
          `${this.#namespace}/${this.#name}`,
          from + deadlineSeconds * 1000 + 1,
        );
      }
    }

    const status: JsonObject = {
      ...omitZeros({
        observedGeneration: generation,
        replicas,
        updatedReplicas: updated,
        readyReplicas: ready,
        availableReplicas: available,
        unavailableReplicas: unavailable,
      }),
      conditions: this.#conditions,
    };
    const current = this.#context.store.find(DEPLOYMENTS, this.#namespace, this.#name);
    if (current === undefined || deepEqual(current.status, status)) return;
    this.#context.store.update(
      DEPLOYMENTS,
      this.#namespace,
      this.#name,
      { ...current, status },
      {
        subresource: 'status',
      },
    );
  }

  #timedOut(progressing: JsonObject, deadlineSeconds: number): boolean {
    if (progressing.reason === DeploymentReason.newReplicaSetAvailable) return false;
    if (progressing.reason === DeploymentReason.progressDeadlineExceeded) return true;
    const from = parseTimestamp(stringAt(progressing, 'lastUpdateTime'));
    return from !== undefined && from + deadlineSeconds * 1000 < this.#nowMs;
  }
}

/**
 * One pass of the Deployment controller over `<namespace>/<name>`: the ReplicaSet of the current
 * template (`<name>-<pod-template-hash>`), a rolling update (or Recreate) step, the revision
 * annotation, and the status with its `Available` and `Progressing` conditions.
 */
export function syncDeployment(context: ControllerContext, key: string): void {
  const [namespace, name] = splitKey(key);
  const deployment = context.store.find(DEPLOYMENTS, namespace, name);
  if (deployment === undefined) return;
  new DeploymentSync(context, deployment).run();
}
