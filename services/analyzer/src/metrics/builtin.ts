/**
 * The built-in metrics `request-success-rate` (percent, 0–100) and `request-duration`
 * (milliseconds: P99, or the mean for NGINX) for each router, as Flagger's observers write them
 * (`pkg/metrics/observers/*.go`), and their grouped forms: one query for many canaries that
 * returns one series per (cluster, namespace, workload, track), plus the splitter that hands each
 * canary its own observation back.
 *
 * Grouped forms normalise every router's labels to `namespace`, `workload` and `track`
 * (`canary` | `primary`) with `label_replace`, then `sum by ([cluster,] namespace, workload, track)`.
 * They differ from the per-canary queries on purpose in two ways: the primary is measured in the
 * same call (Flagger names it `<target>-primary`; for NGINX it is the traffic with an empty
 * `canary` label), and a canary that answered only errors gets 0 % instead of no value (the
 * numerator falls back to `0 * total`). No traffic stays no data (0/0 is NaN).
 *
 * `request-duration` also has a histogram form (`GroupedForm.Histogram`) for canary-vs-primary
 * latency comparisons: request counts per bucket over the window, `sum by (…, le)
 * (increase(<bucket>[i]))`, split by `splitHistogramResult` / `canaryHistograms`.
 */
import { ValidationError, type ValidationIssue } from '@aviary/core';
import {
  type HistogramBucket,
  type HistogramSnapshot,
  type Observation,
  ObservationStatus,
  ProviderFailureReason,
} from '@aviary/judge';
import {
  type MetricSeries,
  type ProviderResult,
  ProviderResultStatus,
  seriesObservation,
  toProviderFailure,
} from './provider.ts';
import {
  escapePromqlString,
  escapeRegex,
  kubernetesNameProblem,
  PROMQL_DURATION,
  renderQuery,
  type TemplateModel,
} from './templates.ts';

export const BuiltinMetric = {
  RequestSuccessRate: 'request-success-rate',
  RequestDuration: 'request-duration',
} as const;
export type BuiltinMetric = (typeof BuiltinMetric)[keyof typeof BuiltinMetric];

/**
 * Routers with built-in metrics. `gatewayapi` uses Flagger's generic HTTP observer (the app's own
 * `http_request_duration_seconds`), as Flagger does for Gateway API and `kubernetes`; `contour`
 * is the Envoy cluster-stats form (Contour's Envoy, also behind a Gateway API Gateway).
 */
export const MetricRouter = {
  Istio: 'istio',
  Linkerd: 'linkerd',
  Nginx: 'nginx',
  Contour: 'contour',
  GatewayApi: 'gatewayapi',
} as const;
export type MetricRouter = (typeof MetricRouter)[keyof typeof MetricRouter];

export const Track = {
  Canary: 'canary',
  Primary: 'primary',
} as const;
export type Track = (typeof Track)[keyof typeof Track];

/** Flagger's built-in queries, verbatim (Flagger's tab indentation included). */
export const FLAGGER_BUILTIN_QUERIES: Readonly<
  Record<MetricRouter, Record<BuiltinMetric, string>>
> = {
  istio: {
    'request-success-rate': `
	sum(
		rate(
			istio_requests_total{
				reporter="destination",
				destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ target }}",
				response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			istio_requests_total{
				reporter="destination",
				destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ target }}"
			}[{{ interval }}]
		)
	) 
	* 100`,
    'request-duration': `
	histogram_quantile(
		0.99,
		sum(
			rate(
				istio_request_duration_milliseconds_bucket{
					reporter="destination",
					destination_workload_namespace="{{ namespace }}",
					destination_workload=~"{{ target }}"
				}[{{ interval }}]
			)
		) by (le)
	)`,
  },
  linkerd: {
    'request-success-rate': `
	sum(
		rate(
			response_total{
				namespace="{{ namespace }}",
				deployment=~"{{ target }}",
				classification!="failure",
				direction="inbound"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			response_total{
				namespace="{{ namespace }}",
				deployment=~"{{ target }}",
				direction="inbound"
			}[{{ interval }}]
		)
	) 
	* 100`,
    'request-duration': `
	histogram_quantile(
		0.99,
		sum(
			rate(
				response_latency_ms_bucket{
					namespace="{{ namespace }}",
					deployment=~"{{ target }}",
					direction="inbound"
				}[{{ interval }}]
			)
		) by (le)
	)`,
  },
  nginx: {
    'request-success-rate': `
	sum(
		rate(
			nginx_ingress_controller_requests{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!="",
				status!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			nginx_ingress_controller_requests{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	* 100`,
    'request-duration': `
	sum(
		rate(
			nginx_ingress_controller_response_duration_seconds_sum{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			nginx_ingress_controller_response_duration_seconds_count{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	* 1000`,
  },
  contour: {
    'request-success-rate': `
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
				envoy_response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
			}[{{ interval }}]
		)
	) 
	* 100`,
    'request-duration': `
	histogram_quantile(
		0.99,
		sum(
			rate(
				envoy_cluster_upstream_rq_time_bucket{
					envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
				}[{{ interval }}]
			)
		) by (le)
	)`,
  },
  gatewayapi: {
    'request-success-rate': `
	sum(
		rate(
			http_request_duration_seconds_count{
				kubernetes_namespace="{{ namespace }}",
				kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
				status!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			http_request_duration_seconds_count{
				kubernetes_namespace="{{ namespace }}",
				kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
			}[{{ interval }}]
		)
	) 
	* 100`,
    'request-duration': `
	histogram_quantile(
		0.99,
		sum(
			rate(
				http_request_duration_seconds_bucket{
					kubernetes_namespace="{{ namespace }}",
					kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
				}[{{ interval }}]
			)
		) by (le)
	)`,
  },
};

/** A rendered built-in query; multiply its value by `valueScale` to get percent or ms. */
export interface BuiltinQuery {
  readonly router: MetricRouter;
  readonly metric: BuiltinMetric;
  readonly query: string;
  /** 1, except the HTTP observer's duration, which is in seconds (Flagger multiplies in Go). */
  readonly valueScale: number;
}

/** Flagger's built-in query for one canary, rendered with the template rules (`templates.ts`). */
export function builtinQuery(
  router: MetricRouter,
  metric: BuiltinMetric,
  model: TemplateModel,
): BuiltinQuery {
  const template = FLAGGER_BUILTIN_QUERIES[router]?.[metric];
  if (template === undefined) {
    throw new ValidationError('built-in metric', [
      { path: 'metric', message: `no built-in ${String(metric)} for router ${String(router)}` },
    ]);
  }
  const valueScale =
    router === MetricRouter.GatewayApi && metric === BuiltinMetric.RequestDuration ? 1000 : 1;
  return { router, metric, query: renderQuery(template, model), valueScale };
}

/** One canary of a grouped query. `service`/`ingress` default to `target`, as in Flagger. */
export interface CanaryRef {
  /** Required when the grouped query has a `clusterLabel`. */
  readonly cluster?: string;
  readonly namespace: string;
  readonly target: string;
  readonly service?: string;
  readonly ingress?: string;
}

/**
 * What a grouped built-in query returns per (canary, track): the metric's value (percent, ms), or,
 * for `request-duration` only, the latency histogram (`sum by (…, le) (increase(<bucket>[i]))`:
 * request counts per bucket over the window) for a canary-vs-primary latency comparison.
 */
export const GroupedForm = {
  Value: 'value',
  Histogram: 'histogram',
} as const;
export type GroupedForm = (typeof GroupedForm)[keyof typeof GroupedForm];

export interface GroupedQueryOptions {
  readonly router: MetricRouter;
  readonly metric: BuiltinMetric;
  /** Default `value`. */
  readonly form?: GroupedForm;
  /** The window of `rate(…[interval])`, a PromQL duration. */
  readonly interval: string;
  readonly canaries: readonly CanaryRef[];
  /**
   * The label naming the cluster on every series (an external label under Thanos, Mimir or a
   * federated Prometheus), e.g. `cluster`. Unset: one Prometheus per cluster, no cluster label.
   */
  readonly clusterLabel?: string;
}

/** One (canary, track) a grouped query answers for. */
export interface GroupedEntry {
  /** `groupKey(canary, track)`. */
  readonly key: string;
  readonly canary: CanaryRef;
  readonly track: Track;
}

export interface GroupedQuery {
  readonly router: MetricRouter;
  readonly metric: BuiltinMetric;
  /** Unset: `value`. */
  readonly form?: GroupedForm;
  /** Histogram form: the factor from the bucket series' `le` to ms (1000 for seconds). */
  readonly leScale?: number;
  readonly query: string;
  readonly clusterLabel?: string;
  /** Every (canary, track), canaries in request order, canary track first. */
  readonly entries: readonly GroupedEntry[];
}

/** Identifies one (canary, track) in a split result. */
export function groupKey(canary: CanaryRef, track: Track): string {
  return JSON.stringify([canary.cluster ?? '', canary.namespace, canary.target, track]);
}

interface RouterShape {
  /** The counter (success rate) and its selectors. */
  readonly requests: string;
  /** The matcher that keeps good requests. */
  readonly okMatcher: string;
  /** Fixed matchers of every selector. */
  readonly fixed: readonly string[];
  /**
   * The latency histogram's bucket series for a latency comparison, and the factor that turns
   * its `le` into ms. Flagger's own duration series where it is a histogram; NGINX (whose
   * Flagger query is a mean) uses the controller's `request_duration_seconds` histogram.
   */
  readonly histogram: { readonly bucket: string; readonly leScale: number };
  /** Histogram bucket series, or `sum`/`count` for a mean (NGINX). */
  readonly duration:
    | { readonly kind: 'histogram'; readonly bucket: string; readonly scale: number }
    | {
        readonly kind: 'mean';
        readonly sum: string;
        readonly count: string;
        readonly scale: number;
      };
  /** The workload identity a canary has in this router's labels. */
  readonly identity: (canary: CanaryRef) => string;
  /** Selector matchers for a set of namespaces and identities. */
  readonly matchers: (namespaces: readonly string[], identities: readonly string[]) => string[];
  /** Wraps an instant vector in the label_replace calls that add namespace, workload, track. */
  readonly normalise: (expr: string) => string;
}

const WORKLOAD_AND_TRACK = (expr: string, source: string) =>
  labelReplace(
    labelReplace(
      labelReplace(expr, 'workload', '$1', source, '(.+?)(-primary)?'),
      'track',
      Track.Canary,
      source,
      '.*',
    ),
    'track',
    Track.Primary,
    source,
    '.+-primary',
  );

const ROUTER_SHAPES: Readonly<Record<MetricRouter, RouterShape>> = {
  istio: {
    requests: 'istio_requests_total',
    okMatcher: 'response_code!~"5.*"',
    fixed: ['reporter="destination"'],
    histogram: { bucket: 'istio_request_duration_milliseconds_bucket', leScale: 1 },
    duration: { kind: 'histogram', bucket: 'istio_request_duration_milliseconds_bucket', scale: 1 },
    identity: (c) => c.target,
    matchers: (namespaces, names) => [
      `destination_workload_namespace=~"${alternation(namespaces)}"`,
      `destination_workload=~"${alternation(withPrimaries(names))}"`,
    ],
    normalise: (expr) =>
      WORKLOAD_AND_TRACK(
        labelReplace(expr, 'namespace', '$1', 'destination_workload_namespace', '(.*)'),
        'destination_workload',
      ),
  },
  linkerd: {
    requests: 'response_total',
    okMatcher: 'classification!="failure"',
    fixed: ['direction="inbound"'],
    histogram: { bucket: 'response_latency_ms_bucket', leScale: 1 },
    duration: { kind: 'histogram', bucket: 'response_latency_ms_bucket', scale: 1 },
    identity: (c) => c.target,
    matchers: (namespaces, names) => [
      `namespace=~"${alternation(namespaces)}"`,
      `deployment=~"${alternation(withPrimaries(names))}"`,
    ],
    normalise: (expr) => WORKLOAD_AND_TRACK(expr, 'deployment'),
  },
  nginx: {
    requests: 'nginx_ingress_controller_requests',
    okMatcher: 'status!~"5.*"',
    fixed: [],
    histogram: {
      bucket: 'nginx_ingress_controller_request_duration_seconds_bucket',
      leScale: 1000,
    },
    duration: {
      kind: 'mean',
      sum: 'nginx_ingress_controller_response_duration_seconds_sum',
      count: 'nginx_ingress_controller_response_duration_seconds_count',
      scale: 1000,
    },
    identity: (c) => c.ingress ?? c.target,
    matchers: (namespaces, names) => [
      `namespace=~"${alternation(namespaces)}"`,
      `ingress=~"${alternation(names)}"`,
    ],
    normalise: (expr) =>
      labelReplace(
        labelReplace(
          labelReplace(expr, 'workload', '$1', 'ingress', '(.*)'),
          'track',
          Track.Canary,
          'canary',
          '.+',
        ),
        'track',
        Track.Primary,
        'canary',
        '',
      ),
  },
  contour: {
    requests: 'envoy_cluster_upstream_rq',
    okMatcher: 'envoy_response_code!~"5.*"',
    fixed: [],
    histogram: { bucket: 'envoy_cluster_upstream_rq_time_bucket', leScale: 1 },
    duration: { kind: 'histogram', bucket: 'envoy_cluster_upstream_rq_time_bucket', scale: 1 },
    identity: (c) => c.service ?? c.target,
    matchers: (namespaces, names) => [
      `envoy_cluster_name=~"(${alternation(namespaces)})_(${alternation(names)})-(canary|primary)_[0-9a-zA-Z-]+"`,
    ],
    normalise: (expr) => {
      const cluster = '([^_]+)_(.+)-(canary|primary)_[0-9a-zA-Z-]+';
      return labelReplace(
        labelReplace(
          labelReplace(expr, 'namespace', '$1', 'envoy_cluster_name', cluster),
          'workload',
          '$2',
          'envoy_cluster_name',
          cluster,
        ),
        'track',
        '$3',
        'envoy_cluster_name',
        cluster,
      );
    },
  },
  gatewayapi: {
    requests: 'http_request_duration_seconds_count',
    okMatcher: 'status!~"5.*"',
    fixed: [],
    histogram: { bucket: 'http_request_duration_seconds_bucket', leScale: 1000 },
    duration: { kind: 'histogram', bucket: 'http_request_duration_seconds_bucket', scale: 1000 },
    identity: (c) => c.target,
    matchers: (namespaces, names) => [
      `kubernetes_namespace=~"${alternation(namespaces)}"`,
      `kubernetes_pod_name=~"(${alternation(withPrimaries(names))})-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`,
    ],
    normalise: (expr) => {
      const pod = '(.+?)(-primary)?-[0-9a-zA-Z]+-[0-9a-zA-Z]+';
      return labelReplace(
        labelReplace(
          labelReplace(
            labelReplace(expr, 'namespace', '$1', 'kubernetes_namespace', '(.*)'),
            'workload',
            '$1',
            'kubernetes_pod_name',
            pod,
          ),
          'track',
          Track.Canary,
          'kubernetes_pod_name',
          '.*',
        ),
        'track',
        Track.Primary,
        'kubernetes_pod_name',
        '.+-primary-[0-9a-zA-Z]+-[0-9a-zA-Z]+',
      );
    },
  },
};

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * One query for every canary (and its primary) of a router and metric over one window. Values
 * are percent (success rate) or milliseconds (duration). Throws `ValidationError` for an invalid
 * name, interval or cluster label, or an empty canary list.
 */
export function groupedBuiltinQuery(options: GroupedQueryOptions): GroupedQuery {
  const { router, metric, interval, canaries, clusterLabel } = options;
  const form = options.form ?? GroupedForm.Value;
  const shape = ROUTER_SHAPES[router];
  const issues: ValidationIssue[] = [];
  if (shape === undefined) issues.push({ path: 'router', message: `unknown router ${router}` });
  if (metric !== BuiltinMetric.RequestSuccessRate && metric !== BuiltinMetric.RequestDuration) {
    issues.push({ path: 'metric', message: `unknown built-in metric ${String(metric)}` });
  }
  if (form !== GroupedForm.Value && form !== GroupedForm.Histogram) {
    issues.push({ path: 'form', message: `unknown form ${String(form)}` });
  } else if (form === GroupedForm.Histogram && metric !== BuiltinMetric.RequestDuration) {
    issues.push({ path: 'form', message: `a histogram exists for request-duration only` });
  }
  if (!PROMQL_DURATION.test(interval)) {
    issues.push({ path: 'interval', message: `must be a PromQL duration, got ${interval}` });
  }
  if (clusterLabel !== undefined && !LABEL_NAME.test(clusterLabel)) {
    issues.push({ path: 'clusterLabel', message: `not a Prometheus label name: ${clusterLabel}` });
  }
  if (canaries.length === 0) issues.push({ path: 'canaries', message: 'must not be empty' });
  for (const [i, canary] of canaries.entries()) {
    const check = (field: string, value: unknown, namespace: boolean) => {
      const problem = kubernetesNameProblem(value, namespace);
      if (problem !== undefined) issues.push({ path: `canaries[${i}].${field}`, message: problem });
    };
    check('namespace', canary.namespace, true);
    check('target', canary.target, false);
    if (canary.service !== undefined) check('service', canary.service, false);
    if (canary.ingress !== undefined) check('ingress', canary.ingress, false);
    if (clusterLabel !== undefined && (canary.cluster ?? '') === '') {
      issues.push({ path: `canaries[${i}].cluster`, message: 'required with a clusterLabel' });
    }
  }
  if (issues.length > 0 || shape === undefined) {
    throw new ValidationError('grouped built-in query', issues);
  }

  const namespaces = unique(canaries.map((c) => c.namespace));
  const identities = unique(canaries.map(shape.identity));
  const selector = [...shape.fixed, ...shape.matchers(namespaces, identities)];
  if (clusterLabel !== undefined) {
    const clusters = unique(canaries.map((c) => c.cluster ?? ''));
    selector.unshift(`${clusterLabel}=~"${alternation(clusters)}"`);
  }
  const by = [
    ...(clusterLabel === undefined ? [] : [clusterLabel]),
    'namespace',
    'workload',
    'track',
  ];
  const summed = (
    metricName: string,
    extra: readonly string[],
    byExtra: readonly string[] = [],
    fn = 'rate',
  ) =>
    `sum by (${[...by, ...byExtra].join(', ')}) (${shape.normalise(
      `${fn}(${metricName}{${[...selector, ...extra].join(', ')}}[${interval}])`,
    )})`;

  let query: string;
  if (form === GroupedForm.Histogram) {
    // Request counts per bucket over the window (not rates): the judge counts slow requests.
    query = summed(shape.histogram.bucket, [], ['le'], 'increase');
  } else if (metric === BuiltinMetric.RequestSuccessRate) {
    const total = summed(shape.requests, []);
    query = `(${summed(shape.requests, [shape.okMatcher])} or 0 * ${total}) / ${total} * 100`;
  } else if (shape.duration.kind === 'histogram') {
    query = `histogram_quantile(0.99, ${summed(shape.duration.bucket, [], ['le'])})${scaled(shape.duration.scale)}`;
  } else {
    query = `${summed(shape.duration.sum, [])} / ${summed(shape.duration.count, [])}${scaled(shape.duration.scale)}`;
  }

  const entries = canaries.flatMap((canary) =>
    [Track.Canary, Track.Primary].map((track) => ({ key: groupKey(canary, track), canary, track })),
  );
  return {
    router,
    metric,
    ...(form === GroupedForm.Histogram ? { form, leScale: shape.histogram.leScale } : {}),
    query,
    ...(clusterLabel === undefined ? {} : { clusterLabel }),
    entries,
  };
}

/**
 * Splits a grouped result into one observation per (canary, track), keyed by `groupKey`: the
 * series' last value; a missing series, or NaN (no traffic), is `no-data`; two series for the
 * same key are a `bad-response` for that key; series of canaries not asked for are ignored (the
 * selector is a cross product of namespaces and names). A failed result fails every entry alike.
 */
export function splitGroupedResult(
  grouped: GroupedQuery,
  result: ProviderResult,
): Map<string, Observation<number>> {
  const observations = new Map<string, Observation<number>>();
  if (result.status === ProviderResultStatus.Failed) {
    const failure = toProviderFailure(result);
    for (const entry of grouped.entries) {
      observations.set(entry.key, { status: ObservationStatus.ProviderError, failure });
    }
    return observations;
  }
  const shape = ROUTER_SHAPES[grouped.router];
  const bySeriesKey = new Map<string, MetricSeries[]>();
  for (const series of result.series) {
    const key = seriesKey(
      grouped.clusterLabel === undefined ? '' : (series.labels[grouped.clusterLabel] ?? ''),
      series.labels.namespace ?? '',
      series.labels.workload ?? '',
      series.labels.track ?? '',
    );
    const list = bySeriesKey.get(key) ?? [];
    list.push(series);
    bySeriesKey.set(key, list);
  }
  for (const entry of grouped.entries) {
    const { canary, track } = entry;
    const found = bySeriesKey.get(
      seriesKey(
        grouped.clusterLabel === undefined ? '' : (canary.cluster ?? ''),
        canary.namespace,
        shape.identity(canary),
        track,
      ),
    );
    if (found !== undefined && found.length > 1) {
      observations.set(entry.key, {
        status: ObservationStatus.ProviderError,
        failure: {
          reason: ProviderFailureReason.BadResponse,
          message: `${found.length} series for ${canary.namespace}/${canary.target} (${track})`,
        },
      });
    } else {
      observations.set(entry.key, seriesObservation(found?.[0]));
    }
  }
  return observations;
}

/**
 * Splits a grouped histogram result into one histogram per (canary, track), keyed by `groupKey`:
 * the series of that key, one per `le` (× `leScale` → ms; `+Inf` last), each its last value
 * rounded to whole requests, made cumulative over `le` (a running maximum: `increase()`
 * extrapolates each bucket on its own, so neighbours can be a request apart). No series, or
 * only NaN values, is `no-data`; a bad `le`, the same `le` twice or no `+Inf` bucket is a
 * `bad-response` for that key. A failed result fails every entry alike.
 */
export function splitHistogramResult(
  grouped: GroupedQuery,
  result: ProviderResult,
): Map<string, Observation<HistogramBucket[]>> {
  const observations = new Map<string, Observation<HistogramBucket[]>>();
  if (result.status === ProviderResultStatus.Failed) {
    const failure = toProviderFailure(result);
    for (const entry of grouped.entries) {
      observations.set(entry.key, { status: ObservationStatus.ProviderError, failure });
    }
    return observations;
  }
  const shape = ROUTER_SHAPES[grouped.router];
  const leScale = grouped.leScale ?? 1;
  const bySeriesKey = new Map<string, MetricSeries[]>();
  for (const series of result.series) {
    const key = seriesKey(
      grouped.clusterLabel === undefined ? '' : (series.labels[grouped.clusterLabel] ?? ''),
      series.labels.namespace ?? '',
      series.labels.workload ?? '',
      series.labels.track ?? '',
    );
    const list = bySeriesKey.get(key) ?? [];
    list.push(series);
    bySeriesKey.set(key, list);
  }
  for (const entry of grouped.entries) {
    const { canary, track } = entry;
    const found =
      bySeriesKey.get(
        seriesKey(
          grouped.clusterLabel === undefined ? '' : (canary.cluster ?? ''),
          canary.namespace,
          shape.identity(canary),
          track,
        ),
      ) ?? [];
    const histogram = histogramOf(found, leScale);
    observations.set(
      entry.key,
      typeof histogram === 'string'
        ? {
            status: ObservationStatus.ProviderError,
            failure: {
              reason: ProviderFailureReason.BadResponse,
              message: `histogram of ${canary.namespace}/${canary.target} (${track}): ${histogram}`,
            },
          }
        : histogram === undefined
          ? { status: ObservationStatus.NoData }
          : { status: ObservationStatus.Ok, data: histogram },
    );
  }
  return observations;
}

/** One track's bucket series → a cumulative histogram; undefined: no data; a string: why not. */
function histogramOf(
  series: readonly MetricSeries[],
  leScale: number,
): HistogramBucket[] | undefined | string {
  const buckets: { leMs: number; value: number }[] = [];
  for (const s of series) {
    const value = s.samples.at(-1)?.value;
    if (value === undefined || Number.isNaN(value)) continue;
    const le = s.labels.le ?? '';
    const parsed = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    if (le === '' || Number.isNaN(parsed)) return `bad le label ${JSON.stringify(le)}`;
    buckets.push({ leMs: parsed * leScale, value });
  }
  if (buckets.length === 0) return undefined;
  buckets.sort((a, b) => a.leMs - b.leMs);
  if (buckets.some((b, i) => i > 0 && b.leMs === buckets[i - 1]?.leMs)) return 'the same le twice';
  if (buckets.at(-1)?.leMs !== Number.POSITIVE_INFINITY) return 'no +Inf bucket';
  let running = 0;
  return buckets.map((b) => {
    running = Math.max(running, Math.max(0, Math.round(b.value)));
    return { leMs: b.leMs, count: running };
  });
}

/**
 * A canary's and its primary's histograms from `splitHistogramResult`, on the boundaries they
 * share (a coarser histogram is still exact at each shared `le`), so that the judge can compare
 * them. An `Error` on either side is the answer's; no data on either side is `no-data`.
 */
export function canaryHistograms(
  split: ReadonlyMap<string, Observation<HistogramBucket[]>>,
  canary: CanaryRef,
): Observation<HistogramSnapshot> {
  const own = split.get(groupKey(canary, Track.Canary)) ?? { status: ObservationStatus.NoData };
  const primary = split.get(groupKey(canary, Track.Primary)) ?? {
    status: ObservationStatus.NoData,
  };
  if (own.status === ObservationStatus.ProviderError) return own;
  if (primary.status === ObservationStatus.ProviderError) return primary;
  if (own.status !== ObservationStatus.Ok || primary.status !== ObservationStatus.Ok) {
    return { status: ObservationStatus.NoData };
  }
  return { status: ObservationStatus.Ok, data: sharedBoundaries(own.data, primary.data) };
}

/** Both histograms restricted to the `le` boundaries every one of them has (`+Inf` always). */
export function sharedBoundaries(
  canary: readonly HistogramBucket[],
  primary: readonly HistogramBucket[],
): HistogramSnapshot {
  const inPrimary = new Set(primary.map((b) => b.leMs));
  const shared = new Set(canary.map((b) => b.leMs).filter((le) => inPrimary.has(le)));
  return {
    canary: canary.filter((b) => shared.has(b.leMs)),
    primary: primary.filter((b) => shared.has(b.leMs)),
  };
}

function seriesKey(cluster: string, namespace: string, workload: string, track: string): string {
  return JSON.stringify([cluster, namespace, workload, track]);
}

function labelReplace(
  expr: string,
  destination: string,
  replacement: string,
  source: string,
  regex: string,
): string {
  return `label_replace(${expr}, "${destination}", "${replacement}", "${source}", "${escapePromqlString(regex)}")`;
}

/** `a|b|c` of exact names, escaped for a regex inside a PromQL string literal. */
function alternation(values: readonly string[]): string {
  return escapePromqlString(values.map(escapeRegex).join('|'));
}

function withPrimaries(names: readonly string[]): string[] {
  return names.flatMap((name) => [name, `${name}-primary`]);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function scaled(scale: number): string {
  return scale === 1 ? '' : ` * ${scale}`;
}
