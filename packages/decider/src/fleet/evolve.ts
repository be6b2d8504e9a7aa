import type { ClusterCanaryDecider } from '../canary/decider.ts';
import { compareStrings } from '../canary/evolve.ts';
import { parseTimestamp } from '../canary/json.ts';
import type { CanaryEvent, ClusterCanaryState } from '../canary/types.ts';
import { withCluster } from './plan.ts';
import {
  type ClusterRevert,
  type FleetEvent,
  type ReleaseEvent,
  type ReleaseState,
  RevertStatus,
  WaveStatus,
} from './types.ts';

/** The cluster canary deciders of a release, one per cluster (built on demand). */
export type CanaryOf = (cluster: string) => ClusterCanaryDecider;

export function initialReleaseState(): ReleaseState {
  return {
    knownClusters: [],
    started: false,
    waves: [],
    canaries: {},
    currentWave: -1,
    waveStatus: WaveStatus.Succeeded,
    bakeUntilMs: 0,
    skipped: [],
    moved: [],
    paused: false,
    halted: false,
    haltedByOperator: false,
    toRevert: [],
    reverts: [],
    finished: false,
    lastTickMs: 0,
  };
}

const FLEET_EVENT_TYPES: ReadonlySet<string> = new Set<FleetEvent['type']>([
  'ReleaseStarted',
  'WaveStarted',
  'WaveBaking',
  'WaveSucceeded',
  'ClusterSkipped',
  'ClusterRequeued',
  'ClusterJoined',
  'FleetHalted',
  'ClusterRevertRequested',
  'ClusterReverted',
  'ClusterRevertFailed',
  'SupersessionRecorded',
  'ReleaseFinished',
]);

export function isFleetEvent(event: ReleaseEvent): event is FleetEvent {
  return FLEET_EVENT_TYPES.has(event.type);
}

/**
 * Folds one event of the release stream. Canary events go through every canary's `evolve` (each
 * ignores other clusters' events) and update the fleet's own view (ticks, heartbeats, release-wide
 * pauses); fleet events update the plan and the waves.
 */
export function evolveRelease(
  canaryOf: CanaryOf,
  state: ReleaseState,
  event: ReleaseEvent,
): ReleaseState {
  if (!isFleetEvent(event)) return evolveCanaries(canaryOf, state, event);
  switch (event.type) {
    case 'ReleaseStarted': {
      const waves = (event.data.waves ?? []).map((w) => ({
        name: w.name ?? '',
        clusters: w.clusters ?? [],
        maxParallel: w.maxParallel ?? 0,
        bakeMs: w.bakeMs ?? 0,
      }));
      const canaries: Record<string, ClusterCanaryState> = {};
      for (const cluster of waves.flatMap((w) => w.clusters)) {
        canaries[cluster] = canaryOf(cluster).initialState();
      }
      return { ...state, started: true, waves, canaries };
    }
    case 'WaveStarted':
      return {
        ...state,
        currentWave: event.data.waveIndex ?? 0,
        waveStatus: WaveStatus.Running,
        bakeUntilMs: 0,
      };
    case 'WaveBaking':
      return {
        ...state,
        waveStatus: WaveStatus.Baking,
        bakeUntilMs: parseTimestamp(event.data.bakeUntil) ?? 0,
      };
    case 'WaveSucceeded':
      return { ...state, waveStatus: WaveStatus.Succeeded };
    case 'ClusterSkipped': {
      const cluster = event.data.cluster ?? '';
      const skipped = [...state.skipped.filter((c) => c !== cluster), cluster].sort(compareStrings);
      return { ...state, skipped };
    }
    case 'ClusterRequeued': {
      const cluster = event.data.cluster ?? '';
      const waveIndex = event.data.waveIndex ?? 0;
      return {
        ...state,
        skipped: state.skipped.filter((c) => c !== cluster),
        moved: [...state.moved.filter((m) => m.cluster !== cluster), { cluster, waveIndex }],
      };
    }
    case 'ClusterJoined': {
      const cluster = event.data.cluster ?? '';
      const waveIndex = event.data.waveIndex ?? 0;
      if (state.canaries[cluster] !== undefined || state.waves[waveIndex] === undefined) {
        return state;
      }
      const waves = state.waves.map((w, i) =>
        i === waveIndex ? { ...w, clusters: [...w.clusters, cluster] } : w,
      );
      // Joining the wave that bakes: it runs again until the newcomer is done, then bakes anew.
      const reopened = waveIndex === state.currentWave && state.waveStatus === WaveStatus.Baking;
      return {
        ...state,
        waves,
        canaries: { ...state.canaries, [cluster]: canaryOf(cluster).initialState() },
        ...(reopened ? { waveStatus: WaveStatus.Running, bakeUntilMs: 0 } : {}),
      };
    }
    case 'FleetHalted':
      return {
        ...state,
        halted: true,
        haltedByOperator: (event.data.cluster ?? '') === '',
        toRevert: [...(event.data.clustersToRevert ?? [])].sort(compareStrings),
      };
    case 'ClusterRevertRequested': {
      const command = event.data.command ?? {};
      const cluster = command.cluster ?? '';
      const existing = state.reverts.find((r) => r.cluster === cluster);
      if (existing?.command.commandId === command.commandId) return state; // a re-send
      const revert: ClusterRevert = {
        cluster,
        revisionId: command.revertPrimary?.revisionId ?? '',
        status: RevertStatus.Reverting,
        command,
      };
      return { ...state, reverts: withRevert(state.reverts, revert) };
    }
    case 'ClusterReverted':
    case 'ClusterRevertFailed': {
      const existing = state.reverts.find((r) => r.cluster === (event.data.cluster ?? ''));
      if (existing === undefined) return state;
      const status = event.type === 'ClusterReverted' ? RevertStatus.Reverted : RevertStatus.Failed;
      return { ...state, reverts: withRevert(state.reverts, { ...existing, status }) };
    }
    case 'SupersessionRecorded':
      return { ...state, supersededBy: event.data.releaseId ?? '' };
    case 'ReleaseFinished':
      return { ...state, finished: true };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function evolveCanaries(canaryOf: CanaryOf, state: ReleaseState, event: CanaryEvent): ReleaseState {
  // Routed by cluster here rather than relying on each canary to ignore other clusters' events:
  // the canary's `evolve` records every agent-command effect it is handed, whatever its cluster.
  const about = clusterOfEvent(event);
  const canaries: Record<string, ClusterCanaryState> = {};
  for (const [cluster, canary] of Object.entries(state.canaries)) {
    canaries[cluster] =
      about === '' || about === cluster ? canaryOf(cluster).evolve(canary, event) : canary;
  }
  const next = { ...state, canaries };
  switch (event.type) {
    case 'TickRecorded':
      return { ...next, lastTickMs: parseTimestamp(event.data.now) ?? state.lastTickMs };
    case 'ObservationRecorded': {
      const observation = event.data.observation ?? {};
      const result = observation.commandResult;
      if (result !== undefined) {
        // A revert's result: a refusal ends it (ClusterRevertFailed); success waits for readiness.
        const revert = state.reverts.find(
          (r) => r.command.commandId === result.commandId && r.cluster === observation.cluster,
        );
        const refused =
          result.outcome === 'COMMAND_OUTCOME_REJECTED' ||
          (result.outcome === 'COMMAND_OUTCOME_FAILED' && result.retriable !== true);
        if (revert === undefined || !refused) return next;
        const why = `${result.reason ?? ''} ${result.message ?? ''}`.trim();
        return {
          ...next,
          reverts: withRevert(state.reverts, { ...revert, refused: why || 'refused' }),
        };
      }
      if (observation.heartbeat === undefined || (observation.cluster ?? '') === '') return next;
      return {
        ...next,
        knownClusters: withCluster(state.knownClusters, {
          name: observation.cluster ?? '',
          labels: observation.heartbeat.labels ?? {},
        }),
      };
    }
    case 'ReleasePaused':
      return (event.data.cluster ?? '') === '' ? { ...next, paused: true } : next;
    case 'ReleaseResumed':
      return (event.data.cluster ?? '') === '' ? { ...next, paused: false } : next;
    default:
      return next;
  }
}

/** The cluster a canary event is about; empty for release-wide events (ticks, release-wide
 * operator actions and pauses). */
export function clusterOfEvent(event: CanaryEvent): string {
  switch (event.type) {
    case 'TickRecorded':
      return '';
    case 'ObservationRecorded':
      return event.data.observation?.cluster ?? '';
    case 'AnalysisVerdictRecorded':
      return event.data.verdict?.cluster ?? '';
    case 'AnalysisRequested':
      return event.data.request?.cluster ?? '';
    case 'WebhookRequested':
      return event.data.call?.cluster ?? '';
    case 'ClusterCanaryInitializationRequested':
    case 'CanaryScaleRequested':
    case 'CanaryWeightRequested':
    case 'CanaryPromotionRequested':
    case 'CanaryScaleToZeroRequested':
      return event.data.command?.cluster ?? '';
    case 'WebhookResultRecorded':
    case 'OperatorActionRecorded':
    case 'ClusterCanaryInitialized':
    case 'CanaryPhaseChanged':
    case 'CanaryWeightApplied':
    case 'CanaryCheckFailed':
    case 'CanaryCheckHeld':
    case 'CanaryIterationCompleted':
    case 'CanaryPromoted':
    case 'CanaryRolledBack':
    case 'ReleasePaused':
    case 'ReleaseResumed':
      return event.data.cluster ?? '';
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function withRevert(reverts: readonly ClusterRevert[], revert: ClusterRevert): ClusterRevert[] {
  return [...reverts.filter((r) => r.cluster !== revert.cluster), revert].sort((a, b) =>
    compareStrings(a.cluster, b.cluster),
  );
}
