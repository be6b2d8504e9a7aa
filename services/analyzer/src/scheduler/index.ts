export {
  type ActiveCountCheck,
  type CollectedCounts,
  type CountCheck,
  type CountMetric,
  CountPart,
  collectCounts,
  countSubCheckId,
  countSubChecks,
  primaryWorkload,
} from './counts.ts';
export {
  type DatadogTemplateModel,
  type GroupedDatadogQuery,
  groupedDatadogQuery,
  IDENTITY_FIELDS,
  type IdentityField,
  identityLabels,
  renderDatadogQuery,
} from './datadog-template.ts';
export {
  type AnalyzerVerdict,
  ErrorKind,
  errorKindOf,
  withErrorKind,
} from './error-kind.ts';
export {
  type ActiveLatencyCheck,
  type CollectedHistograms,
  collectHistograms,
  histogramSubCheckId,
  latencySubCheck,
} from './latency.ts';
export {
  type ActiveCheck,
  alignedWindow,
  type CheckMetric,
  DEFAULT_INGESTION_DELAY_MS,
  MetricSource,
  type PlannedAnswer,
  type PlannedQuery,
  type PlannedRequest,
  type PlanOptions,
  type ProviderPlanning,
  planQueries,
  promqlDuration,
  type QueryPlan,
  type RejectedCheck,
  type Split,
} from './plan.ts';
export {
  type CheckVerdict,
  createScheduler,
  isFailed,
  rateLimitObserver,
  type ScheduledProvider,
  type Scheduler,
  type SchedulerOptions,
  VerdictSource,
} from './scheduler.ts';
