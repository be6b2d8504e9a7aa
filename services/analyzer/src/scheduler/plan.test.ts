import { CheckKind } from '@aviary/judge';
import { describe, expect, it } from 'vitest';
import { Priority } from '../budget/index.ts';
import { BuiltinMetric, MetricRouter } from '../metrics/builtin.ts';
import { type ActiveLatencyCheck, histogramSubCheckId, latencySubCheck } from './latency.ts';
import { type ActiveCheck, MetricSource, type ProviderPlanning, planQueries } from './plan.ts';

const T = Date.UTC(2026, 10, 22, 10, 0, 45);
const MINUTE = 60_000;
const PROM: ProviderPlanning = { id: 'prom', kind: 'prometheus' };
const DD: ProviderPlanning = { id: 'dd', kind: 'datadog' };
const SCOPE = 'kube_namespace:{{ namespace }},kube_deployment:{{ target }}';
const SUCCESS_RATE = `100 - sum:trace.http.request.errors{env:prod,${SCOPE}}.as_count() / sum:trace.http.request.hits{env:prod,${SCOPE}}.as_count() * 100`;

function check(i: number, overrides: Partial<ActiveCheck> = {}): ActiveCheck {
  return {
    id: `c${i}`,
    cluster: 'eu-1',
    namespace: 'shop',
    workload: `app-${i}`,
    providerId: 'prom',
    metric: {
      source: MetricSource.Builtin,
      router: MetricRouter.Istio,
      metric: BuiltinMetric.RequestSuccessRate,
    },
    intervalMs: MINUTE,
    check: { kind: CheckKind.ValueThreshold, thresholdRange: { min: 99 } },
    priority: Priority.Routine,
    ...overrides,
  };
}

const many = (n: number, overrides: (i: number) => Partial<ActiveCheck> = () => ({})) =>
  Array.from({ length: n }, (_, i) => check(i, overrides(i)));

describe('planning', () => {
  it('folds every canary of a built-in metric and window into one grouped query', () => {
    const checks = [
      ...many(50),
      ...many(50, (i) => ({
        id: `d${i}`,
        metric: {
          source: MetricSource.Builtin,
          router: MetricRouter.Istio,
          metric: BuiltinMetric.RequestDuration,
        },
      })),
    ];
    const plan = planQueries(checks, { nowMs: T, providers: [PROM] });
    expect(plan.queries).toHaveLength(2);
    expect(plan.requests).toHaveLength(2);
    expect(plan.rejected).toEqual([]);
    for (const query of plan.queries) {
      expect(query.answers).toHaveLength(50);
      expect(query.query).toMatch(/sum by \(namespace, workload, track/);
      expect(query.query).toContain('app-49');
    }
  });

  it('folds Datadog templates into one `by {…}` query and packs queries per request', () => {
    const templates = Array.from({ length: 45 }, (_, t) => ({
      source: MetricSource.Template,
      templateId: `shop/t${t}`,
      query: `sum:metric.t${t}{${SCOPE}}.as_count()`,
    }));
    const checks = templates.flatMap((metric, t) =>
      many(10, (i) => ({ id: `t${t}-${i}`, providerId: 'dd', metric })),
    );
    const plan = planQueries(checks, {
      nowMs: T,
      providers: [{ ...DD, maxQueriesPerRequest: 20 }],
    });
    expect(plan.queries).toHaveLength(45);
    expect(plan.queries[0]?.query).toMatch(
      /^sum:metric\.t\d+\{\*\} by \{kube_deployment,kube_namespace\}\.as_count\(\)$/,
    );
    expect(plan.requests.map((r) => r.queries.length)).toEqual([20, 20, 5]);
    expect(plan.queries[0]?.answers[3]?.labels).toEqual({
      kube_deployment: 'app-3',
      kube_namespace: 'shop',
    });
  });

  it('keeps shared filters and counts formulas by their metric queries when packing', () => {
    const metric = { source: MetricSource.Template, templateId: 'shop/sr', query: SUCCESS_RATE };
    const plan = planQueries(
      many(100, () => ({ providerId: 'dd', metric })),
      { nowMs: T, providers: [{ ...DD, maxQueriesPerRequest: 2 }] },
    );
    expect(plan.queries).toHaveLength(1);
    expect(plan.queries[0]?.query).toBe(
      '100 - sum:trace.http.request.errors{env:prod} by {kube_deployment,kube_namespace}.as_count() / sum:trace.http.request.hits{env:prod} by {kube_deployment,kube_namespace}.as_count() * 100',
    );
    expect(plan.requests).toHaveLength(1);
  });

  it('aligns windows to the interval and ends them before the ingestion delay', () => {
    const at = (provider: ProviderPlanning, intervalMs = MINUTE) =>
      planQueries([check(0, { providerId: provider.id, intervalMs, ...dd(provider) })], {
        nowMs: T,
        providers: [provider],
      }).queries[0]?.window;
    const minute = (m: number) => Date.UTC(2026, 10, 22, 9, m);
    // 10:00:45 − 30 s → the minute ending 10:00:00.
    expect(at(PROM)).toEqual({ startMs: minute(59), endMs: minute(60) });
    // 10:00:45 − 2 min → the minute ending 09:58.
    expect(at(DD)).toEqual({ startMs: minute(57), endMs: minute(58) });
    expect(at({ ...DD, ingestionDelayMs: 5 * MINUTE })).toEqual({
      startMs: minute(54),
      endMs: minute(55),
    });
    expect(at(PROM, 5 * MINUTE)).toEqual({ startMs: minute(55), endMs: minute(60) });
    // The same round a few seconds later plans the same window: shareable and cacheable.
    const later = planQueries([check(0)], { nowMs: T + 10_000, providers: [PROM] });
    expect(later.queries[0]?.window).toEqual(at(PROM));
  });

  it('ends a check’s window before its own ingestion delay when its template sets one', () => {
    const minute = (m: number) => Date.UTC(2026, 10, 22, 9, m);
    const checks = [
      check(0, { providerId: 'dd', ...dd(DD) }),
      check(1, { providerId: 'dd', ...dd(DD) }),
      // A metric 15 minutes late (e.g. crawler metrics): its own window, not the provider's.
      check(2, { providerId: 'dd', ...dd(DD), ingestionDelayMs: 15 * MINUTE }),
    ];
    const plan = planQueries(checks, { nowMs: T, providers: [DD] });
    const windowOf = (id: string) =>
      plan.queries.find((q) => q.answers.some((a) => a.checkId === id));
    expect(windowOf('c0')?.window).toEqual({ startMs: minute(57), endMs: minute(58) });
    expect(windowOf('c0')?.ingestionDelayMs).toBe(2 * MINUTE);
    expect(windowOf('c0')?.answers).toHaveLength(2);
    // 10:00:45 − 15 min → the minute ending 09:45.
    expect(windowOf('c2')?.window).toEqual({ startMs: minute(44), endMs: minute(45) });
    expect(windowOf('c2')?.ingestionDelayMs).toBe(15 * MINUTE);
    // A delay the provider cannot have is a configuration error of that check only.
    const bad = planQueries([check(3, { ingestionDelayMs: -1 })], { nowMs: T, providers: [PROM] });
    expect(bad.rejected.map((r) => r.checkId)).toEqual(['c3']);
  });

  it('gives a fold the highest priority of its checks and sends rollback first', () => {
    const rate = many(20);
    const duration = many(20, (i) => ({
      id: `d${i}`,
      priority: i === 7 ? Priority.Rollback : Priority.Routine,
      metric: {
        source: MetricSource.Builtin,
        router: MetricRouter.Istio,
        metric: BuiltinMetric.RequestDuration,
      },
    }));
    const plan = planQueries([...rate, ...duration], { nowMs: T, providers: [PROM] });
    expect(plan.requests.map((r) => r.priority)).toEqual([Priority.Rollback, Priority.Routine]);
    expect(plan.requests[0]?.queries[0]?.answers).toHaveLength(20);
  });

  it('widens routine windows under budget pressure, never rollback ones', () => {
    const checks = [check(0), check(1, { priority: Priority.Rollback })];
    const plan = planQueries(checks, {
      nowMs: T,
      providers: [PROM],
      routineStepFactor: { prom: 5 },
    });
    const windows = plan.queries.map((q) => [q.priority, q.window.endMs - q.window.startMs]);
    expect(windows).toEqual([
      [Priority.Rollback, MINUTE],
      [Priority.Routine, 5 * MINUTE],
    ]);
    expect(plan.queries[1]?.query).toContain('[5m]');
  });

  it('queries custom Prometheus templates per canary, sharing identical renders', () => {
    const metric = {
      source: MetricSource.Template,
      templateId: 'shop/errors',
      query:
        'sum(rate(http_errors_total{namespace="{{ namespace }}",app="{{ target }}"}[{{ interval }}]))',
    };
    const checks = [
      ...many(5, () => ({ metric })),
      check(0, {
        id: 'again',
        metric,
        check: { kind: CheckKind.ValueThreshold, thresholdRange: { max: 2 } },
      }),
    ];
    const plan = planQueries(checks, { nowMs: T, providers: [PROM] });
    expect(plan.queries).toHaveLength(5);
    expect(plan.queries.find((q) => q.query.includes('"app-0"'))?.answers).toHaveLength(2);
  });

  it('queries a Datadog template per canary when its scope is not a plain tag filter', () => {
    const metric = {
      source: MetricSource.Template,
      templateId: 'shop/odd',
      query: 'sum:requests{service:{{ target }}-api}.as_count()',
    };
    const plan = planQueries(
      many(3, () => ({ providerId: 'dd', metric })),
      {
        nowMs: T,
        providers: [DD],
      },
    );
    expect(plan.queries.map((q) => q.query)).toEqual([
      'sum:requests{service:app-0-api}.as_count()',
      'sum:requests{service:app-1-api}.as_count()',
      'sum:requests{service:app-2-api}.as_count()',
    ]);
    expect(plan.queries.every((q) => q.split.kind === 'single')).toBe(true);
  });

  it('rejects checks that would inject query syntax or name no provider', () => {
    const metric = { source: MetricSource.Template, templateId: 'shop/sr', query: SUCCESS_RATE };
    const plan = planQueries(
      [
        check(0, { workload: 'x"} or vector(1) #' }),
        check(1, { providerId: 'dd', metric, namespace: 'shop},env:*' }),
        check(2, { providerId: 'nowhere' }),
        check(3, {
          providerId: 'dd',
          metric: { ...metric, query: `sum:hits{env:{{ variables.env }},${SCOPE}}` },
          variables: { env: 'prod} by {host' },
        }),
      ],
      { nowMs: T, providers: [PROM, DD] },
    );
    expect(plan.rejected.map((r) => r.checkId)).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(plan.rejected[1]?.message).toContain('namespace');
    expect(plan.queries).toEqual([]);
  });
});

function dd(provider: ProviderPlanning): Partial<ActiveCheck> {
  return provider.kind === 'datadog'
    ? {
        metric: {
          source: MetricSource.Template,
          templateId: 'shop/sr',
          query: `sum:hits{${SCOPE}}.as_count()`,
        },
      }
    : {};
}

describe('latency comparisons', () => {
  const latency = (i: number, overrides: Partial<ActiveLatencyCheck> = {}): ActiveLatencyCheck => ({
    id: `l${i}`,
    cluster: 'eu-1',
    namespace: 'shop',
    workload: `app-${i}`,
    providerId: 'prom',
    metric: { router: MetricRouter.Istio },
    intervalMs: MINUTE,
    check: { kind: CheckKind.LatencyComparison, sloMs: 250 },
    priority: Priority.Routine,
    ...overrides,
  });

  it('folds every canary into one grouped histogram query, apart from the duration values', () => {
    const checks = [
      ...Array.from({ length: 30 }, (_, i) => latencySubCheck(latency(i))),
      // The same router's P99 threshold checks stay their own (value) query.
      ...many(30, () => ({
        metric: {
          source: MetricSource.Builtin,
          router: MetricRouter.Istio,
          metric: BuiltinMetric.RequestDuration,
        },
      })),
    ];
    const plan = planQueries(checks, { nowMs: T, providers: [PROM] });
    expect(plan.rejected).toEqual([]);
    expect(plan.queries).toHaveLength(2);
    const histogram = plan.queries.find((q) => q.split.kind === 'histogram');
    const value = plan.queries.find((q) => q.split.kind === 'builtin');
    expect(histogram?.templateId).toBe('builtin:istio/request-duration#histogram');
    expect(histogram?.answers).toHaveLength(30);
    expect(histogram?.answers[0]?.checkId).toBe(histogramSubCheckId('l0'));
    expect(histogram?.query).toMatch(
      /^sum by \(namespace, workload, track, le\) \(.*increase\(istio_request_duration_milliseconds_bucket\{/,
    );
    expect(histogram?.query).toContain('app-29-primary');
    // 10:00:45 less the 30 s delay, aligned down to the minute.
    expect(histogram?.window).toEqual({ startMs: T - 45_000 - MINUTE, endMs: T - 45_000 });
    expect(value?.query).toContain('histogram_quantile(0.99');
  });

  it('rejects a canary with an injecting name without spoiling the fold', () => {
    const plan = planQueries(
      [latencySubCheck(latency(1)), latencySubCheck(latency(2, { workload: 'x"}or vector(1)' }))],
      { nowMs: T, providers: [PROM] },
    );
    expect(plan.queries).toHaveLength(1);
    expect(plan.queries[0]?.answers.map((a) => a.checkId)).toEqual([histogramSubCheckId('l1')]);
    expect(plan.rejected.map((r) => r.checkId)).toEqual([histogramSubCheckId('l2')]);
  });

  it('needs Prometheus: a Datadog provider cannot give the built-in histogram', () => {
    const plan = planQueries([latencySubCheck(latency(1, { providerId: 'dd' }))], {
      nowMs: T,
      providers: [PROM, DD],
    });
    expect(plan.queries).toEqual([]);
    expect(plan.rejected[0]?.message).toContain('Prometheus only');
  });
});
