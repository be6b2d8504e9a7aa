import { isAviaryError } from '@aviary/core';
import {
  accumulate,
  CheckKind,
  judge,
  ObservationStatus,
  Outcome,
  RateMeasure,
  type Verdict,
} from '@aviary/judge';
import { type AnalysisVerdict, analysisVerdictSchema } from '@aviary/proto';
import { fromJsonString } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import type { MetricSeries } from '../metrics/provider.ts';
import {
  accumulateHistograms,
  MAX_POINTS,
  MAX_SERIES,
  type Recording,
  rejudgeVerdict,
} from './samples.ts';
import { encodeVerdict, toAnalysisVerdict } from './verdicts.ts';

const END = Date.UTC(2026, 0, 1, 12, 0, 0);
const MINUTE = 60_000;
const identity = { requestId: 'r-1', releaseId: 'rel-1', cluster: 'eu-1', checkName: 'errors' };
const windowAt = (i: number) => ({ startMs: END + i * MINUTE, endMs: END + (i + 1) * MINUTE });

/** Published and read back: what the event log holds. */
function published(verdict: Verdict, recording: Recording): AnalysisVerdict {
  const wire = toAnalysisVerdict(identity, verdict, { query: 'q', samples: recording });
  return fromJsonString(analysisVerdictSchema, new TextDecoder().decode(encodeVerdict(wire)));
}

const sameVerdict = (a: Verdict, b: Verdict) => {
  expect(a.outcome).toBe(b.outcome);
  expect(a.message).toBe(b.message);
  expect(a.evidence).toEqual(b.evidence);
};

describe('re-judging a recorded verdict', () => {
  it('rate threshold: the same verdict again; with another threshold, the other', () => {
    const window = windowAt(0);
    const canary = { totalCount: 10_000, badCount: 200 };
    const check = { kind: CheckKind.RateThreshold, thresholdRange: { min: 99 } } as const;
    const verdict = judge(check, { status: ObservationStatus.Ok, data: canary, window });
    expect(verdict.outcome).toBe(Outcome.Failed);
    const wire = published(verdict, {
      method: CheckKind.RateThreshold,
      measure: RateMeasure.Good,
      windows: [{ window, canary }],
      series: [],
    });
    sameVerdict(rejudgeVerdict(wire), verdict);
    const lenient = rejudgeVerdict(wire, { thresholdRange: { min: 97 } });
    expect(lenient.outcome).toBe(Outcome.Successful);
    expect(lenient.evidence.canary).toEqual(canary);
  });

  it('rate comparison: every look is recorded; another tolerated ratio gives the other verdict', () => {
    const windows = [0, 1, 2].map((i) => ({
      window: windowAt(i),
      canary: { totalCount: 600, badCount: 30 },
      primary: { totalCount: 5400, badCount: 54 },
    }));
    const check = { kind: CheckKind.RateComparison } as const;
    const last = windowAt(2);
    const verdict = judge(check, {
      status: ObservationStatus.Ok,
      data: accumulate(windows.map((w) => ({ canary: w.canary, primary: w.primary }))),
      window: last,
    });
    expect(verdict.outcome).toBe(Outcome.Failed);
    const wire = published(verdict, { method: CheckKind.RateComparison, windows, series: [] });
    expect(wire.samples?.windows).toHaveLength(3);
    const again = rejudgeVerdict(wire);
    sameVerdict(again, verdict);
    expect(again.statistics?.sequential?.looks).toBe(3);
    // 5× the primary's rate is tolerated at toleratedRatio 6: no longer a failure.
    const tolerant = rejudgeVerdict(wire, { options: { toleratedRatio: 6, acceptRatio: 12 } });
    expect(tolerant.outcome).not.toBe(Outcome.Failed);
  });

  it('value threshold: label and unit kept, another max gives the other verdict', () => {
    const check = {
      kind: CheckKind.ValueThreshold,
      thresholdRange: { max: 500 },
      label: 'request duration',
      unit: 'ms',
    } as const;
    const verdict = judge(check, { status: ObservationStatus.Ok, data: 420, window: windowAt(0) });
    expect(verdict.outcome).toBe(Outcome.Successful);
    const wire = published(verdict, {
      method: CheckKind.ValueThreshold,
      value: 420,
      label: 'request duration',
      unit: 'ms',
      series: [{ labels: { track: 'canary' }, samples: [{ tMs: END, value: 420 }] }],
    });
    sameVerdict(rejudgeVerdict(wire), verdict);
    expect(rejudgeVerdict(wire, { thresholdRange: { max: 400 } }).outcome).toBe(Outcome.Failed);
    expect(wire.samples?.series[0]?.labels).toEqual({ track: 'canary' });
  });

  it('latency comparison: per-window histograms are added up into looks', () => {
    const buckets = (fast: number, slow: number) => [
      { leMs: 250, count: fast },
      { leMs: Number.POSITIVE_INFINITY, count: fast + slow },
    ];
    const histograms = [0, 1].map((i) => ({
      window: windowAt(i),
      canary: buckets(540, 60),
      primary: buckets(5292, 108),
    }));
    const check = { kind: CheckKind.LatencyComparison, sloMs: 250 } as const;
    const verdict = judge(check, {
      status: ObservationStatus.Ok,
      data: accumulateHistograms(histograms),
      window: windowAt(1),
    });
    const wire = published(verdict, {
      method: CheckKind.LatencyComparison,
      sloMs: 250,
      histograms,
      series: [],
    });
    sameVerdict(rejudgeVerdict(wire), verdict);
    expect(verdict.outcome).toBe(Outcome.Failed);
    expect(rejudgeVerdict(wire, { options: { toleratedRatio: 6 } }).outcome).not.toBe(
      Outcome.Failed,
    );
  });

  it('bounds the raw series and says so', () => {
    const series: MetricSeries[] = Array.from({ length: MAX_SERIES + 4 }, (_, i) => ({
      labels: { workload: `w-${i}` },
      samples: Array.from({ length: MAX_POINTS + 10 }, (_, p) => ({ tMs: END + p, value: p })),
    }));
    const verdict = judge(
      { kind: CheckKind.ValueThreshold, thresholdRange: {} },
      { status: ObservationStatus.Ok, data: 1 },
    );
    const wire = published(verdict, { method: CheckKind.ValueThreshold, value: 1, series });
    expect(wire.samples?.series).toHaveLength(MAX_SERIES);
    expect(wire.samples?.series[0]?.points).toHaveLength(MAX_POINTS);
    expect(wire.samples?.series[0]?.points.at(-1)?.value).toBe(MAX_POINTS + 9);
    expect(wire.samples?.truncated).toBe(true);
  });

  it('refuses a verdict without samples', () => {
    const verdict = judge(
      { kind: CheckKind.ValueThreshold, thresholdRange: {} },
      { status: ObservationStatus.NoData },
    );
    const wire = toAnalysisVerdict(identity, verdict, {});
    expect(() => rejudgeVerdict(wire)).toThrow(
      expect.objectContaining({ code: 'VALIDATION' }) as Error,
    );
    try {
      rejudgeVerdict(wire);
    } catch (error) {
      expect(isAviaryError(error)).toBe(true);
    }
  });
});
