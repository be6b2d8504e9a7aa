import { decideCanary, decideSupersession } from './decide.ts';
import { evolveCanary, initialCanaryState } from './evolve.ts';
import type {
  CanaryCommand,
  CanaryContext,
  CanaryDecisionEvent,
  CanaryEvent,
  ClusterCanaryState,
} from './types.ts';

/** Emmett's decider shape: three plain functions over plain `{ type, data }` records. */
export interface Decider<Command, State, Event> {
  readonly decide: (command: Command, state: State) => Event[];
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
}

export type ClusterCanaryDecider = Decider<CanaryCommand, ClusterCanaryState, CanaryEvent> & {
  /**
   * The decisions of a canary whose release is superseded by a newer revision's (no input fact:
   * the fleet records it): all traffic back to the primary, as Flagger does when a new revision
   * arrives mid-analysis; the newer release restarts the analysis.
   */
  readonly supersede: (state: ClusterCanaryState) => CanaryDecisionEvent[];
};

/**
 * The decider of one cluster canary of a release. The context (release, cluster, workload, spec)
 * is fixed for the release; a fleet decider builds one per cluster and folds every release event
 * into each (events about other clusters are ignored).
 */
export function createClusterCanaryDecider(context: CanaryContext): ClusterCanaryDecider {
  return {
    decide: (command, state) => decideCanary(context, command, state),
    evolve: (state, event) => evolveCanary(context, state, event),
    initialState: initialCanaryState,
    supersede: (state) => decideSupersession(context, state),
  };
}
