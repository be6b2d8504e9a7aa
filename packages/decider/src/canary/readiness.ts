import type { WorkloadReadinessJson } from '@aviary/proto';
import { parseTimestamp } from './json.ts';

/** Flagger's `isDeploymentReady` outcome: ready, wait (retriable), or failed (not retriable). */
export type Readiness =
  | { readonly kind: 'ready' }
  | { readonly kind: 'waiting'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * Flagger's readiness rule (`pkg/canary/deployment_ready.go`) over the latest WorkloadReadiness
 * observation: generation observed, updated / old / available replicas against the ready
 * threshold, and the progress deadline (Kubernetes' own `ProgressDeadlineExceeded`, or
 * `Available=False/MinimumReplicasUnavailable` older than `progressDeadlineSeconds` at `nowMs`).
 * No observation, or one about another revision than `revisionId`, means waiting.
 */
export function readinessOf(
  observation: WorkloadReadinessJson | undefined,
  options: {
    readonly readyThresholdPercent: number;
    readonly progressDeadlineMs: number;
    readonly nowMs: number;
    readonly revisionId?: string;
  },
): Readiness {
  if (observation === undefined) return { kind: 'waiting', reason: 'no readiness reported yet' };
  const revision = observation.revisionId ?? '';
  if (options.revisionId !== undefined && revision !== options.revisionId) {
    return { kind: 'waiting', reason: `runs revision "${revision}", not "${options.revisionId}"` };
  }
  const generation = Number(observation.generation ?? 0);
  const observedGeneration = Number(observation.observedGeneration ?? 0);
  if (generation > observedGeneration) {
    return {
      kind: 'waiting',
      reason: 'observed deployment generation less than desired generation',
    };
  }
  const conditions = observation.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const available = conditions.find((c) => c.type === 'Available');
  let retriable = true;
  if (
    progressing !== undefined &&
    available?.status === 'CONDITION_STATUS_FALSE' &&
    available.reason === 'MinimumReplicasUnavailable'
  ) {
    const since = parseTimestamp(available.lastUpdateTime);
    if (since !== undefined && since + options.progressDeadlineMs < options.nowMs)
      retriable = false;
  }
  const waiting = (reason: string): Readiness =>
    retriable ? { kind: 'waiting', reason } : { kind: 'failed', reason };
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { kind: 'failed', reason: 'exceeded its progress deadline' };
  }
  const desired = observation.desiredReplicas ?? 0;
  const replicas = observation.replicas ?? 0;
  const updated = observation.updatedReplicas ?? 0;
  const availableReplicas = observation.availableReplicas ?? 0;
  if (desired > 0 && updated < desired) {
    return waiting(
      `waiting for rollout to finish: ${updated} out of ${desired} new replicas have been updated`,
    );
  }
  if (replicas > updated) {
    return waiting(
      `waiting for rollout to finish: ${replicas - updated} old replicas are pending termination`,
    );
  }
  const needed = Math.floor((updated * options.readyThresholdPercent) / 100);
  if (availableReplicas < needed) {
    return waiting(
      `waiting for rollout to finish: ${availableReplicas} of ${updated} (readyThreshold ${options.readyThresholdPercent}%) updated replicas are available`,
    );
  }
  return { kind: 'ready' };
}
