import { describe, expect, it } from 'vitest';
import { accumulate, type CountsSnapshot, compareCounts } from './sequential.ts';
import { binomial, seededRandom } from './testing/seeded-random.ts';
import { type IntervalTraffic, median, simulateCanary } from './testing/simulate.ts';

const snap = (cTotal: number, cBad: number, pTotal: number, pBad: number): CountsSnapshot => ({
  canary: { totalCount: cTotal, badCount: cBad },
  primary: { totalCount: pTotal, badCount: pBad },
});

/**
 * Operating characteristics by simulation. Monte-Carlo margin: with R runs, an observed rate's
 * standard error at the bound α is √(α(1 − α)/R); we allow α + 3 standard errors (for R = 1,000
 * and α = 0.01: 0.01 + 0.0094), which a test whose true rate is α exceeds with probability
 * ≈ 0.1%. The seeds are fixed, so the run is reproducible; Ville's bound makes the true rate
 * well below α, so the margin is rarely needed.
 */
const RUNS = 1000;
const ALPHA = 0.01;
const MARGIN = 3 * Math.sqrt((ALPHA * (1 - ALPHA)) / RUNS);
const decide = (history: readonly CountsSnapshot[]) => compareCounts(history).outcome;

function simulate(seed: number, traffic: (interval: number) => IntervalTraffic) {
  const random = seededRandom(seed);
  const failedAt: number[] = [];
  const successfulAt: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { firstFailed, firstSuccessful } = simulateCanary(random, traffic, decide);
    if (firstFailed !== undefined) failedAt.push(firstFailed);
    if (firstSuccessful !== undefined) successfulAt.push(firstSuccessful);
  }
  return { failedAt, successfulAt };
}

describe('compareCounts: always-valid canary-vs-primary test', () => {
  it('keeps false Failed ≤ α over 1,000 A/A canaries looked at every minute for 30 minutes', () => {
    // Canary 10 req/s, primary 90 req/s, both 1% errors.
    const { failedAt, successfulAt } = simulate(1, () => ({
      canaryRps: 10,
      primaryRps: 90,
      canaryBadRate: 0.01,
      primaryBadRate: 0.01,
    }));
    // Measured with these seeds: 3/1,000 (0.3%); Successful in 99.7% of runs, median look 4.
    expect(failedAt.length / RUNS).toBeLessThanOrEqual(ALPHA + MARGIN);
    expect(successfulAt.length / RUNS).toBeGreaterThanOrEqual(0.95);
    expect(median(successfulAt)).toBeLessThanOrEqual(5);
  });

  it('keeps false Failed ≤ α when the weight steps 10% → 50% (each look has its own share)', () => {
    const { failedAt } = simulate(2, (i) => {
      const weight = Math.min(50, 10 * (i + 1));
      return {
        canaryRps: weight,
        primaryRps: 100 - weight,
        canaryBadRate: 0.01,
        primaryBadRate: 0.01,
      };
    });
    expect(failedAt.length / RUNS).toBeLessThanOrEqual(ALPHA + MARGIN);
  });

  it('detects a canary with 5× the primary error rate in ≥ 95% of runs, at a median of 1 look', () => {
    const { failedAt, successfulAt } = simulate(3, () => ({
      canaryRps: 10,
      primaryRps: 90,
      canaryBadRate: 0.05,
      primaryBadRate: 0.01,
    }));
    expect(failedAt.length / RUNS).toBeGreaterThanOrEqual(0.95);
    expect(median(failedAt)).toBe(1);
    expect(successfulAt.length).toBe(0);
  });

  it('keeps false Successful ≤ α for a canary exactly acceptRatio (2×) worse', () => {
    const { successfulAt, failedAt } = simulate(4, () => ({
      canaryRps: 10,
      primaryRps: 90,
      canaryBadRate: 0.02,
      primaryBadRate: 0.01,
    }));
    expect(successfulAt.length / RUNS).toBeLessThanOrEqual(ALPHA + MARGIN);
    expect(median(failedAt)).toBeLessThanOrEqual(5);
  });

  it('matches the reference worked example (ρ = 0.1, α = 0.05: 10 errors need ≥ 5 in the canary)', () => {
    const at = (canaryErrors: number) =>
      compareCounts([snap(1000, canaryErrors, 9000, 10 - canaryErrors)], {
        alpha: 0.05,
        negligibleRate: 0,
      }).outcome;
    expect(at(4)).toBe('Inconclusive');
    expect(at(5)).toBe('Failed');
  });

  it('fails the reference team-b canary at once and finds no evidence against team-a', () => {
    // team-b: 60 of 90 errors at ρ = 0.091 (M = 8.6e35); team-a: 3 of 33 (M = 0.27).
    const b = compareCounts([snap(910, 60, 9090, 30)]);
    expect(b.outcome).toBe('Failed');
    expect(b.statistics.logEValueWorse).toBeCloseTo(Math.log(8.6e35), 0);
    const a = compareCounts([snap(910, 3, 9090, 30)], { negligibleRate: 0 });
    expect(a.outcome).toBe('Inconclusive');
    expect(Math.exp(a.statistics.logEValueWorse)).toBeCloseTo(0.27, 1);
  });

  it('handles zeros: no traffic, no errors anywhere, and certifies a negligible error rate', () => {
    expect(compareCounts([]).decision).toBe('no-traffic');
    expect(compareCounts([snap(0, 0, 5000, 3)]).decision).toBe('no-traffic');
    const quiet = compareCounts([snap(600, 0, 5400, 0)]);
    expect(quiet.outcome).toBe('Inconclusive');
    expect(quiet.statistics.logEValueWorse).toBe(0);
    expect(quiet.statistics.pValueWorse).toBe(1);
    // 0 errors in 7,000: the 99% Wilson upper bound is 0.095% < 0.1%.
    expect(compareCounts([snap(7000, 0, 63000, 0)]).decision).toBe('negligible');
    // Canary errors while the primary has no traffic carry no comparison evidence.
    expect(compareCounts([snap(600, 30, 0, 0)]).decision).toBe('not-enough-evidence');
  });

  it('is always valid: the p-value never rises and Failed stays once crossed', () => {
    const windows = [snap(600, 20, 5400, 50), snap(600, 2, 5400, 60), snap(600, 3, 5400, 70)];
    const history = accumulate(windows);
    const p = history.map((_, i) => compareCounts(history.slice(0, i + 1)).statistics.pValueWorse);
    expect(p[1]).toBeLessThanOrEqual(p[0] ?? 1);
    expect(p[2]).toBeLessThanOrEqual(p[1] ?? 1);
    const result = compareCounts(history);
    expect(result.outcome).toBe('Failed');
    expect(result.statistics.decidedAtLook).toBe(1);
    expect(result.canary).toEqual({ totalCount: 1800, badCount: 25 });
  });

  it('tolerates a configured ratio: 2× worse fails against 1, not against 3', () => {
    const random = seededRandom(9);
    const windows = Array.from({ length: 10 }, () =>
      snap(600, binomial(random, 600, 0.02), 5400, binomial(random, 5400, 0.01)),
    );
    const history = accumulate(windows);
    expect(compareCounts(history).outcome).toBe('Failed');
    expect(compareCounts(history, { toleratedRatio: 3, acceptRatio: 6 }).outcome).toBe(
      'Successful',
    );
  });

  it('is deterministic and rejects counts that are not cumulative integers', () => {
    const history = [snap(600, 10, 5400, 50), snap(1200, 25, 10800, 100)];
    expect(compareCounts(history)).toEqual(compareCounts(history));
    expect(() => compareCounts([snap(600, 10, 5400, 50), snap(500, 10, 5400, 50)])).toThrow(
      /went backwards/,
    );
    expect(() => compareCounts([snap(600, 1.5, 5400, 50)])).toThrow(/non-negative integer/);
    expect(() => compareCounts([snap(600, 10, 5400, 50), snap(610, 30, 5400, 50)])).toThrow(
      /more bad requests than requests/,
    );
    expect(() => compareCounts([], { alpha: 0 })).toThrow(/alpha/);
  });
});
