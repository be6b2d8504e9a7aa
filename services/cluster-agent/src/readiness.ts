/**
 * Flagger's deployment readiness rule (`pkg/canary/deployment_ready.go` `isDeploymentReady`),
 * as a pure function of a Deployment and `now`. The decider applies the same rule to the
 * `WorkloadReadiness` observations; the agent uses it to know when a bootstrap or a finalization
 * may go on.
 */
import type { V1Deployment, V1DeploymentCondition } from '@kubernetes/client-node';

export type Readiness =
  | { readonly ready: true }
  | { readonly ready: false; readonly retriable: boolean; readonly reason: string };

export interface ReadinessOptions {
  /** `canaryReadyThreshold` / `primaryReadyThreshold`, percent; Flagger's default 100. */
  readonly readyThresholdPercent?: number;
  /** The canary's `progressDeadlineSeconds` (Flagger's default 600). */
  readonly progressDeadlineSeconds?: number;
  readonly nowMs: number;
}

function condition(d: V1Deployment, type: string): V1DeploymentCondition | undefined {
  return d.status?.conditions?.find((c) => c.type === type);
}

function timeMs(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

export function deploymentReadiness(d: V1Deployment, options: ReadinessOptions): Readiness {
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  if (generation > observed) {
    return {
      ready: false,
      retriable: true,
      reason: 'observed deployment generation less than desired generation',
    };
  }
  let retriable = true;
  const progressing = condition(d, 'Progressing');
  const available = condition(d, 'Available');
  if (
    progressing !== undefined &&
    available?.status === 'False' &&
    available.reason === 'MinimumReplicasUnavailable'
  ) {
    const since = timeMs(available.lastUpdateTime);
    const deadlineMs = (options.progressDeadlineSeconds ?? 600) * 1000;
    if (since !== undefined && since + deadlineMs < options.nowMs) retriable = false;
  }
  const desired = d.spec?.replicas;
  const replicas = d.status?.replicas ?? 0;
  const updated = d.status?.updatedReplicas ?? 0;
  const availableReplicas = d.status?.availableReplicas ?? 0;
  const threshold = options.readyThresholdPercent ?? 100;
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return {
      ready: false,
      retriable: false,
      reason: `deployment ${JSON.stringify(d.metadata?.name ?? '')} exceeded its progress deadline`,
    };
  }
  if (desired !== undefined && updated < desired) {
    return {
      ready: false,
      retriable,
      reason: `waiting for rollout to finish: ${updated} out of ${desired} new replicas have been updated`,
    };
  }
  if (replicas > updated) {
    return {
      ready: false,
      retriable,
      reason: `waiting for rollout to finish: ${replicas - updated} old replicas are pending termination`,
    };
  }
  if (availableReplicas < Math.trunc((updated * threshold) / 100)) {
    return {
      ready: false,
      retriable,
      reason: `waiting for rollout to finish: ${availableReplicas} of ${updated} (readyThreshold ${threshold}%) updated replicas are available`,
    };
  }
  return { ready: true };
}
