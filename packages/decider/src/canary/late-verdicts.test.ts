/**
 * Late verdicts (`analysis.resultTimeout`, Aviary): a verdict that comes after the next tick, as a
 * slow provider's does (Datadog judges a window 2 min after it closed), is judged as its own
 * interval's; only after the timeout is the check held.
 */
import { describe, expect, it } from 'vitest';
import { issuesOf, minimal } from '../spec/test-helpers.ts';
import { validateRollout, withCurrentDefaults } from '../spec/validate-rollout.ts';
import {
  CLUSTER,
  contextOf,
  MINUTE,
  RELEASE,
  requestIds,
  specificationFor,
  started,
  summary,
  T0,
  tick,
  verdict,
  WORKLOAD,
} from './test-kit.ts';
import type { CanaryContext } from './types.ts';

const metrics = [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }];
const at = (i: number) => T0 + i * MINUTE;
const CHECK = 'request-success-rate';
/** The simulation's tick index of `at(2)` (two bootstrap ticks come first). */
const T2 = 5;

function canary(analysis: Record<string, unknown> = {}): CanaryContext {
  return contextOf((r) => {
    r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 50, metrics, ...analysis };
  });
}

/** Runs t0–t2 (the run starts, steps to 10, asks the t2 interval); t2's verdict is not answered. */
function askedAtT2(context: CanaryContext, webhookAnswers = true) {
  const sim = started(context, {
    verdict: (_n, i) => (i === T2 ? undefined : 'ANALYSIS_OUTCOME_SUCCESSFUL'),
    ...(webhookAnswers ? {} : { webhook: () => undefined }),
  });
  for (const i of [0, 1, 2]) sim.tick(at(i));
  const asked = requestIds(sim.events).at(-1) ?? '';
  expect(asked).toMatch(/:analysis:request-success-rate$/);
  expect(sim.current.canaryWeightPercent).toBe(10);
  return { sim, asked };
}

describe('late verdicts (Given/When/Then)', () => {
  it('a verdict arriving 1.5 intervals late is judged as its interval, not held', () => {
    const context = canary(); // resultTimeout: 1m + 3m
    const { sim, asked } = askedAtT2(context);
    const spec = specificationFor(context);
    // t3: the t2 interval is still open: only the tick is recorded (no new interval, no step).
    spec
      .given(sim.events)
      .when(tick(at(3)))
      .then([{ type: 'TickRecorded', data: { now: '2026-11-23T09:03:00Z' } }]);
    sim.send(tick(at(3)));
    expect(sim.current.interval?.startedAtMs).toBe(at(2));
    // The verdict comes at t3 + 30 s, 1.5 intervals after its window [t1, t2) closed: it passes
    // the interval, and the step is taken at once (stamped with the last due tick).
    spec
      .given(sim.events)
      .when(verdict(asked, CHECK, 'ANALYSIS_OUTCOME_SUCCESSFUL'))
      .then([
        {
          type: 'AnalysisVerdictRecorded',
          data: {
            verdict: {
              requestId: asked,
              releaseId: RELEASE,
              cluster: CLUSTER,
              checkName: CHECK,
              outcome: 'ANALYSIS_OUTCOME_SUCCESSFUL',
            },
          },
        },
        {
          type: 'CanaryWeightRequested',
          data: {
            command: {
              commandId: `${RELEASE}:${CLUSTER}:5:set-routes`,
              cluster: CLUSTER,
              releaseId: RELEASE,
              workload: WORKLOAD,
              issuedAt: '2026-11-23T09:03:00Z',
              setRoutes: {
                router: 'ROUTER_KIND_ISTIO',
                serviceName: 'podinfo',
                routes: { primaryWeightPercent: 80, canaryWeightPercent: 20 },
              },
            },
          },
        },
      ]);
    expect(sim.current.heldChecks).toBe(0);
  });

  it('a late Failed verdict counts as a failed check of its interval', () => {
    const context = canary({ threshold: 2 });
    const { sim, asked } = askedAtT2(context);
    sim.send(tick(at(3)));
    const decided = specificationFor(context)
      .given(sim.events)
      .when(verdict(asked, CHECK, 'ANALYSIS_OUTCOME_FAILED', 'success rate 97% < 99%'))
      .events();
    expect(summary(decided)).toEqual(['failed 1/2']);
  });

  it('a verdict arriving after resultTimeout is held at the tick that ends it, then ignored', () => {
    const context = canary({ resultTimeout: '2m' });
    const { sim, asked } = askedAtT2(context);
    const spec = specificationFor(context);
    sim.send(tick(at(3))); // within the timeout: nothing
    const t4 = spec
      .given(sim.events)
      .when(tick(at(4)))
      .events();
    expect(summary(t4)).toEqual(['held 1/10', 'AnalysisRequested']);
    expect(t4[1]).toEqual({
      type: 'CanaryCheckHeld',
      data: {
        cluster: CLUSTER,
        checkName: CHECK,
        outcome: 'ANALYSIS_OUTCOME_ERROR',
        heldChecks: 1,
        limit: 10,
        reason: 'no result within resultTimeout (120s)',
      },
    });
    sim.send(tick(at(4)));
    // The t2 verdict comes after all: its interval was held and closed, it changes nothing.
    spec
      .given(sim.events)
      .when(verdict(asked, CHECK, 'ANALYSIS_OUTCOME_SUCCESSFUL'))
      .then([
        {
          type: 'AnalysisVerdictRecorded',
          data: {
            verdict: {
              requestId: asked,
              releaseId: RELEASE,
              cluster: CLUSTER,
              checkName: CHECK,
              outcome: 'ANALYSIS_OUTCOME_SUCCESSFUL',
            },
          },
        },
      ]);
  });

  it('the weight does not step while an interval is open; rollback hooks are still asked', () => {
    const context = canary({
      resultTimeout: '3m',
      webhooks: [{ name: 'abort', type: 'rollback', url: 'http://hooks/abort' }],
    });
    const { sim } = askedAtT2(context, false);
    const open = [3, 4].map((i) => summary(sim.tick(at(i))));
    expect(open).toEqual([['WebhookRequested'], ['WebhookRequested']]);
    expect(sim.current.canaryWeightPercent).toBe(10);
    expect(sim.events.filter((e) => e.type === 'CanaryWeightRequested')).toHaveLength(1);
    // t5 = t2 + 3m: held, and a new interval is asked (answered at once here: it steps).
    expect(summary(sim.tick(at(5)))).toEqual([
      'held 1/10',
      'WebhookRequested',
      'AnalysisRequested',
      'routes 80/20',
      'CanaryWeightApplied',
    ]);
  });

  it('prompt verdicts keep one step per interval, as in Flagger', () => {
    const sim = started(canary());
    const trace = [0, 1, 2, 3].map((i) => summary(sim.tick(at(i))));
    expect(trace).toEqual([
      ['phase PROGRESSING', 'CanaryScaleRequested'],
      ['routes 90/10', 'CanaryWeightApplied'],
      ['AnalysisRequested', 'routes 80/20', 'CanaryWeightApplied'],
      ['AnalysisRequested', 'routes 70/30', 'CanaryWeightApplied'],
    ]);
  });
});

describe('specs recorded before resultTimeout existed', () => {
  it('replay with the old rule: unanswered at the next tick = held', () => {
    const modern = canary();
    const { resultTimeoutMs: _dropped, ...analysis } = modern.rollout.spec.analysis;
    const legacy: CanaryContext = {
      ...modern,
      rollout: { ...modern.rollout, spec: { ...modern.rollout.spec, analysis } },
    };
    const { sim } = askedAtT2(legacy);
    const t3 = sim.tick(at(3));
    expect(summary(t3)).toEqual([
      'held 1/10',
      'AnalysisRequested',
      'routes 80/20',
      'CanaryWeightApplied',
    ]);
    const held = t3.find((e) => e.type === 'CanaryCheckHeld');
    expect(held?.data).toMatchObject({ reason: 'no result before the next tick' });
  });
});

describe('analysis.resultTimeout', () => {
  it('defaults to the interval + 3 min, and takes a duration or milliseconds', () => {
    const spec = (analysis: Record<string, unknown>) =>
      validateRollout(
        minimal((r) => {
          r.spec.analysis = { stepWeight: 10, ...analysis };
        }),
      ).spec.analysis;
    expect(spec({ interval: '30s' }).resultTimeoutMs).toBe(210_000);
    expect(spec({ resultTimeout: '5m' }).resultTimeoutMs).toBe(300_000);
    expect(spec({ resultTimeoutMs: 90_000 }).resultTimeoutMs).toBe(90_000);
  });

  it('a stored spec normalized before the field existed gets its default for a new release', () => {
    const rollout = canary({ interval: '2m' }).rollout;
    const { resultTimeoutMs: _dropped, ...analysis } = rollout.spec.analysis;
    const stored = { ...rollout, spec: { ...rollout.spec, analysis } };
    expect(withCurrentDefaults(stored).spec.analysis.resultTimeoutMs).toBe(300_000);
    expect(withCurrentDefaults(rollout)).toBe(rollout);
  });

  it('must be at least the interval', () => {
    expect(
      issuesOf(() =>
        validateRollout(
          minimal((r) => {
            r.spec.analysis = { stepWeight: 10, interval: '2m', resultTimeout: '1m' };
          }),
        ),
      ),
    ).toEqual([
      {
        path: 'spec.analysis.resultTimeout',
        message:
          'must be at least the interval (120s): a result is awaited until the next tick at least',
      },
    ]);
  });
});
