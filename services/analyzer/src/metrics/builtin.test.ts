import { ValidationError } from '@aviary/core';
import { ObservationStatus } from '@aviary/judge';
import { describe, expect, it } from 'vitest';
import {
  BuiltinMetric,
  builtinQuery,
  type CanaryRef,
  canaryHistograms,
  FLAGGER_BUILTIN_QUERIES,
  GroupedForm,
  groupedBuiltinQuery,
  groupKey,
  MetricRouter,
  splitGroupedResult,
  splitHistogramResult,
  Track,
} from './builtin.ts';
import { type MetricSeries, type ProviderResult, ProviderResultStatus } from './provider.ts';

const squash = (text: string) => text.replace(/\s+/g, '');

function ok(series: MetricSeries[]): ProviderResult {
  return { status: ProviderResultStatus.Ok, series };
}

function series(labels: Record<string, string>, value: number): MetricSeries {
  return { labels, samples: [{ tMs: 1_700_000_000_000, value }] };
}

describe('builtinQuery', () => {
  it('renders Flagger’s Istio success rate verbatim', () => {
    const { query, valueScale } = builtinQuery(
      MetricRouter.Istio,
      BuiltinMetric.RequestSuccessRate,
      {
        namespace: 'shop',
        target: 'cart',
        interval: '1m',
      },
    );
    expect(valueScale).toBe(1);
    expect(squash(query)).toBe(
      squash(`sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",
        destination_workload=~"cart",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{
        reporter="destination",destination_workload_namespace="shop",destination_workload=~"cart"}[1m])) * 100`),
    );
  });

  it('renders every router and metric without leftover actions', () => {
    for (const router of Object.values(MetricRouter)) {
      for (const metric of Object.values(BuiltinMetric)) {
        const { query } = builtinQuery(router, metric, {
          namespace: 'shop',
          target: 'cart',
          interval: '30s',
        });
        expect(query).not.toContain('{{');
        expect(query).toContain('[30s]');
        expect(query).toContain('shop');
        expect(FLAGGER_BUILTIN_QUERIES[router][metric]).toContain('{{ interval }}');
      }
    }
  });

  it('uses the ingress for NGINX, the service for Contour, and seconds→ms for the HTTP observer', () => {
    const model = {
      namespace: 'shop',
      target: 'cart',
      ingress: 'web',
      service: 'svc',
      interval: '1m',
    };
    expect(builtinQuery('nginx', 'request-success-rate', model).query).toContain('ingress="web"');
    expect(builtinQuery('nginx', 'request-success-rate', model).query).toContain('canary!=""');
    expect(builtinQuery('contour', 'request-duration', model).query).toContain('shop_svc-canary_');
    expect(builtinQuery('gatewayapi', 'request-duration', model).valueScale).toBe(1000);
  });

  it('rejects an injecting workload name', () => {
    expect(() =>
      builtinQuery('istio', 'request-success-rate', {
        namespace: 'shop',
        target: 'foo"} or vector(1) #',
        interval: '1m',
      }),
    ).toThrow(ValidationError);
  });
});

const canaries: CanaryRef[] = [
  { namespace: 'shop', target: 'cart' },
  { namespace: 'team-b', target: 'api' },
];

describe('groupedBuiltinQuery', () => {
  it('folds every canary and its primary into one sum by (namespace, workload, track)', () => {
    const grouped = groupedBuiltinQuery({
      router: 'istio',
      metric: 'request-success-rate',
      interval: '1m',
      canaries,
    });
    expect(grouped.query).toContain('sum by (namespace, workload, track)');
    expect(grouped.query).toContain('destination_workload=~"api|api-primary|cart|cart-primary"');
    expect(grouped.query).toContain('destination_workload_namespace=~"shop|team-b"');
    expect(grouped.query).toContain('response_code!~"5.*"');
    expect(grouped.entries.map((e) => [e.canary.target, e.track])).toEqual([
      ['cart', 'canary'],
      ['cart', 'primary'],
      ['api', 'canary'],
      ['api', 'primary'],
    ]);
  });

  it('adds the cluster label when the backend sees many clusters', () => {
    const grouped = groupedBuiltinQuery({
      router: 'linkerd',
      metric: 'request-duration',
      interval: '1m',
      clusterLabel: 'cluster',
      canaries: [{ cluster: 'eu-1', namespace: 'shop', target: 'cart' }],
    });
    expect(grouped.query).toMatch(
      /^histogram_quantile\(0\.99, sum by \(cluster, namespace, workload, track, le\)/,
    );
    expect(grouped.query).toContain('cluster=~"eu-1"');
  });

  it('escapes names for the regex and the string literal', () => {
    const grouped = groupedBuiltinQuery({
      router: 'istio',
      metric: 'request-duration',
      interval: '1m',
      canaries: [{ namespace: 'shop', target: 'cart.v2' }],
    });
    expect(grouped.query).toContain('destination_workload=~"cart\\\\.v2|cart\\\\.v2-primary"');
  });

  it('rejects invalid names, intervals, cluster labels and empty lists', () => {
    const base = { router: 'istio', metric: 'request-success-rate', interval: '1m' } as const;
    expect(() => groupedBuiltinQuery({ ...base, canaries: [] })).toThrow(/canaries/);
    expect(() =>
      groupedBuiltinQuery({
        ...base,
        canaries: [{ namespace: 'shop', target: 'a"} or vector(1) #' }],
      }),
    ).toThrow(/canaries\[0\]\.target/);
    expect(() => groupedBuiltinQuery({ ...base, interval: '1m]', canaries })).toThrow(/interval/);
    expect(() => groupedBuiltinQuery({ ...base, clusterLabel: 'a-b', canaries })).toThrow(
      /clusterLabel/,
    );
    expect(() => groupedBuiltinQuery({ ...base, clusterLabel: 'cluster', canaries })).toThrow(
      /cluster: required/,
    );
  });
});

describe('splitGroupedResult', () => {
  const grouped = groupedBuiltinQuery({
    router: 'istio',
    metric: 'request-success-rate',
    interval: '1m',
    canaries,
  });
  const [cart, api] = canaries as [CanaryRef, CanaryRef];

  it('maps each series to its canary and track; missing or NaN is no-data', () => {
    const result = ok([
      series({ namespace: 'shop', workload: 'cart', track: 'canary' }, 90),
      series({ namespace: 'shop', workload: 'cart', track: 'primary' }, 99.5),
      series({ namespace: 'team-b', workload: 'api', track: 'canary' }, Number.NaN),
      // Cross product of the selector: not asked for, ignored.
      series({ namespace: 'shop', workload: 'api', track: 'canary' }, 1),
    ]);
    const split = splitGroupedResult(grouped, result);
    expect(split.size).toBe(4);
    expect(split.get(groupKey(cart, Track.Canary))).toEqual({ status: 'ok', data: 90 });
    expect(split.get(groupKey(cart, Track.Primary))).toEqual({ status: 'ok', data: 99.5 });
    expect(split.get(groupKey(api, Track.Canary))).toEqual({ status: ObservationStatus.NoData });
    expect(split.get(groupKey(api, Track.Primary))).toEqual({ status: ObservationStatus.NoData });
  });

  it('fails every entry alike on a provider failure, keeping retryAfterMs', () => {
    const split = splitGroupedResult(grouped, {
      status: ProviderResultStatus.Failed,
      reason: 'throttled',
      message: 'HTTP 429',
      retryAfterMs: 5000,
      httpStatus: 429,
    });
    expect([...split.values()]).toEqual(
      Array(4).fill({
        status: 'provider-error',
        failure: { reason: 'throttled', message: 'HTTP 429', retryAfterMs: 5000 },
      }),
    );
  });

  it('reports duplicate series for one key as a bad response', () => {
    const labels = { namespace: 'shop', workload: 'cart', track: 'canary' };
    const split = splitGroupedResult(grouped, ok([series(labels, 1), series(labels, 2)]));
    expect(split.get(groupKey(cart, Track.Canary))).toMatchObject({
      status: 'provider-error',
      failure: { reason: 'bad-response' },
    });
  });

  it('keys NGINX canaries by their ingress and multi-cluster series by cluster', () => {
    const nginx = groupedBuiltinQuery({
      router: 'nginx',
      metric: 'request-duration',
      interval: '1m',
      clusterLabel: 'cluster',
      canaries: [
        { cluster: 'eu', namespace: 'shop', target: 'cart', ingress: 'web' },
        { cluster: 'us', namespace: 'shop', target: 'cart', ingress: 'web' },
      ],
    });
    const split = splitGroupedResult(
      nginx,
      ok([
        series({ cluster: 'eu', namespace: 'shop', workload: 'web', track: 'canary' }, 120),
        series({ cluster: 'us', namespace: 'shop', workload: 'web', track: 'canary' }, 80),
      ]),
    );
    const eu = { cluster: 'eu', namespace: 'shop', target: 'cart', ingress: 'web' };
    const us = { ...eu, cluster: 'us' };
    expect(split.get(groupKey(eu, 'canary'))).toEqual({ status: 'ok', data: 120 });
    expect(split.get(groupKey(us, 'canary'))).toEqual({ status: 'ok', data: 80 });
    expect(split.get(groupKey(us, 'primary'))).toEqual({ status: 'no-data' });
  });
});

describe('grouped latency histograms', () => {
  const canaries: CanaryRef[] = [
    { namespace: 'shop', target: 'cart' },
    { namespace: 'team-b', target: 'api' },
  ];
  const bucket = (workload: string, track: string, le: string, value: number, ns = 'shop') =>
    series({ namespace: ns, workload, track, le }, value);

  it('sums increase() of each router’s bucket series by (namespace, workload, track, le)', () => {
    const expected: Record<MetricRouter, [string, number]> = {
      istio: ['istio_request_duration_milliseconds_bucket', 1],
      linkerd: ['response_latency_ms_bucket', 1],
      nginx: ['nginx_ingress_controller_request_duration_seconds_bucket', 1000],
      contour: ['envoy_cluster_upstream_rq_time_bucket', 1],
      gatewayapi: ['http_request_duration_seconds_bucket', 1000],
    };
    for (const router of Object.values(MetricRouter)) {
      const grouped = groupedBuiltinQuery({
        router,
        metric: BuiltinMetric.RequestDuration,
        form: GroupedForm.Histogram,
        interval: '1m',
        canaries,
      });
      const [metric, leScale] = expected[router];
      expect(grouped.form).toBe(GroupedForm.Histogram);
      expect(grouped.leScale).toBe(leScale);
      expect(grouped.query).toMatch(/^sum by \(namespace, workload, track, le\) \(/);
      expect(grouped.query).toContain(`increase(${metric}{`);
      expect(grouped.query).not.toContain('histogram_quantile');
      expect(grouped.entries).toHaveLength(4);
    }
    const withCluster = groupedBuiltinQuery({
      router: MetricRouter.Istio,
      metric: BuiltinMetric.RequestDuration,
      form: GroupedForm.Histogram,
      interval: '5m',
      canaries: canaries.map((c) => ({ ...c, cluster: 'eu-1' })),
      clusterLabel: 'cluster',
    });
    expect(withCluster.query).toMatch(/^sum by \(cluster, namespace, workload, track, le\)/);
    expect(withCluster.query).toContain('[5m]');
  });

  it('exists for request-duration only', () => {
    expect(() =>
      groupedBuiltinQuery({
        router: MetricRouter.Istio,
        metric: BuiltinMetric.RequestSuccessRate,
        form: GroupedForm.Histogram,
        interval: '1m',
        canaries,
      }),
    ).toThrow(ValidationError);
  });

  it('splits into per-canary cumulative histograms in ms, on the boundaries both tracks share', () => {
    const grouped = groupedBuiltinQuery({
      router: MetricRouter.GatewayApi,
      metric: BuiltinMetric.RequestDuration,
      form: GroupedForm.Histogram,
      interval: '1m',
      canaries,
    });
    const result = ok([
      // Unsorted, extrapolated (fractional) and a request apart between neighbours.
      bucket('cart', 'canary', '+Inf', 100.4),
      bucket('cart', 'canary', '0.1', 60.2),
      bucket('cart', 'canary', '0.25', 59.6),
      bucket('cart', 'canary', '0.5', 90),
      bucket('cart', 'primary', '0.1', 190),
      bucket('cart', 'primary', '0.5', 198),
      bucket('cart', 'primary', '+Inf', 200),
      // api: the canary has no series at all (no traffic yet).
      bucket('api', 'primary', '0.1', 10, 'team-b'),
      bucket('api', 'primary', '+Inf', 10, 'team-b'),
      // Not asked for: ignored.
      bucket('other', 'canary', '+Inf', 5),
    ]);
    const split = splitHistogramResult(grouped, result);
    const [cart, api] = canaries as [CanaryRef, CanaryRef];
    expect(split.get(groupKey(cart, Track.Canary))).toEqual({
      status: ObservationStatus.Ok,
      data: [
        { leMs: 100, count: 60 },
        { leMs: 250, count: 60 },
        { leMs: 500, count: 90 },
        { leMs: Number.POSITIVE_INFINITY, count: 100 },
      ],
    });
    expect(canaryHistograms(split, cart)).toEqual({
      status: ObservationStatus.Ok,
      data: {
        canary: [
          { leMs: 100, count: 60 },
          { leMs: 500, count: 90 },
          { leMs: Number.POSITIVE_INFINITY, count: 100 },
        ],
        primary: [
          { leMs: 100, count: 190 },
          { leMs: 500, count: 198 },
          { leMs: Number.POSITIVE_INFINITY, count: 200 },
        ],
      },
    });
    expect(canaryHistograms(split, api)).toEqual({ status: ObservationStatus.NoData });
  });

  it('answers a bad response for a broken histogram and fails every entry on a failed query', () => {
    const grouped = groupedBuiltinQuery({
      router: MetricRouter.Istio,
      metric: BuiltinMetric.RequestDuration,
      form: GroupedForm.Histogram,
      interval: '1m',
      canaries,
    });
    const [cart, api] = canaries as [CanaryRef, CanaryRef];
    const split = splitHistogramResult(
      grouped,
      ok([
        bucket('cart', 'canary', '100', 5),
        bucket('cart', 'primary', '100', 5),
        bucket('cart', 'primary', '+Inf', 6),
        bucket('api', 'canary', 'fast', 1, 'team-b'),
        bucket('api', 'canary', '+Inf', 1, 'team-b'),
      ]),
    );
    const noInf = canaryHistograms(split, cart);
    expect(noInf.status).toBe(ObservationStatus.ProviderError);
    expect(JSON.stringify(noInf)).toContain('no +Inf bucket');
    expect(JSON.stringify(canaryHistograms(split, api))).toContain('bad le label');

    const failed = splitHistogramResult(grouped, {
      status: ProviderResultStatus.Failed,
      reason: 'throttled',
      message: 'too many outstanding requests',
      retryAfterMs: 3000,
    });
    expect(canaryHistograms(failed, api)).toMatchObject({
      status: ObservationStatus.ProviderError,
      failure: { reason: 'throttled', retryAfterMs: 3000 },
    });
  });
});
