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
export {
  createMetricProvider,
  type MetricProviderConfig,
  type MetricProviderWiring,
} from './create-provider.ts';
export {
  createDatadogProvider,
  DATADOG_DEFAULT_MAX_QUERIES_PER_REQUEST,
  DATADOG_DEFAULT_SITE,
  DATADOG_MAX_QUERIES_PER_REQUEST,
  type DatadogBatchRequest,
  type DatadogConfig,
  type DatadogProvider,
  type DatadogProviderOptions,
  type DatadogWindow,
  datadogConfigSchema,
} from './datadog.ts';
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
