export {
  BuiltinMetric,
  type BuiltinQuery,
  builtinQuery,
  type CanaryRef,
  FLAGGER_BUILTIN_QUERIES,
  type GroupedEntry,
  type GroupedQuery,
  type GroupedQueryOptions,
  groupedBuiltinQuery,
  groupKey,
  MetricRouter,
  splitGroupedResult,
  Track,
} from './builtin.ts';
export { createMetricProvider, type MetricProviderConfig } from './create-provider.ts';
export {
  createPrometheusProvider,
  type PrometheusConfig,
  type PrometheusProviderOptions,
  prometheusConfigSchema,
} from './prometheus.ts';
export {
  type MetricProvider,
  MetricProviderKind,
  type MetricQueryRange,
  type MetricQueryRequest,
  type MetricSample,
  type MetricSeries,
  type ProviderFailed,
  ProviderFailureReason,
  type ProviderOk,
  type ProviderResult,
  ProviderResultStatus,
  seriesObservation,
  toProviderFailure,
  toValueObservation,
} from './provider.ts';
export {
  escapePromqlString,
  escapeRegex,
  type MetricTemplateSpec,
  metricTemplateSpecSchema,
  parseMetricTemplateSpec,
  renderQuery,
  type TemplateModel,
} from './templates.ts';
