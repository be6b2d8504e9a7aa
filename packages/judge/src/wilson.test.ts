import { describe, expect, it } from 'vitest';
import { wilsonInterval } from './wilson.ts';

// Reference values: the closed-form Wilson interval evaluated at 40 digits with mpmath, with
// z = Φ⁻¹(1 − (1 − confidence)/2) (the definition statsmodels' proportion_confint(method='wilson')
// uses). The first three are the reference's §4.1 table.
describe('wilsonInterval', () => {
  it.each([
    [10, 10, 0.95, 0.7224672001371109, 1],
    [1000, 1000, 0.95, 0.9961732415144449, 1],
    [29956, 30000, 0.95, 0.9980318073240265, 0.9989072026708522],
    [81, 263, 0.95, 0.2552885198782742, 0.36620957698280004],
    [0, 20, 0.95, 0, 0.16112515805281932],
    [97, 100, 0.99, 0.889124722848905, 0.9923878306982215],
    [1, 3, 0.9, 0.07826572633372839, 0.746466131718776],
    [9800, 10000, 0.95, 0.9770660732392871, 0.9825652883248635],
  ])('%i/%i at %s is [%s, %s] to 1e-12', (k, n, confidence, lower, upper) => {
    const interval = wilsonInterval(k, n, confidence);
    expect(Math.abs(interval.lower - lower)).toBeLessThan(1e-12);
    expect(Math.abs(interval.upper - upper)).toBeLessThan(1e-12);
  });

  it('is exactly 0 at no successes and exactly 1 at all successes', () => {
    expect(wilsonInterval(0, 5).lower).toBe(0);
    expect(wilsonInterval(5, 5).upper).toBe(1);
    expect(wilsonInterval(0, 1e9).lower).toBe(0);
    expect(wilsonInterval(1e9, 1e9).upper).toBe(1);
  });

  it('keeps relative precision for one success in a billion (no cancellation)', () => {
    // mpmath: [1.7652455495696314e-10, 5.664934243297439e-9]; center − half in doubles keeps
    // only a few digits of the lower bound here.
    const { lower, upper } = wilsonInterval(1, 1e9);
    expect(lower / 1.7652455495696314e-10).toBeCloseTo(1, 12);
    expect(upper / 5.664934243297439e-9).toBeCloseTo(1, 12);
  });

  it('is symmetric in successes and failures and holds the point estimate', () => {
    for (const [k, n] of [
      [3, 17],
      [40, 41],
      [500, 1000],
    ] as const) {
      const a = wilsonInterval(k, n);
      const b = wilsonInterval(n - k, n);
      expect(a.lower).toBeCloseTo(1 - b.upper, 14);
      expect(a.lower).toBeLessThanOrEqual(k / n);
      expect(a.upper).toBeGreaterThanOrEqual(k / n);
    }
  });

  it('is [0, 1] without requests and rejects impossible counts', () => {
    expect(wilsonInterval(0, 0)).toEqual({ lower: 0, upper: 1 });
    expect(() => wilsonInterval(4, 3)).toThrow(/exceeds total/);
    expect(() => wilsonInterval(-1, 3)).toThrow(/non-negative integer/);
    expect(() => wilsonInterval(1.5, 3)).toThrow(/non-negative integer/);
    expect(() => wilsonInterval(1, 3, 1)).toThrow(/confidence/);
  });
});
