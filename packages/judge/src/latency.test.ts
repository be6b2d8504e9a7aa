import { describe, expect, it } from 'vitest';
import {
  compareLatency,
  type HistogramBucket,
  type HistogramSnapshot,
  histogramIssues,
  rankTest,
  sloBoundary,
  slowCounts,
} from './latency.ts';
import { multinomial, seededRandom } from './testing/seeded-random.ts';
import { median } from './testing/simulate.ts';

const BOUNDS_MS = [25, 50, 100, 250, 500, 1000, Number.POSITIVE_INFINITY];

/** Cumulative buckets from per-bucket counts. */
function cumulative(perBucket: readonly number[]): HistogramBucket[] {
  let sum = 0;
  return BOUNDS_MS.map((leMs, i) => {
    sum += perBucket[i] ?? 0;
    return { leMs, count: sum };
  });
}

function addHistograms(a: readonly HistogramBucket[], b: readonly HistogramBucket[]) {
  return a.map((bucket, i) => ({ leMs: bucket.leMs, count: bucket.count + (b[i]?.count ?? 0) }));
}

describe('histogram validation', () => {
  it('accepts a cumulative histogram ending in +Inf', () => {
    expect(histogramIssues(cumulative([1, 2, 3, 0, 0, 0, 1]))).toEqual([]);
  });

  it('finds counts that decrease, boundaries out of order, a missing +Inf, bad counts', () => {
    const issues = histogramIssues([
      { leMs: 50, count: 5 },
      { leMs: 25, count: 3 },
      { leMs: 100, count: 2.5 },
    ]);
    expect(issues.map((i) => i.message)).toEqual([
      '25 does not increase on 50',
      "3 is below the previous bucket's 5: not cumulative",
      'must be a non-negative integer, got 2.5',
      "2.5 is below the previous bucket's 3: not cumulative",
      'the last bucket must be +Inf',
    ]);
    expect(histogramIssues([])).toEqual([{ path: 'buckets', message: 'no buckets' }]);
  });

  it('picks the first boundary at or above the SLO and counts slow requests above it', () => {
    const buckets = cumulative([10, 20, 30, 25, 10, 4, 1]);
    expect(sloBoundary(buckets, 250)).toBe(250);
    expect(sloBoundary(buckets, 0.25 * 1000 + 1e-12)).toBe(250);
    expect(sloBoundary(buckets, 300)).toBe(500);
    expect(slowCounts(buckets, 250)).toEqual({ totalCount: 100, badCount: 15 });
    expect(() => sloBoundary(buckets, 5000)).toThrow(/no finite bucket boundary/);
  });
});

describe('rankTest: Mann-Whitney U from bucket counts', () => {
  it('gives AUC ½ and z 0 for identical shapes', () => {
    const shape = cumulative([10, 20, 30, 25, 10, 4, 1]);
    const result = rankTest(shape, cumulative([90, 180, 270, 225, 90, 36, 9]));
    expect(result?.auc).toBeCloseTo(0.5, 12);
    expect(result?.z).toBeCloseTo(0, 12);
    expect(result?.canarySlower).toBe(false);
  });

  it('matches U and the tie-corrected z computed from the individual requests', () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 20; trial++) {
      const c = multinomial(random, 40, [0.1, 0.2, 0.3, 0.2, 0.1, 0.05, 0.05]);
      const p = multinomial(random, 60, [0.2, 0.3, 0.2, 0.15, 0.1, 0.03, 0.02]);
      const result = rankTest(cumulative(c), cumulative(p));
      // Brute force: expand to ranks 0..6, count pairs, average ranks for ties.
      const cs = c.flatMap((k, i) => Array<number>(k).fill(i));
      const ps = p.flatMap((k, i) => Array<number>(k).fill(i));
      let u = 0;
      for (const x of cs) for (const y of ps) u += x > y ? 1 : x === y ? 0.5 : 0;
      const n = cs.length + ps.length;
      const tieSum = c.reduce((s, k, i) => {
        const t = k + (p[i] ?? 0);
        return s + t ** 3 - t;
      }, 0);
      const variance = ((cs.length * ps.length) / 12) * (n + 1 - tieSum / (n * (n - 1)));
      expect(result?.u).toBeCloseTo(u, 9);
      expect(result?.z).toBeCloseTo((u - (cs.length * ps.length) / 2) / Math.sqrt(variance), 9);
    }
  });

  it('computes a hand-checked case: one slow canary request vs one fast primary request', () => {
    const result = rankTest(
      [
        { leMs: 100, count: 0 },
        { leMs: Number.POSITIVE_INFINITY, count: 1 },
      ],
      [
        { leMs: 100, count: 1 },
        { leMs: Number.POSITIVE_INFINITY, count: 1 },
      ],
    );
    // U = 1, Var = 1·1/12·3 = ¼, z = (1 − ½)/½ = 1.
    expect(result).toMatchObject({ u: 1, auc: 1, z: 1 });
    expect(result?.pValue).toBeCloseTo(0.15865525393145707, 12);
  });

  it('flags a shifted canary, needs the same boundaries, and skips empty sides', () => {
    const primary = cumulative([900, 1800, 2700, 2250, 900, 360, 90]);
    const shifted = cumulative([50, 100, 250, 300, 200, 80, 20]);
    const result = rankTest(shifted, primary);
    expect(result?.canarySlower).toBe(true);
    expect(result?.auc).toBeGreaterThan(0.55);
    expect(rankTest(cumulative([0, 0, 0, 0, 0, 0, 0]), primary)).toBeUndefined();
    expect(() => rankTest(shifted, primary.slice(1))).toThrow(/different boundaries/);
  });
});

describe('compareLatency: slow-request counts through the sequential test', () => {
  const PRIMARY = [0.2, 0.3, 0.3, 0.18, 0.015, 0.004, 0.001]; // 2% slower than 250 ms
  const SLOW_CANARY = [0.1, 0.2, 0.3, 0.3, 0.07, 0.025, 0.005]; // 10% slower than 250 ms (5×)

  function simulate(seed: number, canaryShape: readonly number[], runs: number) {
    const random = seededRandom(seed);
    const failedAt: number[] = [];
    const successfulAt: number[] = [];
    for (let run = 0; run < runs; run++) {
      const history: HistogramSnapshot[] = [];
      let canary = cumulative([0, 0, 0, 0, 0, 0, 0]);
      let primary = canary;
      let failed: number | undefined;
      let successful: number | undefined;
      for (let i = 0; i < 30 && failed === undefined; i++) {
        canary = addHistograms(canary, cumulative(multinomial(random, 600, canaryShape)));
        primary = addHistograms(primary, cumulative(multinomial(random, 5400, PRIMARY)));
        history.push({ canary, primary });
        const outcome = compareLatency(history, 250).outcome;
        if (outcome === 'Failed') failed = i + 1;
        if (outcome === 'Successful' && successful === undefined) successful = i + 1;
      }
      if (failed !== undefined) failedAt.push(failed);
      if (successful !== undefined) successfulAt.push(successful);
    }
    return { failedAt, successfulAt };
  }

  it('detects a canary with 5× the slow requests at 10 req/s within the horizon', () => {
    const { failedAt } = simulate(21, SLOW_CANARY, 200);
    expect(failedAt.length / 200).toBeGreaterThanOrEqual(0.95);
    expect(median(failedAt)).toBeLessThanOrEqual(2);
  });

  it('passes an A/A canary and rarely fails it', () => {
    const { failedAt, successfulAt } = simulate(22, PRIMARY, 200);
    expect(failedAt.length / 200).toBeLessThanOrEqual(0.02);
    expect(successfulAt.length / 200).toBeGreaterThanOrEqual(0.9);
  });

  it('holds (Inconclusive) a pass when the rank test sees a slower canary below the SLO', () => {
    // Same 2% above 250 ms, but the canary's fast requests moved from 25 ms to 100–250 ms.
    const canary = cumulative([0, 0, 1200, 4680, 90, 24, 6]);
    const primary = cumulative([1200, 1800, 1800, 1080, 90, 24, 6]);
    const result = compareLatency([{ canary, primary }], 250);
    expect(result.sequential.outcome).toBe('Successful');
    expect(result.rankTest?.canarySlower).toBe(true);
    expect(result.outcome).toBe('Inconclusive');
  });

  it('rejects invalid histograms in any snapshot', () => {
    const good = cumulative([1, 1, 1, 1, 1, 1, 1]);
    const broken = [...good.slice(0, 6), { leMs: Number.POSITIVE_INFINITY, count: 2 }];
    expect(() => compareLatency([{ canary: good, primary: broken }], 250)).toThrow(
      /history\[0\]\.primary\[6\]\.count/,
    );
  });
});
