import { describe, expect, it } from 'vitest';
import { contextOf, MINUTE, NEW, started, summary, T0 } from './test-kit.ts';

const metrics = [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }];

/** Ticks t0…tN one interval apart; returns each tick's summary. */
function timeline(sim: ReturnType<typeof started>, ticks: number): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ticks; i++) out.push(summary(sim.tick(T0 + i * MINUTE)));
  return out;
}

describe('canary strategy: Flagger §2.8 timelines', () => {
  it('stepWeight 10, maxWeight 50: 10…50, promote, finalise, succeed', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 50, threshold: 2, metrics };
      }),
    );
    expect(timeline(sim, 10)).toEqual([
      ['phase PROGRESSING', 'CanaryScaleRequested'], // t0: new revision, canary scaled up
      ['routes 90/10', 'CanaryWeightApplied'], // t1: pre-rollout only, no metrics
      ['AnalysisRequested', 'routes 80/20', 'CanaryWeightApplied'], // t2…t5: metrics, +10
      ['AnalysisRequested', 'routes 70/30', 'CanaryWeightApplied'],
      ['AnalysisRequested', 'routes 60/40', 'CanaryWeightApplied'],
      ['AnalysisRequested', 'routes 50/50', 'CanaryWeightApplied'],
      ['AnalysisRequested', 'CanaryPromotionRequested', 'phase PROMOTING'], // t6: promote
      // t7: primary rolled out and ready: all traffic back, Finalising once applied
      ['CanaryPromoted', 'routes 100/0', 'CanaryWeightApplied', 'phase FINALISING'],
      ['CanaryScaleToZeroRequested', 'phase SUCCEEDED'], // t8
      [], // steady state
    ]);
    expect(sim.current.primaryRevisionId).toBe(NEW);
  });

  it('stepWeights [1, 5, 25, 50]: the steps, then promotion at the last', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', stepWeights: [1, 5, 25, 50], metrics };
      }),
    );
    const routes = timeline(sim, 7)
      .flat()
      .filter((s) => s.startsWith('routes') || s.startsWith('phase'));
    expect(routes).toEqual([
      'phase PROGRESSING',
      'routes 99/1',
      'routes 95/5',
      'routes 75/25',
      'routes 50/50',
      'phase PROMOTING',
      'routes 100/0',
      'phase FINALISING',
    ]);
  });

  it('maxWeight overshoot: stepWeight 20, maxWeight 50 → 20, 40, 60, promote', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', stepWeight: 20, maxWeight: 50, metrics };
      }),
    );
    const routes = timeline(sim, 6)
      .flat()
      .filter((s) => s.startsWith('routes') || s.startsWith('phase'));
    expect(routes).toEqual([
      'phase PROGRESSING',
      'routes 80/20',
      'routes 60/40',
      'routes 40/60',
      'phase PROMOTING',
      'routes 100/0',
      'phase FINALISING',
    ]);
  });

  it('stepWeightPromotion 50 from weight 100: 50/50, then 100/0 → Finalising', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', stepWeight: 100, stepWeightPromotion: 50, metrics };
      }),
    );
    const trace = timeline(sim, 6)
      .flat()
      .filter((s) => s.startsWith('routes') || s.startsWith('phase'));
    expect(trace).toEqual([
      'phase PROGRESSING',
      'routes 0/100',
      'phase PROMOTING',
      'routes 50/50',
      'routes 100/0',
      'phase FINALISING',
      'phase SUCCEEDED',
    ]);
  });

  it('mirror: one mirrored tick (100/0 mirrored), then 90/10', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 20, mirror: true, metrics };
      }),
    );
    const trace = timeline(sim, 5)
      .flat()
      .filter((s) => s.startsWith('routes') || s.startsWith('phase') || s === 'AnalysisRequested');
    expect(trace).toEqual([
      'phase PROGRESSING',
      'routes 100/0m', // t1: pre-rollout, mirroring only
      'AnalysisRequested', // t2: metrics (incl. shadow traffic), 90/10
      'routes 90/10',
      'AnalysisRequested',
      'routes 80/20',
      'AnalysisRequested',
      'phase PROMOTING',
    ]);
  });
});

describe('A/B and blue/green (Flagger §2.8)', () => {
  const trace = (sim: ReturnType<typeof started>, ticks: number) =>
    timeline(sim, ticks)
      .map((t) => t.filter((s) => s !== 'CanaryWeightApplied' && s !== 'AnalysisRequested'))
      .map((t) => t.join(', '));

  it('A/B, iterations 2 with match: 0/100 matched, iterations, promote at N+1', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = {
          interval: '1m',
          iterations: 2,
          match: [{ headers: { 'x-canary': { exact: 'insider' } } }],
          metrics,
        };
      }),
    );
    expect(trace(sim, 6)).toEqual([
      'phase PROGRESSING, CanaryScaleRequested',
      'routes 0/100, iteration 1', // t1
      'iteration 2', // t2
      'CanaryPromotionRequested, phase PROMOTING', // t3 = N+1
      'CanaryPromoted, routes 100/0, phase FINALISING',
      'CanaryScaleToZeroRequested, phase SUCCEEDED',
    ]);
    const routes = sim.events.find((e) => e.type === 'CanaryWeightRequested');
    expect(
      routes?.type === 'CanaryWeightRequested' && routes.data.command?.setRoutes?.routes?.matches,
    ).toEqual([{ headers: { 'x-canary': { exact: 'insider' } } }]);
  });

  it('blue/green, iterations 2: switch to 0/100 at N+1, promote at N+2', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', iterations: 2, metrics };
      }),
    );
    expect(trace(sim, 7)).toEqual([
      'phase PROGRESSING, CanaryScaleRequested',
      'iteration 1', // t1: routes stay 100/0
      'iteration 2',
      'routes 0/100, iteration 3', // t(N+1): "Routing all traffic to canary"
      'CanaryPromotionRequested, phase PROMOTING', // t(N+2)
      'CanaryPromoted, routes 100/0, phase FINALISING',
      'CanaryScaleToZeroRequested, phase SUCCEEDED',
    ]);
  });

  it('blue/green with mirror: t1 mirrors 100/0 until the switch', () => {
    const sim = started(
      contextOf((r) => {
        r.spec.analysis = { interval: '1m', iterations: 2, mirror: true, metrics };
      }),
    );
    expect(trace(sim, 4)).toEqual([
      'phase PROGRESSING, CanaryScaleRequested',
      'routes 100/0m, iteration 1',
      'iteration 2',
      'routes 0/100, iteration 3',
    ]);
  });
});
