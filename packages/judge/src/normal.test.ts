import { describe, expect, it } from 'vitest';
import { normalCdf, normalQuantile } from './normal.ts';

// Reference values computed at 40 digits with mpmath (√2·erfinv(2p − 1) and ncdf).
describe('normalQuantile (AS241)', () => {
  it.each([
    [0.975, 1.959963984540054],
    [0.995, 2.575829303548901],
    [0.9, 1.2815515655446004],
    [0.3, -0.5244005127080408],
    [1e-10, -6.361340902404056],
  ])('Φ⁻¹(%s) = %s to 1e-14 relative', (p, x) => {
    expect(Math.abs(normalQuantile(p) - x)).toBeLessThanOrEqual(1e-14 * Math.abs(x));
  });

  it('is exact at the centre and infinite at the ends', () => {
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(normalQuantile(1)).toBe(Number.POSITIVE_INFINITY);
    expect(normalQuantile(1e-300)).toBeCloseTo(-37.0471, 3);
  });

  it('is antisymmetric and inverts the CDF across the range', () => {
    for (const p of [1e-12, 1e-6, 0.001, 0.02, 0.2, 0.42, 0.5, 0.6, 0.9, 0.999]) {
      // 1 − p is itself rounded, so antisymmetry is checked where that rounding is negligible.
      if (p >= 1e-6) expect(normalQuantile(p)).toBeCloseTo(-normalQuantile(1 - p), 6);
      expect(Math.abs(normalCdf(normalQuantile(p)) - p)).toBeLessThanOrEqual(1e-13 * p + 1e-16);
    }
  });

  it('rejects what is not a probability', () => {
    expect(() => normalQuantile(1.5)).toThrow(/probability/);
    expect(() => normalQuantile(Number.NaN)).toThrow(/probability/);
  });
});

describe('normalCdf', () => {
  it.each([
    [-8, 6.220960574271784e-16],
    [-3.5, 0.00023262907903552504],
    [0.5, 0.6914624612740131],
    [2.9, 0.998134186699616],
    [-20, 2.7536241186062337e-89],
  ])('Φ(%s) = %s to 1e-13 relative', (x, p) => {
    expect(Math.abs(normalCdf(x) - p)).toBeLessThanOrEqual(1e-13 * p);
  });
});
