import {
  type ClusterCanaryDecider,
  createClusterCanaryDecider,
  type Decider,
} from '../canary/decider.ts';
import { decideRelease, workloadOf } from './decide.ts';
import { evolveRelease, initialReleaseState } from './evolve.ts';
import type { ReleaseCommand, ReleaseContext, ReleaseEvent, ReleaseState } from './types.ts';

export type ReleaseDecider = Decider<ReleaseCommand, ReleaseState, ReleaseEvent>;

/**
 * The decider of one release across the fleet. It owns one cluster canary decider per cluster of
 * the plan, each with the release's context and its cluster; the plan itself comes from the
 * `ReleaseStarted` event its `StartRelease` command decides.
 */
export function createReleaseDecider(context: ReleaseContext): ReleaseDecider {
  const workload = workloadOf(context);
  const canaries = new Map<string, ClusterCanaryDecider>();
  const canaryOf = (cluster: string): ClusterCanaryDecider => {
    let decider = canaries.get(cluster);
    if (decider === undefined) {
      decider = createClusterCanaryDecider({
        releaseId: context.releaseId,
        cluster,
        workload,
        rollout: context.rollout,
      });
      canaries.set(cluster, decider);
    }
    return decider;
  };
  return {
    decide: (command, state) => decideRelease(context, canaryOf, command, state),
    evolve: (state, event) => evolveRelease(canaryOf, state, event),
    initialState: initialReleaseState,
  };
}
