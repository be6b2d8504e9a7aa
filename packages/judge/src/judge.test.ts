import { describe, expect, it } from 'vitest';
import { type Check, judge, type Observation, ProviderFailureReason } from './judge.ts';
import type { HistogramBucket } from './latency.ts';
import type { CountsSnapshot } from './sequential.ts';
import { Outcome } from './types.ts';

const window = { startMs: 1_700_000_000_000, endMs: 1_700_000_060_000 };
const successRate: Check = { kind: 'rate-threshold', thresholdRange: { min: 99 } };
const comparison: Check = { kind: 'rate-comparison' };
const latency: Check = { kind: 'latency-comparison', sloMs: 250 };

const histogram = (perBucket: readonly number[]): HistogramBucket[] => {
  let sum = 0;
  return [25, 100, 250, 1000, Number.POSITIVE_INFINITY].map((leMs, i) => {
    sum += perBucket[i] ?? 0;
    return { leMs, count: sum };
  });
};

describe('judge: one verdict per check and observation', () => {
  it('maps every provider failure to Error, never Failed, with the retry hint', () => {
    for (const reason of Object.values(ProviderFailureReason)) {
      for (const check of [successRate, comparison, latency]) {
        const verdict = judge(check, {
          status: 'provider-error',
          failure: { reason, message: 'HTTP 429 Too Many Requests', retryAfterMs: 42_000 },
          window,
        });
        expect(verdict.outcome).toBe(Outcome.Error);
        expect(verdict.retryAfterMs).toBe(42_000);
        expect(verdict.evidence.window).toEqual(window);
      }
    }
    const throttled = judge(successRate, {
      status: 'provider-error',
      failure: { reason: 'throttled', message: 'rate limit of 1600 per hour exceeded' },
    });
    expect(throttled).toEqual({
      outcome: Outcome.Error,
      evidence: { thresholdRange: { min: 99 } },
      message: 'provider throttled: rate limit of 1600 per hour exceeded',
    });
  });

  it('is Inconclusive on no data and on no traffic', () => {
    expect(judge(successRate, { status: 'no-data' }).outcome).toBe(Outcome.Inconclusive);
    expect(judge(comparison, { status: 'no-data' }).outcome).toBe(Outcome.Inconclusive);
    expect(judge(successRate, { status: 'ok', data: { totalCount: 0, badCount: 0 } }).outcome).toBe(
      Outcome.Inconclusive,
    );
    expect(
      judge({ kind: 'value-threshold', thresholdRange: { max: 500 } }, { status: 'ok', data: null })
        .outcome,
    ).toBe(Outcome.Inconclusive);
    expect(judge(comparison, { status: 'ok', data: [] }).message).toMatch(/^no canary requests/);
  });

  it('turns an invalid response into Error, not Failed', () => {
    const backwards: Observation<readonly CountsSnapshot[]> = {
      status: 'ok',
      data: [
        { canary: { totalCount: 600, badCount: 50 }, primary: { totalCount: 5400, badCount: 5 } },
        { canary: { totalCount: 500, badCount: 60 }, primary: { totalCount: 5400, badCount: 5 } },
      ],
    };
    const verdict = judge(comparison, backwards);
    expect(verdict.outcome).toBe(Outcome.Error);
    expect(verdict.message).toMatch(/invalid check or response: .*went backwards/);
    const notCumulative = judge(latency, {
      status: 'ok',
      data: [{ canary: histogram([5, 4, 3, 2, 1]), primary: histogram([5, 4, 3, 2, 1]).reverse() }],
    });
    expect(notCumulative.outcome).toBe(Outcome.Error);
  });

  it('judges a success rate with evidence and the window', () => {
    const verdict = judge(successRate, {
      status: 'ok',
      data: { totalCount: 1204, badCount: 34 },
      window,
    });
    expect(verdict.outcome).toBe(Outcome.Failed);
    expect(verdict.message).toMatch(/^success rate 97\.18% < 99% over 1,204 requests/);
    expect(verdict.evidence).toMatchObject({
      value: expect.closeTo(97.176, 3),
      thresholdRange: { min: 99 },
      canary: { totalCount: 1204, badCount: 34 },
      window,
    });
  });

  it('fails a canary with 5× the error rate, with the sequential statistics as evidence', () => {
    const verdict = judge(comparison, {
      status: 'ok',
      data: [
        { canary: { totalCount: 600, badCount: 30 }, primary: { totalCount: 5400, badCount: 54 } },
      ],
    });
    expect(verdict.outcome).toBe(Outcome.Failed);
    expect(verdict.evidence).toMatchObject({
      value: 5,
      thresholdRange: { max: 1 },
      canary: { totalCount: 600, badCount: 30 },
      primary: { totalCount: 5400, badCount: 54 },
    });
    expect(verdict.statistics?.sequential?.eValueThreshold).toBe(100);
    expect(verdict.statistics?.sequential?.pValueWorse).toBeLessThan(0.01);
    expect(verdict.message).toMatch(
      /^canary error rate 5\.00% vs primary 1\.00% over 600 requests \/ 5,400 requests: canary worse than 1× primary \(e-value .* ≥ 100 at look 1/,
    );
  });

  it('judges latency from buckets with the rank test as evidence', () => {
    const slow = judge(latency, {
      status: 'ok',
      data: [
        {
          canary: histogram([100, 200, 200, 80, 20]),
          primary: histogram([2000, 2000, 1300, 90, 10]),
        },
      ],
    });
    expect(slow.outcome).toBe(Outcome.Failed);
    expect(slow.statistics?.rankTest?.canarySlower).toBe(true);
    expect(slow.message).toMatch(/share of requests slower than 250 ms 16\.67%/);
    expect(slow.message).toMatch(/rank test AUC/);
  });

  it('judges plain values Flagger style', () => {
    const check: Check = {
      kind: 'value-threshold',
      thresholdRange: { max: 500 },
      label: 'request duration p99',
      unit: 'ms',
    };
    expect(judge(check, { status: 'ok', data: 612 })).toMatchObject({
      outcome: Outcome.Failed,
      message: 'request duration p99 612ms > 500ms',
    });
  });
});
