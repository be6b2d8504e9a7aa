/**
 * The judge's vocabulary. Every type here maps 1:1 onto `proto/aviary/analysis/v1/analysis.proto`
 * (this package does not depend on `@aviary/proto`; the analyzer converts at its edge):
 *
 * | here                         | proto                                              |
 * |------------------------------|----------------------------------------------------|
 * | `Outcome.Successful`         | `ANALYSIS_OUTCOME_SUCCESSFUL`                      |
 * | `Outcome.Failed`             | `ANALYSIS_OUTCOME_FAILED`                          |
 * | `Outcome.Inconclusive`       | `ANALYSIS_OUTCOME_INCONCLUSIVE`                    |
 * | `Outcome.Error`              | `ANALYSIS_OUTCOME_ERROR`                           |
 * | `ThresholdRange {min, max}`  | `ThresholdRange {min, max}`                        |
 * | `SampleCounts {totalCount, badCount}` | `SampleCounts {total_count, bad_count}`   |
 * | `Evidence.value`             | `Evidence.value`                                   |
 * | `Evidence.thresholdRange`    | `Evidence.threshold_range`                         |
 * | `Evidence.lowerBound/upperBound` | `Evidence.lower_bound/upper_bound`             |
 * | `Evidence.canary/primary`    | `Evidence.canary/primary`                          |
 * | `Evidence.window.startMs/endMs` | `Evidence.window_start/window_end` (Timestamp)  |
 * | (not known to the judge)     | `Evidence.query`: set by the analyzer              |
 * | `Verdict.outcome/evidence/message` | `AnalysisVerdict.outcome/evidence/message`   |
 * | `Verdict.retryAfterMs`       | `AnalysisVerdict.retry_after_ms` (unset: 0)        |
 * | `Verdict.statistics`         | no wire field: summarised in `message`, and recomputable from the raw samples the analyzer records |
 */

/** The judgement of one check (Argo Rollouts' measurement outcomes). */
export const Outcome = {
  /** Within the threshold with enough evidence. */
  Successful: 'Successful',
  /** Outside the threshold with enough evidence: the only outcome that counts towards a rollback. */
  Failed: 'Failed',
  /** Not enough evidence: too few requests, no traffic, no data. Holds the canary. */
  Inconclusive: 'Inconclusive',
  /** The provider could not answer (throttled, unreachable, bad response). Never a failed check. */
  Error: 'Error',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Inclusive bounds a value must stay within (Flagger's `thresholdRange`); an unset bound is open. */
export interface ThresholdRange {
  readonly min?: number;
  readonly max?: number;
}

/** Requests over a window: all of them, and the bad ones (errors, or requests slower than the SLO). */
export interface SampleCounts {
  readonly totalCount: number;
  readonly badCount: number;
}

/** The window an observation covers, [startMs, endMs) in Unix milliseconds. */
export interface TimeWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** What a verdict is based on, so that every decision can be explained and re-judged. */
export interface Evidence {
  /** The measured value (a rate in percent, a duration in ms); unset without data. */
  readonly value?: number;
  /** The range the value was judged against (for comparisons: derived from the primary). */
  readonly thresholdRange: ThresholdRange;
  /** Confidence bounds of the value (Wilson bounds of a rate, in percent); unset when not computed. */
  readonly lowerBound?: number;
  readonly upperBound?: number;
  /** Canary counts (cumulative for comparisons); unset when the metric is not a count. */
  readonly canary?: SampleCounts;
  /** Primary counts, when the canary is compared with the primary. */
  readonly primary?: SampleCounts;
  /** The window the observation covers, when the caller gave one. */
  readonly window?: TimeWindow;
}

/** The sequential test's statistics behind a canary-vs-primary verdict. */
export interface SequentialStatistics {
  /** ln of the mixture e-value for "the canary is worse than tolerated" at the last look. */
  readonly logEValueWorse: number;
  /** Always-valid p-value for "the canary is worse": min over looks of 1/e-value, at most 1. */
  readonly pValueWorse: number;
  /** ln of the mixture e-value for "the canary is not `acceptRatio`× worse" at the last look. */
  readonly logEValueNotWorse: number;
  /** Always-valid p-value for "the canary is not `acceptRatio`× worse". */
  readonly pValueNotWorse: number;
  /** The e-value threshold, 1/alpha. */
  readonly eValueThreshold: number;
  /** Number of looks (cumulative snapshots) the test has seen. */
  readonly looks: number;
  /** The first look (1-based) at which the deciding e-process crossed its threshold. */
  readonly decidedAtLook?: number;
}

/** The Mann-Whitney rank test on histogram buckets (a secondary latency signal). */
export interface RankTestStatistics {
  /** U counted as pairs (canary slower) + ½ ties. */
  readonly u: number;
  /** U / (n_canary · n_primary): P(canary slower) + ½ P(tie); 0.5 means the same distribution. */
  readonly auc: number;
  /** Normal approximation with tie correction; 0 when the variance is 0. */
  readonly z: number;
  /** One-sided p-value for "the canary is slower" (optimistic: requests are not independent). */
  readonly pValue: number;
  /** True when z > z(1 − alpha) and auc ≥ the minimum effect: the canary looks slower. */
  readonly canarySlower: boolean;
}

export interface VerdictStatistics {
  readonly sequential?: SequentialStatistics;
  readonly rankTest?: RankTestStatistics;
}

/** The judge's answer for one check. */
export interface Verdict {
  readonly outcome: Outcome;
  readonly evidence: Evidence;
  /** Human-readable explanation, e.g. "success rate 97.20% < 99% over 1,204 requests". */
  readonly message: string;
  /** Error only: how long until a retry makes sense, when the provider said so. */
  readonly retryAfterMs?: number;
  /** Test statistics of comparison checks (not on the wire; see the table above). */
  readonly statistics?: VerdictStatistics;
}
