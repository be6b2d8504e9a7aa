/**
 * Reads one event of a cluster stream (`cluster-<name>`): a recorded Heartbeat updates the
 * cluster's row, a RevisionSeen or WorkloadReadiness observation becomes the latest of its kind
 * for its workload in that cluster (the fleet view). Other observations change nothing.
 */
import type { RecordedEvent } from '@aviary/event-store';
import type { ObservationJson, ObservationRecordedJson } from '@aviary/proto';
import { type ClusterRecord, UnprojectableEventError } from './records.ts';

/** Which latest observation of a workload an observation replaces. */
export type FleetViewSlot = 'revisionSeen' | 'canaryReadiness' | 'primaryReadiness';

export type ClusterChange =
  | { readonly kind: 'heartbeat'; readonly cluster: ClusterRecord }
  | {
      readonly kind: 'fleet-view';
      readonly namespace: string;
      readonly name: string;
      readonly cluster: string;
      readonly slot: FleetViewSlot;
      /** The Observation JSON as stored. */
      readonly observation: Record<string, unknown>;
      readonly at: string;
    };

/**
 * What an event of the stream of `cluster` changes; `undefined` for nothing. Throws
 * `UnprojectableEventError` for an observation that cannot be placed.
 */
export function clusterChangeOf(cluster: string, event: RecordedEvent): ClusterChange | undefined {
  if (event.type !== 'ObservationRecorded') return undefined;
  const observation = (event.data as ObservationRecordedJson).observation;
  if (observation === undefined) {
    throw new UnprojectableEventError('ObservationRecorded holds no observation');
  }
  const from = observation.cluster ?? '';
  if (from !== '' && from !== cluster) {
    throw new UnprojectableEventError(
      `an observation of cluster ${JSON.stringify(from)} in the stream of cluster ${cluster}`,
    );
  }
  const at = event.recordedAt.toISOString();
  if (observation.heartbeat !== undefined) {
    const heartbeat = observation.heartbeat;
    return {
      kind: 'heartbeat',
      cluster: {
        name: cluster,
        labels: { ...(heartbeat.labels ?? {}) },
        agentVersion: heartbeat.agentVersion ?? '',
        leaseMs: heartbeat.leaseMs ?? 0,
        lastHeartbeatAt: at,
      },
    };
  }
  if (observation.revisionSeen !== undefined) {
    return fleetView(cluster, observation, observation.revisionSeen.workload, 'revisionSeen', at);
  }
  if (observation.workloadReadiness !== undefined) {
    const readiness = observation.workloadReadiness;
    const slot =
      readiness.role === 'DEPLOYMENT_ROLE_CANARY'
        ? 'canaryReadiness'
        : readiness.role === 'DEPLOYMENT_ROLE_PRIMARY'
          ? 'primaryReadiness'
          : undefined;
    if (slot === undefined) {
      throw new UnprojectableEventError(
        `WorkloadReadiness with role ${readiness.role ?? 'DEPLOYMENT_ROLE_UNSPECIFIED'}: neither canary nor primary`,
      );
    }
    return fleetView(cluster, observation, readiness.workload, slot, at);
  }
  return undefined;
}

function fleetView(
  cluster: string,
  observation: ObservationJson,
  workload: { readonly namespace?: string; readonly name?: string } | undefined,
  slot: FleetViewSlot,
  at: string,
): ClusterChange {
  const namespace = workload?.namespace ?? '';
  const name = workload?.name ?? '';
  if (namespace === '' || name === '') {
    throw new UnprojectableEventError(`${slot} observation names no workload (namespace and name)`);
  }
  return {
    kind: 'fleet-view',
    namespace,
    name,
    cluster,
    slot,
    observation: observation as Record<string, unknown>,
    at,
  };
}
