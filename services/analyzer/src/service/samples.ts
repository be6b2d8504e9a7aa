/**
 * The raw samples recorded with each verdict (`AnalysisVerdict.samples`), and re-judging a
 * recorded verdict from them, e.g. a past release with another threshold or another α.
 *
 * What is recorded is exactly what the judge was given: the value (value thresholds), the
 * window's counts (rate thresholds), every look's per-window counts or histograms (comparisons:
 * the cumulative snapshots are rebuilt by adding them up), plus the provider's series for audit.
 * Bounded so that a verdict stays a small NATS message: windows are never cut (at most 1,440, the
 * history's own bound), series are cut to `MAX_SERIES` × `MAX_POINTS` and `truncated` says so.
 */
import { ValidationError } from '@aviary/core';
import {
  accumulate,
  type Check,
  CheckKind,
  type HistogramBucket,
  type HistogramSnapshot,
  judge,
  type LatencyOptions,
  ObservationStatus,
  RateMeasure,
  type SampleCounts,
  type ThresholdRange,
  type TimeWindow,
  type Verdict,
} from '@aviary/judge';
import { type AnalysisVerdict, JudgeMethod, type RecordedSamplesSchema } from '@aviary/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { type Timestamp, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import type { MetricSeries } from '../metrics/provider.ts';

export const MAX_SERIES = 16;
export const MAX_POINTS = 60;

/** One window's counts as measured. */
export interface WindowCounts {
  readonly window: TimeWindow;
  readonly canary: SampleCounts;
  readonly primary?: SampleCounts;
}

/** One window's histograms as measured (cumulative over `le`, not over time). */
export interface WindowHistogram {
  readonly window: TimeWindow;
  readonly canary: readonly HistogramBucket[];
  readonly primary: readonly HistogramBucket[];
}

/** What one verdict was judged on. */
export type Recording = { readonly series: readonly MetricSeries[] } & (
  | {
      readonly method: typeof CheckKind.ValueThreshold;
      readonly value?: number;
      readonly label?: string;
      readonly unit?: string;
    }
  | {
      readonly method: typeof CheckKind.RateThreshold;
      readonly measure: RateMeasure;
      readonly windows: readonly WindowCounts[];
    }
  | { readonly method: typeof CheckKind.RateComparison; readonly windows: readonly WindowCounts[] }
  | {
      readonly method: typeof CheckKind.LatencyComparison;
      readonly sloMs: number;
      readonly histograms: readonly WindowHistogram[];
    }
);

type RecordedSamplesInit = MessageInitShape<typeof RecordedSamplesSchema>;

const METHODS: Readonly<Record<CheckKind, JudgeMethod>> = {
  [CheckKind.ValueThreshold]: JudgeMethod.VALUE_THRESHOLD,
  [CheckKind.RateThreshold]: JudgeMethod.RATE_THRESHOLD,
  [CheckKind.RateComparison]: JudgeMethod.RATE_COMPARISON,
  [CheckKind.LatencyComparison]: JudgeMethod.LATENCY_COMPARISON,
};

const wireCounts = (c: SampleCounts) => ({
  totalCount: BigInt(Math.max(0, Math.round(c.totalCount))),
  badCount: BigInt(Math.max(0, Math.round(c.badCount))),
});

const wireWindow = (w: TimeWindow) => ({
  windowStart: timestampFromMs(w.startMs),
  windowEnd: timestampFromMs(w.endMs),
});

const wireBuckets = (buckets: readonly HistogramBucket[]) =>
  buckets.map((b) => ({ leMs: b.leMs, count: BigInt(Math.max(0, Math.round(b.count))) }));

/** The wire form of a recording, bounded. */
export function recordedSamples(recording: Recording): RecordedSamplesInit {
  const series = recording.series.slice(0, MAX_SERIES);
  const truncated =
    recording.series.length > MAX_SERIES || series.some((s) => s.samples.length > MAX_POINTS);
  const base: RecordedSamplesInit = {
    method: METHODS[recording.method],
    truncated,
    series: series.map((s) => ({
      labels: { ...s.labels },
      points: s.samples
        .slice(-MAX_POINTS)
        .map((p) => ({ time: timestampFromMs(p.tMs), value: p.value })),
    })),
  };
  switch (recording.method) {
    case CheckKind.ValueThreshold:
      return {
        ...base,
        ...(recording.value === undefined || Number.isNaN(recording.value)
          ? {}
          : { value: recording.value }),
        label: recording.label ?? '',
        unit: recording.unit ?? '',
      };
    case CheckKind.RateThreshold:
    case CheckKind.RateComparison:
      return {
        ...base,
        ...(recording.method === CheckKind.RateThreshold ? { measure: recording.measure } : {}),
        windows: recording.windows.map((w) => ({
          ...wireWindow(w.window),
          canary: wireCounts(w.canary),
          ...(w.primary === undefined ? {} : { primary: wireCounts(w.primary) }),
        })),
      };
    case CheckKind.LatencyComparison:
      return {
        ...base,
        sloMs: recording.sloMs,
        histograms: recording.histograms.map((h) => ({
          ...wireWindow(h.window),
          canary: wireBuckets(h.canary),
          primary: wireBuckets(h.primary),
        })),
      };
    default: {
      const never: never = recording;
      throw new Error(`unknown recording ${JSON.stringify(never)}`);
    }
  }
}

/** What may be changed when re-judging: the threshold range, and the tests' options. */
export interface RejudgeChanges {
  readonly thresholdRange?: ThresholdRange;
  /** Comparisons: α, tolerated and accepted ratios, rank-test settings. */
  readonly options?: LatencyOptions;
  /** Latency comparisons: another SLO (a bucket boundary). */
  readonly sloMs?: number;
}

const ms = (t: Timestamp | undefined) => (t === undefined ? undefined : timestampMs(t));

const counts = (c: { totalCount: bigint; badCount: bigint } | undefined): SampleCounts => ({
  totalCount: Number(c?.totalCount ?? 0n),
  badCount: Number(c?.badCount ?? 0n),
});

/**
 * Judges a recorded verdict again from its samples: the same check as the analyzer ran (its
 * threshold range from the verdict's evidence, the comparisons' default options) unless
 * `changes` says otherwise. Throws `ValidationError` when the verdict carries no samples.
 */
export function rejudgeVerdict(verdict: AnalysisVerdict, changes: RejudgeChanges = {}): Verdict {
  const samples = verdict.samples;
  if (samples === undefined || samples.method === JudgeMethod.UNSPECIFIED) {
    throw new ValidationError('re-judging a verdict', [
      { path: 'samples', message: 'the verdict carries no recorded samples' },
    ]);
  }
  const recorded = verdict.evidence?.thresholdRange;
  const thresholdRange: ThresholdRange = changes.thresholdRange ?? {
    ...(recorded?.min === undefined ? {} : { min: recorded.min }),
    ...(recorded?.max === undefined ? {} : { max: recorded.max }),
  };
  const startMs = ms(verdict.evidence?.windowStart);
  const endMs = ms(verdict.evidence?.windowEnd);
  const window = startMs === undefined || endMs === undefined ? {} : { window: { startMs, endMs } };
  const ok = { status: ObservationStatus.Ok, ...window } as const;
  switch (samples.method) {
    case JudgeMethod.VALUE_THRESHOLD: {
      const check: Check = {
        kind: CheckKind.ValueThreshold,
        thresholdRange,
        ...(samples.label === '' ? {} : { label: samples.label }),
        ...(samples.unit === '' ? {} : { unit: samples.unit }),
      };
      return judge(check, { ...ok, data: samples.value ?? null });
    }
    case JudgeMethod.RATE_THRESHOLD: {
      const last = samples.windows.at(-1);
      const measure = samples.measure === RateMeasure.Bad ? RateMeasure.Bad : RateMeasure.Good;
      return judge(
        { kind: CheckKind.RateThreshold, thresholdRange, measure },
        { ...ok, data: counts(last?.canary) },
      );
    }
    case JudgeMethod.RATE_COMPARISON: {
      const looks = accumulate(
        samples.windows.map((w) => ({ canary: counts(w.canary), primary: counts(w.primary) })),
      );
      return judge({ kind: CheckKind.RateComparison, ...changes.options }, { ...ok, data: looks });
    }
    case JudgeMethod.LATENCY_COMPARISON: {
      const looks = accumulateHistograms(
        samples.histograms.map((h) => ({
          canary: h.canary.map((b) => ({ leMs: b.leMs, count: Number(b.count) })),
          primary: h.primary.map((b) => ({ leMs: b.leMs, count: Number(b.count) })),
        })),
      );
      return judge(
        {
          kind: CheckKind.LatencyComparison,
          sloMs: changes.sloMs ?? samples.sloMs,
          ...changes.options,
        },
        { ...ok, data: looks },
      );
    }
    default:
      throw new ValidationError('re-judging a verdict', [
        { path: 'samples.method', message: `unknown method ${samples.method}` },
      ]);
  }
}

/**
 * Per-window histograms → cumulative snapshots, one per look (the histogram analogue of the
 * judge's `accumulate`): bucket counts added up by `le`, on the boundaries that every window's
 * canary and primary share (a cumulative histogram restricted to some of its boundaries is still
 * exact there), so that a release whose buckets changed midway is still judged on like with like.
 */
export function accumulateHistograms(windows: readonly HistogramSnapshot[]): HistogramSnapshot[] {
  let shared: Set<number> | undefined;
  for (const w of windows) {
    for (const side of [w.canary, w.primary]) {
      const here = new Set(side.map((b) => b.leMs));
      shared = new Set([...(shared ?? here)].filter((le) => here.has(le)));
    }
  }
  const keep = shared ?? new Set<number>();
  const out: HistogramSnapshot[] = [];
  const canary = new Map<number, number>();
  const primary = new Map<number, number>();
  const add = (sum: Map<number, number>, next: readonly HistogramBucket[]) => {
    for (const b of next) if (keep.has(b.leMs)) sum.set(b.leMs, (sum.get(b.leMs) ?? 0) + b.count);
  };
  const snapshot = (sum: Map<number, number>): HistogramBucket[] =>
    [...sum.entries()].sort((a, b) => a[0] - b[0]).map(([leMs, count]) => ({ leMs, count }));
  for (const w of windows) {
    add(canary, w.canary);
    add(primary, w.primary);
    out.push({ canary: snapshot(canary), primary: snapshot(primary) });
  }
  return out;
}
