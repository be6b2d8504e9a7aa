import type { RecordedEvent } from '@aviary/event-store';
import { describe, expect, it } from 'vitest';
import { foldApplicationEvent } from './application-fold.ts';
import { clusterChangeOf } from './cluster-fold.ts';
import { newApplication, newRelease, statusOf, UnprojectableEventError } from './records.ts';
import { foldReleaseEvent, type ReleaseAggregate } from './release-fold.ts';

let version = 0n;
const event = (type: string, data: Record<string, unknown>, actor?: string): RecordedEvent => {
  version += 1n;
  return {
    id: `e-${version}`,
    streamId: 'release-r1',
    streamVersion: version,
    position: { transactionId: 1n, position: version },
    type,
    schemaVersion: 1,
    data: data as RecordedEvent['data'],
    metadata: actor === undefined ? {} : { actor },
    recordedAt: new Date(Date.UTC(2026, 10, 23, 9, 0, Number(version))),
  };
};

const aggregate = (): ReleaseAggregate => ({
  releaseId: 'r1',
  release: undefined,
  canaries: new Map(),
  changedCanaries: new Set(),
});

const started = (a: ReleaseAggregate) =>
  foldReleaseEvent(
    a,
    event('ReleaseStarted', {
      releaseId: 'r1',
      rollout: { namespace: 'test', name: 'podinfo' },
      revision: { id: 'rev-2' },
      waves: [
        { name: 'canary', clusters: ['eu-1'] },
        { name: 'rest', clusters: ['eu-2', 'us-1'] },
      ],
    }),
  );

describe('release fold', () => {
  it('plans waves and canaries from ReleaseStarted and names the release active', () => {
    const a = aggregate();
    expect(started(a)).toMatchObject({ kind: 'release-active' });
    expect(a.release).toMatchObject({ namespace: 'test', name: 'podinfo', currentWave: -1 });
    expect(
      [...a.canaries.values()].map((c) => [c.cluster, c.ordinal, c.primaryWeightPercent]),
    ).toEqual([
      ['eu-1', 0, 100],
      ['eu-2', 1, 100],
      ['us-1', 2, 100],
    ]);
  });

  it('refuses state before ReleaseStarted, a second start, and a wave it does not have', () => {
    const a = aggregate();
    expect(
      foldReleaseEvent(a, event('TickRecorded', { now: '2026-11-23T09:00:00Z' })),
    ).toBeUndefined();
    expect(() => foldReleaseEvent(a, event('WaveStarted', { waveName: 'x' }))).toThrow(
      UnprojectableEventError,
    );
    started(a);
    expect(() => started(a)).toThrow(/started before/);
    expect(() => foldReleaseEvent(a, event('WaveSucceeded', { waveIndex: 4 }))).toThrow(/wave 4/);
    expect(a.release?.waves.map((w) => w.status)).toEqual(['pending', 'pending']);
  });

  it('moves a requeued cluster into its wave, and pauses canaries alone or all together', () => {
    const a = aggregate();
    started(a);
    foldReleaseEvent(a, event('ClusterSkipped', { cluster: 'eu-1', reason: 'agent down' }));
    expect(a.canaries.get('eu-1')).toMatchObject({ skipped: true, lastReason: 'agent down' });
    foldReleaseEvent(a, event('ClusterRequeued', { cluster: 'eu-1', waveIndex: 1 }));
    expect(a.release?.waves.map((w) => w.clusters)).toEqual([[], ['eu-2', 'us-1', 'eu-1']]);
    expect(a.canaries.get('eu-1')?.skipped).toBe(false);

    foldReleaseEvent(a, event('ReleasePaused', { cluster: 'eu-2', reason: 'look' }, 'bob'));
    expect(a.release && statusOf(a.release)).toBe('running');
    expect(a.canaries.get('eu-2')?.paused).toBe(true);
    foldReleaseEvent(a, event('ReleasePaused', { reason: 'freeze' }));
    expect(a.release && statusOf(a.release)).toBe('paused');
    expect(a.release?.reason).toBe('freeze');
    expect([...a.canaries.values()].every((c) => c.paused)).toBe(true);
    foldReleaseEvent(a, event('ReleaseResumed', {}));
    expect(a.release && statusOf(a.release)).toBe('running');
    expect([...a.canaries.values()].some((c) => c.paused)).toBe(false);
  });

  it('starts counters again on Progressing and keeps the confirmed weights', () => {
    const a = aggregate();
    started(a);
    foldReleaseEvent(
      a,
      event('CanaryWeightApplied', {
        cluster: 'eu-1',
        routes: { canaryWeightPercent: 30, primaryWeightPercent: 70 },
      }),
    );
    foldReleaseEvent(
      a,
      event('CanaryCheckFailed', {
        cluster: 'eu-1',
        checkName: 'rate',
        failedChecks: 2,
        threshold: 3,
      }),
    );
    foldReleaseEvent(a, event('CanaryIterationCompleted', { cluster: 'eu-1', iterations: 4 }));
    foldReleaseEvent(
      a,
      event('CanaryPhaseChanged', {
        cluster: 'eu-1',
        phase: 'CANARY_PHASE_PROGRESSING',
        reason: 'again',
      }),
    );
    expect(a.canaries.get('eu-1')).toMatchObject({
      phase: 'CANARY_PHASE_PROGRESSING',
      canaryWeightPercent: 30,
      primaryWeightPercent: 70,
      failedChecks: 0,
      iterations: 0,
      lastReason: 'again',
    });
    // A canary event about a cluster the plan did not name gets a row after the planned ones.
    foldReleaseEvent(
      a,
      event('CanaryPhaseChanged', { cluster: 'ap-1', phase: 'CANARY_PHASE_INITIALIZING' }),
    );
    expect(a.canaries.get('ap-1')?.ordinal).toBe(3);
  });

  it('lists a joined cluster in its wave, in plan order, and re-opens the wave that bakes', () => {
    const a = aggregate();
    started(a);
    foldReleaseEvent(a, event('WaveStarted', { waveIndex: 0, clusters: ['eu-1'] }));
    // Joins the wave that has not started: listed there, its canary between eu-1 and eu-2.
    foldReleaseEvent(
      a,
      event('ClusterJoined', { cluster: 'eu-3', waveIndex: 1, selectedByWaveIndex: 1 }),
    );
    foldReleaseEvent(a, event('WaveBaking', { waveIndex: 0 }));
    // Joins the wave that bakes (as wave 1's selector matched it): that wave runs again.
    foldReleaseEvent(
      a,
      event('ClusterJoined', {
        cluster: 'eu-4',
        waveIndex: 0,
        selectedByWaveIndex: 1,
        reason: 'registered after the release started',
      }),
    );
    expect(a.release?.waves).toEqual([
      { name: 'canary', clusters: ['eu-1', 'eu-4'], status: 'running' },
      { name: 'rest', clusters: ['eu-2', 'us-1', 'eu-3'], status: 'pending' },
    ]);
    const ordered = [...a.canaries.values()].sort((x, y) => x.ordinal - y.ordinal);
    expect(ordered.map((c) => [c.cluster, c.ordinal])).toEqual([
      ['eu-1', 0],
      ['eu-4', 1],
      ['eu-2', 2],
      ['us-1', 3],
      ['eu-3', 4],
    ]);
    expect(a.canaries.get('eu-4')).toMatchObject({
      phase: 'CANARY_PHASE_UNSPECIFIED',
      primaryWeightPercent: 100,
      lastReason: 'registered after the release started',
    });
    // Shifted canaries are written back too.
    expect([...a.changedCanaries].sort()).toEqual(['eu-1', 'eu-2', 'eu-3', 'eu-4', 'us-1']);
    // A cluster already planned changes nothing (the decider ignores it); a wave it lacks throws.
    foldReleaseEvent(a, event('ClusterJoined', { cluster: 'eu-2', waveIndex: 0 }));
    expect(a.release?.waves[0]?.clusters).toEqual(['eu-1', 'eu-4']);
    expect(() =>
      foldReleaseEvent(a, event('ClusterJoined', { cluster: 'ap-1', waveIndex: 7 })),
    ).toThrow(/wave 7/);
  });

  it('tracks a halt-and-revert per canary, and the release that supersedes this one', () => {
    const a = aggregate();
    started(a);
    const request = (commandId: string) =>
      event('ClusterRevertRequested', {
        command: { commandId, cluster: 'eu-1', revertPrimary: { revisionId: 'rev-1' } },
      });
    foldReleaseEvent(a, request('c1'));
    expect(a.canaries.get('eu-1')?.revert).toEqual({
      status: 'reverting',
      revisionId: 'rev-1',
      commandId: 'c1',
    });
    foldReleaseEvent(a, event('ClusterReverted', { cluster: 'eu-1', revisionId: 'rev-1' }));
    expect(a.canaries.get('eu-1')?.revert?.status).toBe('reverted');
    // A late re-send of the same command changes nothing.
    foldReleaseEvent(a, request('c1'));
    expect(a.canaries.get('eu-1')?.revert?.status).toBe('reverted');
    // An end without a request is passed over, as the decider does.
    foldReleaseEvent(a, event('ClusterRevertFailed', { cluster: 'eu-2', reason: 'x' }));
    expect(a.canaries.get('eu-2')?.revert).toBeNull();
    foldReleaseEvent(a, request('c2'));
    foldReleaseEvent(
      a,
      event('ClusterRevertFailed', {
        cluster: 'eu-1',
        revisionId: 'rev-1',
        reason: 'NoPreviousRevision',
        commandId: 'c2',
      }),
    );
    expect(a.canaries.get('eu-1')).toMatchObject({
      revert: { status: 'failed', revisionId: 'rev-1', reason: 'NoPreviousRevision' },
      lastReason: 'revert failed: NoPreviousRevision',
    });

    foldReleaseEvent(
      a,
      event('SupersessionRecorded', { releaseId: 'r2', revision: { id: 'rev-3' } }),
    );
    expect(a.release && statusOf(a.release)).toBe('running');
    expect(a.release?.supersededBy).toBe('r2');
  });

  it('says when the release finished, so the application lets it go', () => {
    const a = aggregate();
    started(a);
    foldReleaseEvent(a, event('FleetHalted', { waveIndex: 0, reason: 'eu-1 failed' }));
    expect(a.release && statusOf(a.release)).toBe('halted');
    const effect = foldReleaseEvent(
      a,
      event('ReleaseFinished', { outcome: 'RELEASE_OUTCOME_FAILED' }),
    );
    expect(effect).toMatchObject({ kind: 'release-finished' });
    expect(a.release).toMatchObject({ outcome: 'RELEASE_OUTCOME_FAILED', reason: null });
    expect(a.release && statusOf(a.release)).toBe('finished');
  });
});

describe('application fold', () => {
  const at = '2026-11-23T09:00:00.000Z';

  it('records the spec, the gates, and a created release as active unless it finished', () => {
    const app = newApplication('test', 'podinfo', at);
    foldApplicationEvent(
      app,
      event('RolloutSpecApplied', {
        rollout: { namespace: 'test', name: 'podinfo' },
        spec: { kind: 'Rollout' },
        specHash: 'h1',
        actor: 'alice',
      }),
    );
    expect(app).toMatchObject({ specHash: 'h1', appliedBy: 'alice', spec: { kind: 'Rollout' } });
    foldApplicationEvent(app, event('GateChanged', { gate: 'approve', open: true }));
    expect(app.gates).toEqual({ approve: true });

    const created = { releaseId: 'test.podinfo.1', release: undefined };
    foldApplicationEvent(
      app,
      event(
        'ReleaseCreated',
        { releaseId: 'test.podinfo.1', revision: { id: 'rev-2' }, reason: 'revision-seen' },
        'aviary-orchestrator',
      ),
      created,
    );
    expect(app.activeReleaseId).toBe('test.podinfo.1');
    expect(created.release).toMatchObject({
      revisionId: 'rev-2',
      createdBy: 'aviary-orchestrator',
      startedAt: null,
    });

    // A release created again after it finished (an old ReleaseCreated projected late).
    const done = newRelease('test.podinfo.0', app, at);
    done.finished = true;
    const finished = { releaseId: 'test.podinfo.0', release: done };
    foldApplicationEvent(app, event('ReleaseCreated', { releaseId: 'test.podinfo.0' }), finished);
    expect(app.activeReleaseId).toBe('test.podinfo.1');
  });

  it('refuses a spec for another application', () => {
    const app = newApplication('test', 'podinfo', at);
    expect(() =>
      foldApplicationEvent(
        app,
        event('RolloutSpecApplied', { rollout: { namespace: 'x', name: 'y' }, spec: {} }),
      ),
    ).toThrow(/x\/y in the stream of test\/podinfo/);
    expect(app.specHash).toBeNull();
  });
});

describe('cluster fold', () => {
  it('reads heartbeats and the fleet view slots, and refuses another cluster', () => {
    const heartbeat = event('ObservationRecorded', {
      observation: {
        cluster: 'eu-1',
        heartbeat: { labels: { region: 'eu' }, agentVersion: '2', leaseMs: 30000 },
      },
    });
    expect(clusterChangeOf('eu-1', heartbeat)).toMatchObject({
      kind: 'heartbeat',
      cluster: { name: 'eu-1', labels: { region: 'eu' }, agentVersion: '2', leaseMs: 30000 },
    });
    const primary = event('ObservationRecorded', {
      observation: {
        cluster: 'eu-1',
        workloadReadiness: {
          workload: { namespace: 'test', name: 'podinfo' },
          role: 'DEPLOYMENT_ROLE_PRIMARY',
        },
      },
    });
    expect(clusterChangeOf('eu-1', primary)).toMatchObject({
      kind: 'fleet-view',
      slot: 'primaryReadiness',
      name: 'podinfo',
    });
    expect(() => clusterChangeOf('eu-2', primary)).toThrow(
      /cluster "eu-1" in the stream of cluster eu-2/,
    );
    const routes = event('ObservationRecorded', {
      observation: { cluster: 'eu-1', routesApplied: {} },
    });
    expect(clusterChangeOf('eu-1', routes)).toBeUndefined();
  });
});
