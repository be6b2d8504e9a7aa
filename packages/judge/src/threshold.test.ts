import { describe, expect, it } from 'vitest';
import { judgeRate, judgeValue } from './threshold.ts';
import { Outcome } from './types.ts';
import { wilsonInterval } from './wilson.ts';

const counts = (totalCount: number, badCount: number) => ({ totalCount, badCount });

describe('judgeRate: success rate against thresholdRange with Wilson bounds', () => {
  it('is Inconclusive without requests', () => {
    const verdict = judgeRate(counts(0, 0), { min: 99 });
    expect(verdict.outcome).toBe(Outcome.Inconclusive);
    expect(verdict.message).toBe(
      'no requests in the window: success rate cannot be judged against min 99%',
    );
    expect(verdict.evidence.value).toBeUndefined();
  });

  it('is Inconclusive for 3 requests without errors against min 99%, by sample size and by bounds', () => {
    expect(judgeRate(counts(3, 0), { min: 99 }).outcome).toBe(Outcome.Inconclusive);
    const verdict = judgeRate(counts(3, 0), { min: 99 }, { minSamples: 0 });
    expect(verdict.outcome).toBe(Outcome.Inconclusive);
    expect(verdict.evidence.lowerBound).toBeCloseTo(43.85, 2);
    expect(verdict.evidence.upperBound).toBe(100);
    expect(verdict.message).toMatch(/straddles/);
  });

  it('fails 10,000 requests at 98% against min 99%', () => {
    const verdict = judgeRate(counts(10_000, 200), { min: 99 });
    expect(verdict.outcome).toBe(Outcome.Failed);
    expect(verdict.evidence).toEqual({
      value: 98,
      thresholdRange: { min: 99 },
      lowerBound: expect.closeTo(97.7066, 4),
      upperBound: expect.closeTo(98.2565, 4),
      canary: counts(10_000, 200),
    });
    expect(verdict.message).toBe(
      'success rate 98.00% < 99% over 10,000 requests (95% Wilson interval 97.71%–98.26%)',
    );
  });

  it('writes the message like Flagger', () => {
    expect(judgeRate(counts(1000, 28), { min: 99 }).message).toMatch(
      /^success rate 97\.20% < 99% over 1,000 requests/,
    );
  });

  it('passes when the whole interval is inside, holds when it straddles a bound', () => {
    expect(judgeRate(counts(10_000, 10), { min: 99 }).outcome).toBe(Outcome.Successful);
    expect(judgeRate(counts(200, 2), { min: 99 }).outcome).toBe(Outcome.Inconclusive);
    expect(judgeRate(counts(10_000, 100), { min: 99 }).outcome).toBe(Outcome.Inconclusive);
  });

  it('treats bounds as inclusive at the exact edge', () => {
    const { lower, upper } = wilsonInterval(9_900, 10_000);
    // Lower bound exactly on min: inside. A hair above: straddles.
    expect(judgeRate(counts(10_000, 100), { min: lower * 100 }).outcome).toBe(Outcome.Successful);
    expect(judgeRate(counts(10_000, 100), { min: lower * 100 + 1e-9 }).outcome).toBe(
      Outcome.Inconclusive,
    );
    // Upper bound exactly on min: not wholly outside. A hair below: failed.
    expect(judgeRate(counts(10_000, 100), { min: upper * 100 }).outcome).toBe(Outcome.Inconclusive);
    expect(judgeRate(counts(10_000, 100), { min: upper * 100 + 1e-9 }).outcome).toBe(
      Outcome.Failed,
    );
  });

  it('never passes a 100% minimum on a sample (the interval always reaches below 100%)', () => {
    expect(judgeRate(counts(1_000_000, 0), { min: 100 }).outcome).toBe(Outcome.Inconclusive);
  });

  it('judges error rates against a max', () => {
    const range = { max: 1 };
    expect(judgeRate(counts(10_000, 50), range, { measure: 'bad' }).outcome).toBe(
      Outcome.Successful,
    );
    const failed = judgeRate(counts(10_000, 200), range, { measure: 'bad' });
    expect(failed.outcome).toBe(Outcome.Failed);
    expect(failed.message).toMatch(/^error rate 2\.00% > 1% over 10,000 requests/);
    expect(judgeRate(counts(300, 3), range, { measure: 'bad' }).outcome).toBe(Outcome.Inconclusive);
  });

  it('honours confidence and minSamples', () => {
    // 2,000 requests at 98.5% against min 98: the 95% interval [97.87, 98.95] straddles 98,
    // the 80% interval [98.11, 98.81] does not.
    expect(judgeRate(counts(2000, 30), { min: 98 }).outcome).toBe(Outcome.Inconclusive);
    expect(judgeRate(counts(2000, 30), { min: 98 }, { confidence: 0.8 }).outcome).toBe(
      Outcome.Successful,
    );
    expect(judgeRate(counts(50, 40), { min: 99 }, { minSamples: 100 }).outcome).toBe(
      Outcome.Inconclusive,
    );
    expect(judgeRate(counts(50, 40), { min: 99 }).outcome).toBe(Outcome.Failed);
  });

  it('rejects impossible counts and ranges', () => {
    expect(() => judgeRate(counts(3, 4), { min: 99 })).toThrow(/badCount: 4 exceeds totalCount 3/);
    expect(() => judgeRate(counts(3, 0), { min: 99, max: 90 })).toThrow(/min 99 exceeds max 90/);
  });
});

describe('judgeValue: plain values, Flagger style', () => {
  const range = { max: 500 };
  const options = { label: 'request duration p99', unit: 'ms' };

  it('passes inside the inclusive range and fails outside', () => {
    expect(judgeValue(450, range, options).outcome).toBe(Outcome.Successful);
    expect(judgeValue(500, range, options).outcome).toBe(Outcome.Successful);
    const failed = judgeValue(650, range, options);
    expect(failed.outcome).toBe(Outcome.Failed);
    expect(failed.message).toBe('request duration p99 650ms > 500ms');
    expect(failed.evidence).toEqual({ value: 650, thresholdRange: range });
    expect(judgeValue(5, { min: 10 }).outcome).toBe(Outcome.Failed);
  });

  it('is Inconclusive without data and treats +Inf as a value', () => {
    expect(judgeValue(null, range).outcome).toBe(Outcome.Inconclusive);
    expect(judgeValue(Number.NaN, range).outcome).toBe(Outcome.Inconclusive);
    expect(judgeValue(Number.POSITIVE_INFINITY, range).outcome).toBe(Outcome.Failed);
  });
});
