/**
 * Folds one event of a release stream (`release-<id>`) into the release's row and its canaries'
 * rows, the way the release decider folds its own state (docs/decider.md): a whole-release pause
 * pauses every canary, entering Progressing starts the counters again, weights are the routes
 * an agent confirmed (CanaryWeightApplied), a cluster that registers mid-release joins a wave
 * (ClusterJoined), a halt-and-revert is tracked per canary.
 */
import type { RecordedEvent } from '@aviary/event-store';
import type {
  CanaryCheckFailedJson,
  CanaryCheckHeldJson,
  CanaryIterationCompletedJson,
  CanaryPhaseChangedJson,
  CanaryRolledBackJson,
  CanaryWeightAppliedJson,
  ClusterJoinedJson,
  ClusterRequeuedJson,
  ClusterRevertedJson,
  ClusterRevertFailedJson,
  ClusterRevertRequestedJson,
  ClusterSkippedJson,
  FleetHaltedJson,
  ReleaseFinishedJson,
  ReleasePausedJson,
  ReleaseResumedJson,
  ReleaseStartedJson,
  SupersessionRecordedJson,
  WaveBakingJson,
  WaveStartedJson,
  WaveSucceededJson,
} from '@aviary/proto';
import {
  type CanaryRecord,
  newCanary,
  newRelease,
  type ReleaseRecord,
  UnprojectableEventError,
  type WaveRecord,
} from './records.ts';

/** A release's rows while a batch is projected. */
export interface ReleaseAggregate {
  readonly releaseId: string;
  release: ReleaseRecord | undefined;
  /** By cluster; rows are added, never removed. */
  readonly canaries: Map<string, CanaryRecord>;
  /** Canaries changed by the batch. */
  readonly changedCanaries: Set<string>;
}

/** What the release's application must learn from an event. */
export type ApplicationEffect =
  | { readonly kind: 'release-active'; readonly release: ReleaseRecord }
  | { readonly kind: 'release-finished'; readonly release: ReleaseRecord };

const PROGRESSING = 'CANARY_PHASE_PROGRESSING';

/** Events that change the release's or its canaries' state (the rest is timeline only). */
const STATE_EVENTS: ReadonlySet<string> = new Set([
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
  'ReleasePaused',
  'ReleaseResumed',
  'ReleaseFinished',
  'ClusterCanaryInitialized',
  'CanaryPhaseChanged',
  'CanaryWeightApplied',
  'CanaryCheckFailed',
  'CanaryCheckHeld',
  'CanaryIterationCompleted',
  'CanaryPromoted',
  'CanaryRolledBack',
]);

/**
 * Applies one event (already known to be newer than what the rows hold). Throws
 * `UnprojectableEventError`, before changing anything, for an event the rows cannot take.
 */
export function foldReleaseEvent(
  aggregate: ReleaseAggregate,
  event: RecordedEvent,
): ApplicationEffect | undefined {
  const at = event.recordedAt.toISOString();
  if (event.type === 'ReleaseStarted') return started(aggregate, event, at);
  const release = aggregate.release;
  if (release?.startedAt == null) {
    if (!STATE_EVENTS.has(event.type)) return undefined;
    throw new UnprojectableEventError(
      `${event.type} before the release's ReleaseStarted: release ${aggregate.releaseId} has not started`,
    );
  }
  const effect = apply(aggregate, release, event, at);
  release.version = event.streamVersion;
  release.updatedAt = at;
  return effect;
}

function started(
  aggregate: ReleaseAggregate,
  event: RecordedEvent,
  at: string,
): ApplicationEffect | undefined {
  const data = event.data as ReleaseStartedJson;
  if (aggregate.release?.startedAt != null) {
    throw new UnprojectableEventError(`release ${aggregate.releaseId} was started before`);
  }
  if ((data.releaseId ?? '') !== aggregate.releaseId) {
    throw new UnprojectableEventError(
      `ReleaseStarted names release ${JSON.stringify(data.releaseId ?? '')} in the stream of release ${aggregate.releaseId}`,
    );
  }
  const namespace = data.rollout?.namespace ?? '';
  const name = data.rollout?.name ?? '';
  if (namespace === '' || name === '') {
    throw new UnprojectableEventError('ReleaseStarted names no rollout (namespace and name)');
  }
  const release = aggregate.release ?? newRelease(aggregate.releaseId, { namespace, name }, at);
  release.namespace = namespace;
  release.name = name;
  release.revisionId = data.revision?.id ?? release.revisionId;
  release.specHash = data.specHash || release.specHash;
  release.startedAt = at;
  release.currentWave = -1;
  release.waves = (data.waves ?? []).map((w) => ({
    name: w.name ?? '',
    clusters: [...(w.clusters ?? [])],
    status: 'pending',
  }));
  release.version = event.streamVersion;
  release.updatedAt = at;
  aggregate.release = release;
  for (const cluster of release.waves.flatMap((w) => w.clusters)) canary(aggregate, cluster, at);
  return release.finished ? undefined : { kind: 'release-active', release };
}

function apply(
  aggregate: ReleaseAggregate,
  release: ReleaseRecord,
  event: RecordedEvent,
  at: string,
): ApplicationEffect | undefined {
  switch (event.type) {
    case 'WaveStarted': {
      const data = event.data as WaveStartedJson;
      const index = data.waveIndex ?? 0;
      const wave = waveAt(release, index, event.type);
      release.currentWave = index;
      wave.status = 'running';
      if (data.waveName) wave.name = data.waveName;
      return undefined;
    }
    case 'WaveBaking':
      waveAt(release, (event.data as WaveBakingJson).waveIndex ?? 0, event.type).status = 'baking';
      return undefined;
    case 'WaveSucceeded':
      waveAt(release, (event.data as WaveSucceededJson).waveIndex ?? 0, event.type).status =
        'succeeded';
      return undefined;
    case 'ClusterSkipped': {
      const data = event.data as ClusterSkippedJson;
      const c = canary(aggregate, required(data.cluster, event.type), at);
      c.skipped = true;
      c.lastReason = data.reason || 'skipped';
      return undefined;
    }
    case 'ClusterRequeued': {
      const data = event.data as ClusterRequeuedJson;
      const cluster = required(data.cluster, event.type);
      const wave = waveAt(release, data.waveIndex ?? 0, event.type);
      const c = canary(aggregate, cluster, at);
      c.skipped = false;
      c.lastReason = data.reason || 'requeued';
      // It now runs in that wave: listed there only.
      for (const w of release.waves) w.clusters = w.clusters.filter((name) => name !== cluster);
      wave.clusters.push(cluster);
      return undefined;
    }
    case 'ClusterJoined':
      joined(aggregate, release, event.data as ClusterJoinedJson, at);
      return undefined;
    case 'FleetHalted':
      release.halted = true;
      release.reason = (event.data as FleetHaltedJson).reason || 'halted';
      return undefined;
    case 'ReleasePaused': {
      const data = event.data as ReleasePausedJson;
      const reason = data.reason || 'paused';
      if ((data.cluster ?? '') === '') {
        release.paused = true;
        if (!release.halted) release.reason = reason;
        for (const c of aggregate.canaries.values()) touch(aggregate, c, at).paused = true;
      } else {
        const c = canary(aggregate, data.cluster ?? '', at);
        c.paused = true;
        c.lastReason = reason;
      }
      return undefined;
    }
    case 'ReleaseResumed': {
      const data = event.data as ReleaseResumedJson;
      if ((data.cluster ?? '') === '') {
        release.paused = false;
        if (!release.halted) release.reason = null;
        for (const c of aggregate.canaries.values()) touch(aggregate, c, at).paused = false;
      } else {
        canary(aggregate, data.cluster ?? '', at).paused = false;
      }
      return undefined;
    }
    case 'ClusterRevertRequested': {
      const command = (event.data as ClusterRevertRequestedJson).command ?? {};
      const c = canary(aggregate, required(command.cluster, event.type), at);
      const commandId = command.commandId ?? '';
      // A re-send (same command, every tick until the agent answers) changes nothing.
      if (c.revert?.commandId === commandId) return undefined;
      c.revert = {
        status: 'reverting',
        revisionId: command.revertPrimary?.revisionId ?? '',
        commandId,
      };
      return undefined;
    }
    case 'ClusterReverted': {
      const data = event.data as ClusterRevertedJson;
      const c = aggregate.canaries.get(required(data.cluster, event.type));
      // Like the decider: only a requested revert ends.
      if (c?.revert == null) return undefined;
      touch(aggregate, c, at).revert = { ...c.revert, status: 'reverted' };
      return undefined;
    }
    case 'ClusterRevertFailed': {
      const data = event.data as ClusterRevertFailedJson;
      const c = aggregate.canaries.get(required(data.cluster, event.type));
      if (c?.revert == null) return undefined;
      const reason = data.reason || 'revert failed';
      touch(aggregate, c, at).revert = { ...c.revert, status: 'failed', reason };
      c.lastReason = `revert failed: ${reason}`;
      return undefined;
    }
    case 'SupersessionRecorded':
      release.supersededBy = (event.data as SupersessionRecordedJson).releaseId || null;
      return undefined;
    case 'ReleaseFinished': {
      const data = event.data as ReleaseFinishedJson;
      release.finished = true;
      release.outcome = data.outcome ?? 'RELEASE_OUTCOME_UNSPECIFIED';
      release.reason = data.reason || null;
      release.finishedAt = at;
      return { kind: 'release-finished', release };
    }
    case 'ClusterCanaryInitialized':
    case 'CanaryPromoted': {
      canary(aggregate, required(event.data.cluster as string | undefined, event.type), at);
      return undefined;
    }
    case 'CanaryPhaseChanged': {
      const data = event.data as CanaryPhaseChangedJson;
      const c = canary(aggregate, required(data.cluster, event.type), at);
      c.phase = data.phase ?? 'CANARY_PHASE_UNSPECIFIED';
      if (c.phase === PROGRESSING) {
        c.failedChecks = 0;
        c.iterations = 0;
      }
      if (data.reason) c.lastReason = data.reason;
      return undefined;
    }
    case 'CanaryWeightApplied': {
      const data = event.data as CanaryWeightAppliedJson;
      const c = canary(aggregate, required(data.cluster, event.type), at);
      c.canaryWeightPercent = data.routes?.canaryWeightPercent ?? 0;
      c.primaryWeightPercent = data.routes?.primaryWeightPercent ?? 0;
      return undefined;
    }
    case 'CanaryCheckFailed': {
      const data = event.data as CanaryCheckFailedJson;
      const c = canary(aggregate, required(data.cluster, event.type), at);
      c.failedChecks = data.failedChecks ?? 0;
      c.lastReason = data.reason || `check ${data.checkName ?? ''} failed`;
      return undefined;
    }
    case 'CanaryCheckHeld': {
      const data = event.data as CanaryCheckHeldJson;
      const c = canary(aggregate, required(data.cluster, event.type), at);
      c.lastReason = data.reason || `check ${data.checkName ?? ''} held`;
      return undefined;
    }
    case 'CanaryIterationCompleted': {
      const data = event.data as CanaryIterationCompletedJson;
      canary(aggregate, required(data.cluster, event.type), at).iterations = data.iterations ?? 0;
      return undefined;
    }
    case 'CanaryRolledBack': {
      const data = event.data as CanaryRolledBackJson;
      const c = canary(aggregate, required(data.cluster, event.type), at);
      c.failedChecks = data.failedChecks ?? c.failedChecks;
      c.lastReason = data.reason || 'rolled back';
      return undefined;
    }
    default:
      // Inputs and effects: the timeline only.
      return undefined;
  }
}

/**
 * A cluster that registered mid-release joins a wave, as the decider's evolve has it: listed at
 * the end of that wave, its canary created (put after its wave's canaries in plan order), and a
 * baking wave it joins runs again. A cluster already planned changes nothing.
 */
function joined(
  aggregate: ReleaseAggregate,
  release: ReleaseRecord,
  data: ClusterJoinedJson,
  at: string,
): void {
  const cluster = required(data.cluster, 'ClusterJoined');
  const index = data.waveIndex ?? 0;
  const wave = waveAt(release, index, 'ClusterJoined');
  if (release.waves.some((w) => w.clusters.includes(cluster))) return;
  // Its place in plan order: after every canary listed up to and including its wave.
  const upTo = new Set(release.waves.slice(0, index + 1).flatMap((w) => w.clusters));
  let ordinal = 0;
  for (const c of aggregate.canaries.values()) {
    if (upTo.has(c.cluster)) ordinal = Math.max(ordinal, c.ordinal + 1);
  }
  wave.clusters.push(cluster);
  if (index === release.currentWave && wave.status === 'baking') wave.status = 'running';
  const existing = aggregate.canaries.get(cluster);
  for (const c of aggregate.canaries.values()) {
    if (c !== existing && c.ordinal >= ordinal) touch(aggregate, c, at).ordinal += 1;
  }
  const c = canary(aggregate, cluster, at);
  c.ordinal = ordinal;
  const selectedBy = data.selectedByWaveIndex ?? index;
  c.lastReason =
    data.reason ||
    (selectedBy === index
      ? `joined wave ${wave.name}`
      : `joined wave ${wave.name} (selected by wave ${release.waves[selectedBy]?.name ?? `#${selectedBy}`})`);
}

function required(cluster: string | undefined, type: string): string {
  if (cluster === undefined || cluster === '') {
    throw new UnprojectableEventError(`${type} names no cluster`);
  }
  return cluster;
}

function waveAt(release: ReleaseRecord, index: number, type: string): WaveRecord {
  const wave = release.waves[index];
  if (wave === undefined) {
    throw new UnprojectableEventError(
      `${type} names wave ${index}, but release ${release.releaseId} has ${release.waves.length} waves`,
    );
  }
  return wave;
}

/** The canary of a cluster, created (after the planned ones) if the plan did not name it. */
function canary(aggregate: ReleaseAggregate, cluster: string, at: string): CanaryRecord {
  const existing = aggregate.canaries.get(cluster);
  if (existing) return touch(aggregate, existing, at);
  const created = newCanary(aggregate.releaseId, cluster, aggregate.canaries.size, at);
  aggregate.canaries.set(cluster, created);
  aggregate.changedCanaries.add(cluster);
  return created;
}

function touch(aggregate: ReleaseAggregate, c: CanaryRecord, at: string): CanaryRecord {
  c.updatedAt = at;
  aggregate.changedCanaries.add(c.cluster);
  return c;
}
