import { AviaryError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { createClusterCanaryDecider } from './decider.ts';
import {
  CLUSTER,
  commandIds,
  contextOf,
  MINUTE,
  NEW,
  operator,
  RELEASE,
  requestIds,
  revisionSeen,
  type Simulation,
  specificationFor,
  started,
  stuck,
  summary,
  T0,
  tick,
  WORKLOAD,
  webhookResult,
} from './test-kit.ts';
import type { CanaryEvent } from './types.ts';

const metrics = [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }];
const at = (i: number) => T0 + i * MINUTE;

function canary(analysis: Record<string, unknown> = {}) {
  return contextOf((r) => {
    r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 50, metrics, ...analysis };
  });
}

describe('exact events (Given/When/Then)', () => {
  it('t0 starts the run; t1 runs only the pre-rollout gate, then steps to 10', () => {
    const context = canary({
      webhooks: [{ name: 'smoke', type: 'pre-rollout', url: 'http://hooks/smoke' }],
    });
    const sim = started(context);
    const given = sim.events;
    const spec = specificationFor(context);
    const t0 = spec
      .given(given)
      .when(tick(at(0)))
      .then([
        { type: 'TickRecorded', data: { now: '2026-11-23T09:00:00Z' } },
        {
          type: 'CanaryPhaseChanged',
          data: {
            cluster: CLUSTER,
            previousPhase: 'CANARY_PHASE_INITIALIZED',
            phase: 'CANARY_PHASE_PROGRESSING',
            reason: 'New revision detected, progressing canary analysis.',
          },
        },
        {
          type: 'CanaryScaleRequested',
          data: {
            command: {
              commandId: `${RELEASE}:${CLUSTER}:2:scale-canary`,
              cluster: CLUSTER,
              releaseId: RELEASE,
              workload: WORKLOAD,
              issuedAt: '2026-11-23T09:00:00Z',
              scaleCanary: {},
            },
          },
        },
      ]);
    sim.tick(at(0));
    expect(sim.events.slice(given.length, given.length + t0.length)).toEqual(t0);
    // t1: the pre-rollout hook is asked, no metric.
    const t1 = spec
      .given(sim.events)
      .when(tick(at(1)))
      .then([
        { type: 'TickRecorded', data: { now: '2026-11-23T09:01:00Z' } },
        {
          type: 'WebhookRequested',
          data: {
            call: {
              requestId: `${RELEASE}:${CLUSTER}:3:webhook:smoke`,
              cluster: CLUSTER,
              name: 'smoke',
              type: 'WEBHOOK_TYPE_PRE_ROLLOUT',
              url: 'http://hooks/smoke',
              timeoutMs: 10000,
              payload: {
                name: 'podinfo',
                namespace: 'test',
                phase: 'CANARY_PHASE_PROGRESSING',
                checksum: NEW,
              },
            },
          },
        },
      ]);
    sim.send(tick(at(1)));
    // The hook passes: the step is decided on its result.
    spec
      .given([...sim.events])
      .when(
        webhookResult(
          requestIds(t1)[0] ?? '',
          'smoke',
          'WEBHOOK_TYPE_PRE_ROLLOUT',
          'WEBHOOK_OUTCOME_PASSED',
        ),
      )
      .then([
        {
          type: 'WebhookResultRecorded',
          data: {
            requestId: `${RELEASE}:${CLUSTER}:3:webhook:smoke`,
            cluster: CLUSTER,
            name: 'smoke',
            type: 'WEBHOOK_TYPE_PRE_ROLLOUT',
            outcome: 'WEBHOOK_OUTCOME_PASSED',
            statusCode: 200,
          },
        },
        {
          type: 'CanaryWeightRequested',
          data: {
            command: {
              commandId: `${RELEASE}:${CLUSTER}:4:set-routes`,
              cluster: CLUSTER,
              releaseId: RELEASE,
              workload: WORKLOAD,
              issuedAt: '2026-11-23T09:01:00Z',
              setRoutes: {
                router: 'ROUTER_KIND_ISTIO',
                serviceName: 'podinfo',
                routes: { primaryWeightPercent: 90, canaryWeightPercent: 10 },
              },
            },
          },
        },
      ]);
  });

  it('a tick going back in time throws', () => {
    const context = canary();
    const sim = started(context);
    specificationFor(context)
      .given(sim.events)
      .when(tick(T0 - 10 * MINUTE))
      .thenThrows((e) => e instanceof AviaryError && e.code === 'VALIDATION');
  });
});

describe('failed checks and holds', () => {
  it('threshold 2: failures at t3 and t4 roll back at the start of t5', () => {
    const sim = started(canary({ threshold: 2 }), {
      verdict: (_name, i) =>
        i === 6 || i === 7 ? 'ANALYSIS_OUTCOME_FAILED' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
    });
    // sim ticks 1 and 2 were the bootstrap: t0 is tick 3, so t3 = 6 and t4 = 7.
    const trace = [0, 1, 2, 3, 4, 5].map((i) => summary(sim.tick(at(i))));
    expect(trace[3]).toEqual(['AnalysisRequested', 'failed 1/2']); // weight stays 30
    expect(trace[4]).toEqual(['AnalysisRequested', 'failed 2/2']);
    expect(trace[5]).toEqual([
      'routes 100/0',
      'CanaryScaleToZeroRequested',
      'CanaryRolledBack',
      'phase FAILED',
      'CanaryWeightApplied', // the agent confirms the rollback routes
    ]);
    expect(sim.current.canaryWeightPercent).toBe(0);
    const rolledBack = sim.events.find((e) => e.type === 'CanaryRolledBack');
    expect(rolledBack?.data).toMatchObject({ revisionId: NEW, failedChecks: 2 });
  });

  it('an Inconclusive verdict holds: no failed check, weight unchanged', () => {
    const sim = started(canary({ threshold: 1 }), {
      verdict: (_n, i) =>
        i === 5 ? 'ANALYSIS_OUTCOME_INCONCLUSIVE' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
    });
    const trace = [0, 1, 2, 3, 4].map((i) => summary(sim.tick(at(i))));
    expect(trace[2]).toEqual(['AnalysisRequested', 'held 1/10']); // weight stays 10
    expect(trace[3]).toEqual(['AnalysisRequested', 'routes 80/20', 'CanaryWeightApplied']);
    expect(sim.current.failedChecks).toBe(0);
    expect(sim.current.heldChecks).toBe(0); // a passing interval ends the row
  });

  it('maxHeldChecks 2: two holds in a row pause the canary until resumed', () => {
    const sim = started(canary({ maxHeldChecks: 2 }), {
      verdict: (_n, i) =>
        i >= 5 && i <= 6 ? 'ANALYSIS_OUTCOME_ERROR' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
    });
    const trace = [0, 1, 2, 3, 4].map((i) => summary(sim.tick(at(i))));
    expect(trace[2]).toEqual(['AnalysisRequested', 'held 1/2']);
    expect(trace[3]).toEqual(['AnalysisRequested', 'held 2/2', 'ReleasePaused']);
    expect(trace[4]).toEqual([]); // paused: nothing decided
    expect(sim.current.failedChecks).toBe(0);
    expect(summary(sim.send(operator('OPERATOR_ACTION_RESUME')))).toEqual(['ReleaseResumed']);
    expect(summary(sim.tick(at(5)))).toEqual([
      'AnalysisRequested',
      'routes 80/20',
      'CanaryWeightApplied',
    ]);
  });

  it('a verdict never answered holds the canary once resultTimeout (default 1m + 3m) passed', () => {
    const sim = started(canary(), {
      verdict: (_n, i) => (i === 5 ? undefined : 'ANALYSIS_OUTCOME_SUCCESSFUL'),
    });
    const trace = [0, 1, 2, 3, 4, 5, 6].map((i) => summary(sim.tick(at(i))));
    expect(trace[2]).toEqual(['AnalysisRequested']);
    // t3–t5: the interval asked at t2 is still awaited: no new interval, no step.
    expect(trace.slice(3, 6)).toEqual([[], [], []]);
    expect(trace[6]).toEqual([
      'held 1/10',
      'AnalysisRequested',
      'routes 80/20',
      'CanaryWeightApplied',
    ]);
  });
});

describe('gates', () => {
  it('confirm-traffic-increase closed holds without failed checks, then opens', () => {
    const sim = started(
      canary({
        webhooks: [{ name: 'approve', type: 'confirm-traffic-increase', url: 'http://g/a' }],
      }),
      {
        webhook: (_n, _t, i) =>
          i === 5 || i === 6 ? 'WEBHOOK_OUTCOME_FAILED' : 'WEBHOOK_OUTCOME_PASSED',
      },
    );
    const trace = [0, 1, 2, 3, 4].map((i) => summary(sim.tick(at(i))));
    expect(trace[1]).toEqual(['WebhookRequested', 'routes 90/10', 'CanaryWeightApplied']);
    expect(trace[2]).toEqual(['AnalysisRequested', 'WebhookRequested']); // closed
    expect(trace[3]).toEqual(['AnalysisRequested', 'WebhookRequested']); // closed
    expect(trace[4]).toEqual([
      'AnalysisRequested',
      'WebhookRequested',
      'routes 80/20',
      'CanaryWeightApplied',
    ]);
    expect(sim.current.failedChecks).toBe(0);
    expect(sim.current.phase).toBe('CANARY_PHASE_PROGRESSING');
  });

  it('confirm-promotion closed → WaitingPromotion; approval promotes', () => {
    let approved = false;
    const sim = started(
      canary({
        maxWeight: 20,
        webhooks: [{ name: 'ship-it', type: 'confirm-promotion', url: 'http://g/p' }],
      }),
      { webhook: () => (approved ? 'WEBHOOK_OUTCOME_PASSED' : 'WEBHOOK_OUTCOME_FAILED') },
    );
    const trace = [0, 1, 2, 3].map((i) => summary(sim.tick(at(i))));
    expect(trace[3]).toEqual(['AnalysisRequested', 'WebhookRequested', 'phase WAITING_PROMOTION']);
    expect(summary(sim.tick(at(4)))).toEqual(['AnalysisRequested', 'WebhookRequested']); // checks keep running
    approved = true;
    expect(summary(sim.tick(at(5)))).toEqual([
      'AnalysisRequested',
      'WebhookRequested',
      'CanaryPromotionRequested',
      'phase PROMOTING',
    ]);
  });
});

describe('commands, revisions, operators', () => {
  it('ignores the commands another cluster’s canary sent', () => {
    const sim = started(canary());
    sim.tick(at(0));
    const t1 = sim.tick(at(1));
    const [request] = t1.filter((e) => e.type === 'CanaryWeightRequested');
    expect(request).toBeDefined();
    const elsewhere = JSON.parse(
      JSON.stringify(request).replaceAll(`"cluster":"${CLUSTER}"`, '"cluster":"somewhere-else"'),
    ) as CanaryEvent;
    const decider = createClusterCanaryDecider(canary());
    expect(decider.evolve(sim.current, elsewhere)).toEqual(sim.current);
  });

  it('a weight command not confirmed is re-sent with the same id on the next tick', () => {
    let drop = true;
    const sim = started(canary(), {
      confirm: (id) => !(id.endsWith('set-routes') && drop),
    });
    sim.tick(at(0));
    const t1 = sim.tick(at(1));
    const sentIds = commandIds(t1, 'CanaryWeightRequested');
    expect(sentIds).toHaveLength(1);
    drop = false;
    const t2 = sim.tick(at(2));
    // Re-sent verbatim, no analysis at an unconfirmed weight.
    expect(t2.filter((e) => e.type === 'CanaryWeightRequested')).toEqual(
      t1.filter((e) => e.type === 'CanaryWeightRequested'),
    );
    expect(summary(t2)).toEqual(['routes 90/10', 'CanaryWeightApplied']);
    expect(sim.current.canaryWeightPercent).toBe(10);
  });

  it('a new revision mid-analysis restarts it: routes 100/0, counters reset', () => {
    const sim = started(canary({ threshold: 5 }), {
      verdict: (_n, i) => (i === 5 ? 'ANALYSIS_OUTCOME_FAILED' : 'ANALYSIS_OUTCOME_SUCCESSFUL'),
    });
    [0, 1, 2].map((i) => sim.tick(at(i)));
    expect(sim.current.failedChecks).toBe(1);
    sim.send(revisionSeen('rev-newer'));
    expect(summary(sim.tick(at(3)))).toEqual([
      'routes 100/0',
      'phase PROGRESSING',
      'CanaryWeightApplied',
    ]);
    expect(sim.current).toMatchObject({
      failedChecks: 0,
      canaryWeightPercent: 0,
      runRevisionId: 'rev-newer',
    });
  });

  it('operator abort rolls back at once', () => {
    const sim = started(canary());
    [0, 1, 2].map((i) => sim.tick(at(i)));
    expect(summary(sim.send(operator('OPERATOR_ACTION_ABORT')))).toEqual([
      'routes 100/0',
      'CanaryScaleToZeroRequested',
      'CanaryRolledBack',
      'phase FAILED',
    ]);
    // Retry runs the failed revision again without a new revision.
    sim.send(operator('OPERATOR_ACTION_RETRY'));
    sim.tick(at(3)); // confirms the rollback routes
    expect(sim.current.phase).toBe('CANARY_PHASE_PROGRESSING');
  });

  it('operator promote promotes now', () => {
    const sim = started(canary());
    [0, 1].map((i) => sim.tick(at(i)));
    expect(summary(sim.send(operator('OPERATOR_ACTION_PROMOTE')))).toEqual([
      'CanaryPromotionRequested',
      'phase PROMOTING',
    ]);
  });

  it('progress deadline exceeded by the canary rolls back', () => {
    const sim = started(canary());
    sim.tick(at(0));
    sim.send(stuck(NEW, at(0)));
    expect(summary(sim.tick(at(11)))).toContain('phase FAILED');
  });

  it('skipAnalysis promotes on the first tick after the canary is ready', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.skipAnalysis = true;
        r.spec.analysis = { interval: '1m', stepWeight: 10 };
      }),
    );
    sim.tick(at(0));
    expect(summary(sim.tick(at(1)))).toEqual([
      'routes 100/0',
      'CanaryPromotionRequested',
      'CanaryScaleToZeroRequested',
      'phase SUCCEEDED',
      'CanaryWeightApplied',
    ]);
  });
});

describe('determinism and replay', () => {
  function recordedRun(): Simulation {
    const sim = started(canary({ threshold: 2 }), {
      verdict: (_n, i) =>
        i === 6 ? 'ANALYSIS_OUTCOME_INCONCLUSIVE' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
    });
    for (let i = 0; i < 12; i++) sim.tick(at(i));
    return sim;
  }

  it('deciding a command again from the folded state yields byte-identical JSON', () => {
    const context = canary({ threshold: 2 });
    const decider = createClusterCanaryDecider(context);
    const sim = recordedRun();
    let state = decider.initialState();
    for (const { command, events } of sim.log) {
      expect(JSON.stringify(decider.decide(command, state))).toBe(JSON.stringify(events));
      state = events.reduce(decider.evolve, state);
    }
    expect(state.phase).toBe('CANARY_PHASE_SUCCEEDED');
  });

  it('replaying a whole recorded run from its input facts re-derives every decision', () => {
    const context = canary({ threshold: 2 });
    const recorded: CanaryEvent[] = JSON.parse(JSON.stringify(recordedRun().events));
    const decider = createClusterCanaryDecider(context);
    let state = decider.initialState();
    const replayed: CanaryEvent[] = [];
    for (const event of recorded) {
      const command = commandOf(event);
      if (command === undefined) continue;
      const decided = decider.decide(command, state);
      state = decided.reduce(decider.evolve, state);
      replayed.push(...decided);
    }
    expect(JSON.stringify(replayed)).toBe(JSON.stringify(recorded));
  });
});

/** The command an input fact records (decisions have none). */
function commandOf(event: CanaryEvent) {
  switch (event.type) {
    case 'TickRecorded':
      return tick(Date.parse(event.data.now ?? ''));
    case 'ObservationRecorded':
      return { type: 'Observe', data: { observation: event.data.observation ?? {} } } as const;
    case 'AnalysisVerdictRecorded':
      return { type: 'RecordVerdict', data: { verdict: event.data.verdict ?? {} } } as const;
    case 'WebhookResultRecorded':
      return { type: 'RecordWebhookResult', data: event.data } as const;
    default:
      return undefined;
  }
}

describe('initialization carries the whole autoscalerRef to the agent', () => {
  const initialize = (context: ReturnType<typeof canary>) => {
    const events = specificationFor(context)
      .given([])
      .when(tick(at(0)))
      .events();
    const requested = events.find((e) => e.type === 'ClusterCanaryInitializationRequested');
    return requested?.type === 'ClusterCanaryInitializationRequested'
      ? requested.data.command?.initializeTarget
      : undefined;
  };

  it('sends the HPA and the primaryScalerReplicas bounds in InitializeTarget', () => {
    const context = contextOf((r) => {
      r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 50, metrics };
      r.spec.autoscalerRef = {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        name: 'podinfo-hpa',
        primaryScalerReplicas: { minReplicas: 0, maxReplicas: 8 },
      };
    });
    expect(initialize(context)).toMatchObject({
      hpaName: 'podinfo-hpa',
      primaryMinReplicas: 0,
      primaryMaxReplicas: 8,
    });
  });

  it('sends only the bound that is given, and none without primaryScalerReplicas', () => {
    const only = contextOf((r) => {
      r.spec.analysis = { interval: '1m', stepWeight: 10, metrics };
      r.spec.autoscalerRef = {
        kind: 'HorizontalPodAutoscaler',
        name: 'podinfo-hpa',
        primaryScalerReplicas: { maxReplicas: 5 },
      };
    });
    const sent = initialize(only);
    expect(sent).toMatchObject({ hpaName: 'podinfo-hpa', primaryMaxReplicas: 5 });
    expect(sent).not.toHaveProperty('primaryMinReplicas');
    const none = initialize(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', stepWeight: 10, metrics };
        r.spec.autoscalerRef = { kind: 'HorizontalPodAutoscaler', name: 'podinfo-hpa' };
      }),
    );
    expect(none).toMatchObject({ hpaName: 'podinfo-hpa' });
    expect(none).not.toHaveProperty('primaryMinReplicas');
    expect(none).not.toHaveProperty('primaryMaxReplicas');
  });
});
