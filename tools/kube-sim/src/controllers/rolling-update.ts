import type { Json } from '../patch.ts';

/**
 * The arithmetic of a rolling update, as `k8s.io/kubernetes/pkg/controller/deployment/util`:
 * `maxSurge` rounds up, `maxUnavailable` rounds down, and both at zero means one unavailable.
 */
export function scaledValue(value: Json | undefined, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return Math.max(0, Math.trunc(value));
  if (typeof value === 'string') {
    const percent = /^(\d+)%$/.exec(value.trim());
    if (percent?.[1] !== undefined) {
      const scaled = (Number(percent[1]) * total) / 100;
      return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
    }
    const n = Number(value);
    if (Number.isInteger(n) && n >= 0) return n;
  }
  return 0;
}

export interface Fenceposts {
  readonly maxSurge: number;
  readonly maxUnavailable: number;
}

/** `ResolveFenceposts`, with the 25%/25% defaults for a missing field. */
export function resolveFenceposts(
  maxSurge: Json | undefined,
  maxUnavailable: Json | undefined,
  replicas: number,
): Fenceposts {
  const surge = scaledValue(maxSurge ?? '25%', replicas, true);
  const unavailable = scaledValue(maxUnavailable ?? '25%', replicas, false);
  if (surge === 0 && unavailable === 0) return { maxSurge: 0, maxUnavailable: 1 };
  return { maxSurge: surge, maxUnavailable: unavailable };
}

/** `NewRSNewReplicas` for RollingUpdate: how large the new ReplicaSet may be now. */
export function newReplicaSetReplicas(
  desired: number,
  fenceposts: Fenceposts,
  allReplicas: number,
  newReplicas: number,
): number {
  const maxTotal = desired + fenceposts.maxSurge;
  if (allReplicas >= maxTotal) return newReplicas;
  const scaleUp = Math.min(maxTotal - allReplicas, desired - newReplicas);
  return newReplicas + Math.max(0, scaleUp);
}
