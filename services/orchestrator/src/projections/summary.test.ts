import { describe, expect, it } from 'vitest';
import { actorOf, clusterOf, enumWord, phaseName, summarize } from './summary.ts';

const context = { waveName: (i: number) => ['canary', 'eu', 'us'][i] };
const line = (type: string, data: Record<string, unknown>, actor?: string) =>
  summarize(type, data, actor, context);

describe('timeline summaries', () => {
  it('names phases the Flagger way and enum values in words', () => {
    expect(phaseName('CANARY_PHASE_WAITING_PROMOTION')).toBe('WaitingPromotion');
    expect(phaseName(undefined)).toBe('Unspecified');
    expect(enumWord('WEBHOOK_TYPE_CONFIRM_PROMOTION', 'WEBHOOK_TYPE_')).toBe('confirm-promotion');
    expect(enumWord(undefined, 'X_')).toBe('unspecified');
  });

  it('finds the cluster and the actor of an event', () => {
    expect(clusterOf({ command: { cluster: 'eu-1' } })).toBe('eu-1');
    expect(clusterOf({ verdict: { cluster: 'eu-2' } })).toBe('eu-2');
    expect(clusterOf({ cluster: 'us-1', reason: 'x' })).toBe('us-1');
    expect(clusterOf({ now: '2026-11-23T09:00:00Z' })).toBeUndefined();
    expect(actorOf({ actor: 'alice' }, { actor: 'bob' })).toBe('alice');
    expect(actorOf({}, { actor: 'bob' })).toBe('bob');
    expect(actorOf({}, {})).toBeUndefined();
  });

  it('says what happened to the fleet', () => {
    expect(line('WaveStarted', { waveIndex: 1, waveName: 'eu', clusters: ['eu-1'] })).toBe(
      'wave eu started (eu-1)',
    );
    expect(line('WaveBaking', { bakeUntil: '2026-11-23T09:38:00Z' })).toBe(
      'wave canary baking until 2026-11-23T09:38:00Z',
    );
    expect(line('WaveSucceeded', { waveIndex: 2 })).toBe('wave us succeeded');
    expect(line('WaveSucceeded', { waveIndex: 5 })).toBe('wave #5 succeeded');
    expect(line('ClusterSkipped', { cluster: 'eu-2', waveIndex: 1, reason: 'agent down' })).toBe(
      'eu-2: skipped from wave eu: agent down',
    );
    expect(
      line('FleetHalted', {
        waveIndex: 1,
        cluster: 'eu-3',
        failurePolicy: 'FAILURE_POLICY_HALT_AND_REVERT',
        reason: 'cluster canary eu-3 failed',
        clustersToRevert: ['eu-1'],
      }),
    ).toBe(
      'fleet halted in wave eu (halt-and-revert), to revert: eu-1: cluster canary eu-3 failed',
    );
    expect(line('ReleasePaused', { reason: 'look', actor: 'carol' }, 'carol')).toBe(
      'release paused by carol: look',
    );
    expect(line('ReleaseResumed', { cluster: 'eu-1' })).toBe('eu-1: resumed');
    expect(line('ReleaseFinished', { outcome: 'RELEASE_OUTCOME_SUCCEEDED' })).toBe(
      'release succeeded',
    );
  });

  it('says which wave a late cluster joined, how a revert went, and what superseded the release', () => {
    expect(
      line('ClusterJoined', {
        cluster: 'us-2',
        waveIndex: 2,
        selectedByWaveIndex: 1,
        reason: 'registered after the release started; selected by wave eu',
      }),
    ).toBe('us-2: joined wave us (selected by wave eu)');
    expect(line('ClusterJoined', { cluster: 'eu-3', waveIndex: 1, selectedByWaveIndex: 1 })).toBe(
      'eu-3: joined wave eu',
    );
    expect(
      line('ClusterRevertRequested', {
        command: { commandId: 'c1', cluster: 'eu-1', revertPrimary: { revisionId: 'v1' } },
      }),
    ).toBe('eu-1: revert to v1 requested');
    expect(line('ClusterReverted', { cluster: 'eu-1', revisionId: 'v1' })).toBe(
      'eu-1: reverted, primary runs v1',
    );
    expect(
      line('ClusterRevertFailed', {
        cluster: 'eu-1',
        revisionId: 'v1',
        reason: 'NoPreviousRevision: nothing saved',
        commandId: 'c1',
      }),
    ).toBe('eu-1: revert failed: NoPreviousRevision: nothing saved');
    expect(line('ClusterRevertFailed', { cluster: 'eu-1' })).toBe('eu-1: revert failed');
    expect(
      line('SupersessionRecorded', { releaseId: 'demo.podinfo.4', revision: { id: 'r4' } }),
    ).toBe('superseded by demo.podinfo.4 (revision r4)');
  });

  it('says what happened to a cluster canary', () => {
    expect(
      line('CanaryWeightApplied', {
        cluster: 'eu-1',
        routes: { canaryWeightPercent: 20, primaryWeightPercent: 80 },
      }),
    ).toBe('eu-1: weight 20% → canary');
    expect(
      line('CanaryWeightApplied', {
        cluster: 'eu-1',
        routes: { primaryWeightPercent: 100, mirror: true },
      }),
    ).toBe('eu-1: weight 0% → canary, mirrored 100%');
    expect(
      line('CanaryCheckFailed', {
        cluster: 'eu-1',
        checkName: 'request-success-rate',
        failedChecks: 2,
        threshold: 5,
        reason: '97.2% < 99%',
      }),
    ).toBe('eu-1: check request-success-rate failed: 97.2% < 99% (2/5)');
    expect(
      line('CanaryCheckHeld', {
        cluster: 'eu-1',
        checkName: 'latency',
        outcome: 'ANALYSIS_OUTCOME_INCONCLUSIVE',
        heldChecks: 1,
        limit: 10,
      }),
    ).toBe('eu-1: check latency inconclusive, held 1/10');
    expect(
      line('CanaryPhaseChanged', {
        cluster: 'eu-1',
        previousPhase: 'CANARY_PHASE_INITIALIZED',
        phase: 'CANARY_PHASE_PROGRESSING',
        reason: 'New revision detected, progressing canary analysis.',
      }),
    ).toBe('eu-1: Initialized → Progressing: New revision detected, progressing canary analysis.');
    expect(line('CanaryPromoted', { cluster: 'eu-1', revisionId: 'rev-2' })).toBe(
      'eu-1: promoted rev-2',
    );
  });

  it('says what came in and what was asked for', () => {
    expect(line('TickRecorded', { now: '2026-11-23T09:01:00Z' })).toBe('tick 2026-11-23T09:01:00Z');
    expect(
      line('ObservationRecorded', {
        observation: {
          cluster: 'eu-1',
          revisionSeen: {
            workload: { namespace: 'test', name: 'podinfo' },
            revision: { id: 'r2' },
          },
        },
      }),
    ).toBe('eu-1: revision r2 seen on test/podinfo');
    expect(
      line('AnalysisVerdictRecorded', {
        verdict: {
          cluster: 'eu-1',
          checkName: 'rate',
          outcome: 'ANALYSIS_OUTCOME_ERROR',
          message: '429',
        },
      }),
    ).toBe('eu-1: verdict error for rate: 429');
    expect(
      line(
        'OperatorActionRecorded',
        { actor: 'alice', action: 'OPERATOR_ACTION_SKIP_CLUSTER', cluster: 'eu-2', reason: 'down' },
        'alice',
      ),
    ).toBe('eu-2: skip-cluster requested by alice: down');
    expect(
      line('WebhookResultRecorded', {
        cluster: 'eu-1',
        name: 'approve',
        type: 'WEBHOOK_TYPE_CONFIRM_PROMOTION',
        outcome: 'WEBHOOK_OUTCOME_FAILED',
        statusCode: 403,
        message: 'denied',
      }),
    ).toBe('eu-1: webhook approve (confirm-promotion) failed, HTTP 403: denied');
    expect(
      line('CanaryWeightRequested', {
        command: { cluster: 'eu-1', setRoutes: { routes: { canaryWeightPercent: 40 } } },
      }),
    ).toBe('eu-1: weight 40% → canary requested');
    expect(line('SomethingNew', { cluster: 'eu-1' })).toBe('eu-1: SomethingNew');
  });
});
