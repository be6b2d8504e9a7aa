export {
  type Check,
  type CheckData,
  CheckKind,
  judge,
  type LatencyComparisonCheck,
  type Observation,
  ObservationStatus,
  type ProviderFailure,
  ProviderFailureReason,
  type RateComparisonCheck,
  type RateThresholdCheck,
  type ValueThresholdCheck,
} from './judge.ts';
export {
  compareLatency,
  type HistogramBucket,
  type HistogramSnapshot,
  histogramIssues,
  LATENCY_DEFAULTS,
  type LatencyOptions,
  type LatencyResult,
  rankTest,
  sloBoundary,
  slowCounts,
} from './latency.ts';
export { normalCdf, normalQuantile } from './normal.ts';
export {
  accumulate,
  type CountsSnapshot,
  compareCounts,
  SEQUENTIAL_DEFAULTS,
  SequentialDecision,
  type SequentialOptions,
  type SequentialResult,
} from './sequential.ts';
export {
  judgeRate,
  judgeValue,
  RATE_THRESHOLD_DEFAULTS,
  RateMeasure,
  type RateThresholdOptions,
  type ValueThresholdOptions,
} from './threshold.ts';
export {
  type Evidence,
  Outcome,
  type RankTestStatistics,
  type SampleCounts,
  type SequentialStatistics,
  type ThresholdRange,
  type TimeWindow,
  type Verdict,
  type VerdictStatistics,
} from './types.ts';
export { type ProportionInterval, wilsonInterval } from './wilson.ts';
