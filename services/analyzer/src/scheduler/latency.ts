/**
 * Latency comparisons (pure): the built-in `request-duration` judged as canary-vs-primary
 * slow-request counts from histogram buckets (the judge's `latency-comparison`: the always-valid
 * sequential test, plus a rank test on the bucket counts), instead of Flagger's threshold on a
 * percentile. Like a count check, it is planned as one value sub-check (`<id>#histogram`) on the
 * router's grouped histogram query, `sum by ([cluster,] namespace, workload, track, le)
 * (increase(<bucket>[interval]))`: every canary of a router, and its primary, in one query per
 * window (a separate fold from the router's value queries). After the round `collectHistograms`
 * takes the sub-verdict's canary and primary histograms, or the provider failure.
 */
import {
  CheckKind,
  type HistogramSnapshot,
  type LatencyComparisonCheck,
  Outcome,
  type TimeWindow,
} from '@aviary/judge';
import { BuiltinMetric, GroupedForm, type MetricRouter } from '../metrics/builtin.ts';
import type { MetricSeries } from '../metrics/provider.ts';
import { type ActiveCheck, MetricSource } from './plan.ts';
import type { CheckVerdict } from './scheduler.ts';

/** One latency comparison of one canary on a router's built-in duration histogram. */
export interface ActiveLatencyCheck extends Omit<ActiveCheck, 'metric' | 'check'> {
  readonly metric: { readonly router: MetricRouter };
  readonly check: LatencyComparisonCheck;
}

export function histogramSubCheckId(checkId: string): string {
  return `${checkId}#histogram`;
}

/** The value sub-check that measures a latency comparison: the grouped histogram query. */
export function latencySubCheck(check: ActiveLatencyCheck): ActiveCheck {
  const { metric, check: _judged, ...rest } = check;
  return {
    ...rest,
    id: histogramSubCheckId(check.id),
    metric: {
      source: MetricSource.Builtin,
      router: metric.router,
      metric: BuiltinMetric.RequestDuration,
      form: GroupedForm.Histogram,
    },
    check: { kind: CheckKind.ValueThreshold, thresholdRange: {}, label: 'canary requests' },
  };
}

/** The histograms a latency comparison was measured with, no data, or why not. */
export type CollectedHistograms =
  | {
      readonly ok: true;
      /** Unset: no data (no series for the canary or its primary in the window). */
      readonly histograms?: HistogramSnapshot;
      readonly window?: TimeWindow;
      readonly query: string;
      readonly samples: readonly MetricSeries[];
    }
  | {
      readonly ok: false;
      /** The failing sub-verdict (`Error`), with its message and `retryAfterMs`. */
      readonly failed: CheckVerdict;
      readonly window?: TimeWindow;
      readonly query: string;
    };

/** Collects a latency comparison's sub-verdict (by sub-check id) into histograms. */
export function collectHistograms(
  check: ActiveLatencyCheck,
  verdicts: ReadonlyMap<string, CheckVerdict>,
): CollectedHistograms {
  const found = verdicts.get(histogramSubCheckId(check.id));
  if (found === undefined || found.verdict.outcome === Outcome.Error) {
    const failed: CheckVerdict = found ?? {
      checkId: check.id,
      source: 'rejected',
      query: '',
      samples: [],
      verdict: {
        outcome: Outcome.Error,
        evidence: { thresholdRange: {} },
        message: 'internal: a histogram sub-check got no verdict',
      },
    };
    return {
      ok: false,
      failed,
      ...(failed.window === undefined ? {} : { window: failed.window }),
      query: failed.query,
    };
  }
  return {
    ok: true,
    ...(found.histograms === undefined ? {} : { histograms: found.histograms }),
    ...(found.window === undefined ? {} : { window: found.window }),
    query: found.query,
    samples: found.samples,
  };
}
