import { ValidationError } from '@aviary/core';
import {
  formatEValue,
  formatNumber,
  formatPercent,
  formatRequests,
  formatScientific,
} from './format.ts';
import { compareLatency, type HistogramSnapshot, type LatencyOptions } from './latency.ts';
import {
  type CountsSnapshot,
  compareCounts,
  SEQUENTIAL_DEFAULTS,
  type SequentialOptions,
  type SequentialResult,
} from './sequential.ts';
import { judgeRate, judgeValue, type RateThresholdOptions } from './threshold.ts';
import {
  type Evidence,
  Outcome,
  type RankTestStatistics,
  type SampleCounts,
  type ThresholdRange,
  type TimeWindow,
  type Verdict,
} from './types.ts';

/** The kinds of check the judge knows. */
export const CheckKind = {
  /** A rate in percent from counts against a `thresholdRange`, with Wilson bounds. */
  RateThreshold: 'rate-threshold',
  /** A plain value (e.g. p99 in ms) against a `thresholdRange`, Flagger's way. */
  ValueThreshold: 'value-threshold',
  /** Canary vs primary bad-request counts, always-valid sequential test. */
  RateComparison: 'rate-comparison',
  /** Canary vs primary slow-request counts from histogram buckets, plus a rank test. */
  LatencyComparison: 'latency-comparison',
} as const;
export type CheckKind = (typeof CheckKind)[keyof typeof CheckKind];

export interface RateThresholdCheck extends RateThresholdOptions {
  readonly kind: typeof CheckKind.RateThreshold;
  readonly thresholdRange: ThresholdRange;
}

export interface ValueThresholdCheck {
  readonly kind: typeof CheckKind.ValueThreshold;
  readonly thresholdRange: ThresholdRange;
  /** For the message, e.g. `request duration p99`; default `value`. */
  readonly label?: string;
  /** For the message, e.g. `ms`. */
  readonly unit?: string;
}

export interface RateComparisonCheck extends SequentialOptions {
  readonly kind: typeof CheckKind.RateComparison;
}

export interface LatencyComparisonCheck extends LatencyOptions {
  readonly kind: typeof CheckKind.LatencyComparison;
  /** The latency SLO; requests slower than the first bucket boundary ≥ it are bad. */
  readonly sloMs: number;
}

export type Check =
  | RateThresholdCheck
  | ValueThresholdCheck
  | RateComparisonCheck
  | LatencyComparisonCheck;

/** What a provider answers for each kind of check. */
export interface CheckData {
  readonly 'rate-threshold': SampleCounts;
  /** `null` or `NaN`: no data. */
  readonly 'value-threshold': number | null;
  /** Cumulative counts, one snapshot per look, oldest first. */
  readonly 'rate-comparison': readonly CountsSnapshot[];
  /** Cumulative histograms, one snapshot per look, oldest first. */
  readonly 'latency-comparison': readonly HistogramSnapshot[];
}

/** Why a provider could not answer (reference §4.5). Every reason gives `Error`, never `Failed`. */
export const ProviderFailureReason = {
  /** 429, or Mimir's "too many outstanding requests". */
  Throttled: 'throttled',
  Unreachable: 'unreachable',
  Timeout: 'timeout',
  /** 5xx. */
  ServerError: 'server-error',
  /** The answer could not be parsed or made no sense. */
  BadResponse: 'bad-response',
  /** 400/422: the query is wrong; a configuration error to pause on and report. */
  QueryRejected: 'query-rejected',
} as const;
export type ProviderFailureReason =
  (typeof ProviderFailureReason)[keyof typeof ProviderFailureReason];

export interface ProviderFailure {
  readonly reason: ProviderFailureReason;
  readonly message: string;
  /** When the provider's budget resets (e.g. from `X-RateLimit-Reset`). */
  readonly retryAfterMs?: number;
}

export const ObservationStatus = {
  Ok: 'ok',
  /** The query succeeded but returned no series (or only nulls). */
  NoData: 'no-data',
  ProviderError: 'provider-error',
} as const;
export type ObservationStatus = (typeof ObservationStatus)[keyof typeof ObservationStatus];

/** What the analyzer observed for one check: data, no data, or a provider failure. */
export type Observation<T> =
  | { readonly status: typeof ObservationStatus.Ok; readonly data: T; readonly window?: TimeWindow }
  | { readonly status: typeof ObservationStatus.NoData; readonly window?: TimeWindow }
  | {
      readonly status: typeof ObservationStatus.ProviderError;
      readonly failure: ProviderFailure;
      readonly window?: TimeWindow;
    };

/**
 * The judge's single entry: one verdict for one check and its observation. A provider failure is
 * `Error` (never `Failed`); no data is `Inconclusive`; data that is not valid (counts that go
 * backwards, a histogram that is not cumulative) is a bad response and also `Error`, as is a
 * check whose parameters are invalid. Pure and deterministic.
 */
export function judge<C extends Check>(
  check: C,
  observation: Observation<CheckData[C['kind']]>,
): Verdict {
  const verdict = judgeObservation(check, observation);
  return observation.window === undefined
    ? verdict
    : { ...verdict, evidence: { ...verdict.evidence, window: observation.window } };
}

function judgeObservation(check: Check, observation: Observation<unknown>): Verdict {
  const thresholdRange = rangeOf(check);
  switch (observation.status) {
    case ObservationStatus.ProviderError: {
      const { failure } = observation;
      const retry =
        failure.retryAfterMs === undefined
          ? ''
          : `; retry in ${formatNumber(failure.retryAfterMs)} ms`;
      const verdict: Verdict = {
        outcome: Outcome.Error,
        evidence: { thresholdRange },
        message: `provider ${failure.reason}: ${failure.message}${retry}`,
      };
      return failure.retryAfterMs === undefined
        ? verdict
        : { ...verdict, retryAfterMs: failure.retryAfterMs };
    }
    case ObservationStatus.NoData:
      return {
        outcome: Outcome.Inconclusive,
        evidence: { thresholdRange },
        message: 'no data: the query returned no values (no traffic or missing telemetry)',
      };
    case ObservationStatus.Ok:
      try {
        return judgeData(check, observation.data);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        return {
          outcome: Outcome.Error,
          evidence: { thresholdRange },
          message: `invalid check or response: ${error.message}`,
        };
      }
    default:
      return unreachable(observation);
  }
}

// The generic signature of `judge` pairs each check kind with its data; the casts below only
// restate that pairing after the switch has narrowed the check.
function judgeData(check: Check, data: unknown): Verdict {
  switch (check.kind) {
    case CheckKind.RateThreshold:
      return judgeRate(data as CheckData['rate-threshold'], check.thresholdRange, check);
    case CheckKind.ValueThreshold:
      return judgeValue(data as CheckData['value-threshold'], check.thresholdRange, check);
    case CheckKind.RateComparison:
      return comparisonVerdict(compareCounts(data as CheckData['rate-comparison'], check), check, {
        rate: 'error rate',
        items: 'errors',
      });
    case CheckKind.LatencyComparison: {
      const result = compareLatency(data as CheckData['latency-comparison'], check.sloMs, check);
      const verdict = comparisonVerdict(result.sequential, check, {
        rate: `share of requests slower than ${formatNumber(result.boundaryMs)} ms`,
        items: 'slow requests',
      });
      const rank = result.rankTest;
      if (rank === undefined) return verdict;
      const vetoed = result.outcome !== result.sequential.outcome;
      return {
        ...verdict,
        outcome: result.outcome,
        message: `${vetoed ? 'held: ' : ''}${verdict.message}; ${describeRank(rank)}`,
        statistics: { ...verdict.statistics, rankTest: rank },
      };
    }
    default:
      return unreachable(check);
  }
}

function comparisonVerdict(
  result: SequentialResult,
  options: SequentialOptions,
  words: { readonly rate: string; readonly items: string },
): Verdict {
  const alpha = options.alpha ?? SEQUENTIAL_DEFAULTS.alpha;
  const tolerated = options.toleratedRatio ?? SEQUENTIAL_DEFAULTS.toleratedRatio;
  const accept = options.acceptRatio ?? SEQUENTIAL_DEFAULTS.acceptRatio;
  const negligible = options.negligibleRate ?? SEQUENTIAL_DEFAULTS.negligibleRate;
  const { canary, primary, statistics } = result;
  const primaryPercent =
    primary.totalCount > 0 ? (primary.badCount / primary.totalCount) * 100 : undefined;
  const thresholdRange: ThresholdRange =
    primaryPercent === undefined ? {} : { max: tolerated * primaryPercent };
  const evidence: Evidence =
    canary.totalCount === 0
      ? { thresholdRange, canary, primary }
      : {
          value: (canary.badCount / canary.totalCount) * 100,
          thresholdRange,
          lowerBound: result.canaryRateLower * 100,
          upperBound: result.canaryRateUpper * 100,
          canary,
          primary,
        };
  const canaryRate = evidence.value === undefined ? 'none' : formatPercent(evidence.value);
  const primaryRate = primaryPercent === undefined ? 'none' : formatPercent(primaryPercent);
  const observed =
    `canary ${words.rate} ${canaryRate} vs primary ${primaryRate} over ` +
    `${formatRequests(canary.totalCount)} / ${formatRequests(primary.totalCount)}`;
  const threshold = formatScientific(statistics.eValueThreshold);
  const at = statistics.decidedAtLook === undefined ? '' : ` at look ${statistics.decidedAtLook}`;
  const base = { evidence, statistics: { sequential: statistics } };
  switch (result.decision) {
    case 'worse':
      return {
        ...base,
        outcome: Outcome.Failed,
        message:
          `${observed}: canary worse than ${formatNumber(tolerated)}× primary ` +
          `(e-value ${formatEValue(statistics.logEValueWorse)} ≥ ${threshold}${at}, ` +
          `always-valid p ${formatScientific(statistics.pValueWorse)})`,
      };
    case 'not-worse':
      return {
        ...base,
        outcome: Outcome.Successful,
        message:
          `${observed}: canary not ${formatNumber(accept)}× worse than primary ` +
          `(e-value ${formatEValue(statistics.logEValueNotWorse)} ≥ ${threshold}${at})`,
      };
    case 'negligible':
      return {
        ...base,
        outcome: Outcome.Successful,
        message:
          `${observed}: canary ${words.rate} below ${formatNumber(negligible * 100)}% ` +
          `(${formatNumber((1 - alpha) * 100)}% Wilson upper bound ${formatPercent(result.canaryRateUpper * 100, 3)})`,
      };
    case 'no-traffic':
      return {
        ...base,
        outcome: Outcome.Inconclusive,
        message: `no canary requests yet: ${words.rate} cannot be compared with the primary`,
      };
    case 'not-enough-evidence':
      return {
        ...base,
        outcome: Outcome.Inconclusive,
        message:
          `${observed}: not enough ${words.items} to tell yet (e-values ` +
          `${formatEValue(statistics.logEValueWorse)} worse / ` +
          `${formatEValue(statistics.logEValueNotWorse)} not worse, either needs ${threshold})`,
      };
    default:
      return unreachable(result.decision);
  }
}

function describeRank(rank: RankTestStatistics): string {
  return (
    `rank test AUC ${rank.auc.toFixed(3)}, z ${rank.z.toFixed(2)}, p ${formatScientific(rank.pValue)}` +
    (rank.canarySlower ? ': canary slower' : '')
  );
}

function rangeOf(check: Check): ThresholdRange {
  switch (check.kind) {
    case CheckKind.RateThreshold:
    case CheckKind.ValueThreshold:
      return check.thresholdRange;
    case CheckKind.RateComparison:
    case CheckKind.LatencyComparison:
      return {};
    default:
      return unreachable(check);
  }
}

function unreachable(value: never): never {
  throw new ValidationError('judge', [
    { path: 'kind', message: `unknown ${JSON.stringify(value)}` },
  ]);
}
