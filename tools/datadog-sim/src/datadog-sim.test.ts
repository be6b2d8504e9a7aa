import { client, v1, v2 } from '@datadog/datadog-api-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type DatadogSim, startDatadogSim } from './datadog-sim.ts';

/**
 * The simulator through the official client, configured as the analyzer will be: retries off, a
 * custom fetch that reads the rate-limit headers, keys and base server from configuration.
 */
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0); // on the hour: a fresh calendar-aligned window
let sim: DatadogSim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

interface Seen {
  status: number;
  remaining: string | null;
  reset: string | null;
  limit: string | null;
  name: string | null;
  period: string | null;
}

function configure(url: string, keys = { apiKeyAuth: 'dev-api-key', appKeyAuth: 'dev-app-key' }) {
  const seen: Seen[] = [];
  const configuration = client.createConfiguration({
    baseServer: new client.BaseServerConfiguration(url, {}),
    authMethods: keys,
    enableRetry: false,
    fetch: async (input: string, init: RequestInit) => {
      const response = await fetch(input, init);
      seen.push({
        status: response.status,
        remaining: response.headers.get('x-ratelimit-remaining'),
        reset: response.headers.get('x-ratelimit-reset'),
        limit: response.headers.get('x-ratelimit-limit'),
        name: response.headers.get('x-ratelimit-name'),
        period: response.headers.get('x-ratelimit-period'),
      });
      return response;
    },
  });
  return { v1: new v1.MetricsApi(configuration), v2: new v2.MetricsApi(configuration), seen };
}

/** Ten minutes of per-10s request counts for one deployment and response class. */
function feed(
  s: DatadogSim,
  deployment: string,
  cluster: string,
  hitsPer10s: number,
  errorsPer10s: number,
): void {
  const tags = { kube_cluster_name: cluster, kube_namespace: 'shop', kube_deployment: deployment };
  const points = (value: number) =>
    Array.from({ length: 60 }, (_, i) => ({ tMs: T0 - 600_000 + i * 10_000, value }));
  s.series.add('trace.http.request.hits', tags, points(hitsPer10s));
  s.series.add('trace.http.request.errors', tags, points(errorsPer10s));
}

describe('Datadog simulator, through @datadog/datadog-api-client', () => {
  it('answers a grouped v2 timeseries query with formulas: one series per canary', async () => {
    let now = T0;
    sim = await startDatadogSim({ now: () => now });
    feed(sim, 'checkout', 'eu-1', 100, 1);
    feed(sim, 'checkout-primary', 'eu-1', 900, 9);
    feed(sim, 'cart', 'eu-1', 50, 5);
    const api = configure(sim.url);
    const response = await api.v2.queryTimeseriesData({
      body: {
        data: {
          type: 'timeseries_request',
          attributes: {
            from: T0 - 300_000,
            to: T0,
            interval: 60_000,
            queries: [
              {
                dataSource: 'metrics',
                name: 'err',
                query:
                  'sum:trace.http.request.errors{kube_namespace:shop} by {kube_deployment}.as_count()',
              },
              {
                dataSource: 'metrics',
                name: 'tot',
                query:
                  'sum:trace.http.request.hits{kube_namespace:shop} by {kube_deployment}.as_count()',
              },
            ],
            formulas: [{ formula: '100 - err / tot * 100' }],
          },
        },
      },
    });
    const attributes = response.data?.attributes;
    expect(attributes?.times).toEqual([
      T0 - 300_000,
      T0 - 240_000,
      T0 - 180_000,
      T0 - 120_000,
      T0 - 60_000,
    ]);
    const byDeployment = Object.fromEntries(
      (attributes?.series ?? []).map((s, i) => [s.groupTags?.join(), attributes?.values?.[i]?.[0]]),
    );
    expect(byDeployment).toEqual({
      'kube_deployment:checkout': 99,
      'kube_deployment:checkout-primary': 99,
      'kube_deployment:cart': 90,
    });
    expect(api.seen).toEqual([
      {
        status: 200,
        remaining: '1599',
        reset: '3600',
        limit: '1600',
        name: 'query_timeseries',
        period: '3600',
      },
    ]);
    now += 1000;
  });

  it('answers several comma-separated v1 queries with arithmetic, each series with its query index', async () => {
    sim = await startDatadogSim({ now: () => T0 });
    feed(sim, 'checkout', 'eu-1', 100, 2);
    feed(sim, 'checkout', 'us-1', 200, 0);
    const api = configure(sim.url);
    const response = await api.v1.queryMetrics({
      from: (T0 - 120_000) / 1000,
      to: T0 / 1000,
      query:
        'sum:trace.http.request.errors{kube_deployment:checkout} by {kube_cluster_name}.as_count() / sum:trace.http.request.hits{kube_deployment:checkout} by {kube_cluster_name}.as_count() * 100,' +
        'sum:trace.http.request.hits{*}.as_count()',
    });
    expect(response.status).toBe('ok');
    const series = response.series ?? [];
    expect(series.map((s) => [s.queryIndex, s.tagSet, s.pointlist?.[0]?.[1]])).toEqual([
      [0, ['kube_cluster_name:eu-1'], 2],
      [0, ['kube_cluster_name:us-1'], 0],
      [1, [], 300],
    ]);
    expect(series[0]?.interval).toBe(10_000);
    expect(series[0]?.pointlist).toHaveLength(12);
  });

  it('enforces a calendar-aligned per-organisation limit with X-RateLimit headers and 429s, and resets on the hour', async () => {
    let now = T0 + 3_599_000 - 60_000; // one minute before the window ends
    sim = await startDatadogSim({
      now: () => now,
      limits: { v1Query: { name: 'metrics_query', limit: 2, periodSeconds: 3600 } },
    });
    const api = configure(sim.url);
    const query = () =>
      api.v1.queryMetrics({ from: (now - 60_000) / 1000, to: now / 1000, query: 'sum:x{*}' });
    await query();
    await query();
    const throttled = await query().catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(client.ApiException);
    expect((throttled as client.ApiException<unknown>).code).toBe(429);
    expect(api.seen.map((s) => [s.status, s.remaining, s.reset, s.name])).toEqual([
      [200, '1', '61', 'metrics_query'],
      [200, '0', '61', 'metrics_query'],
      [429, '0', '61', 'metrics_query'],
    ]);
    now += 61_000; // the next calendar hour
    await query();
    expect(api.seen.at(-1)).toMatchObject({ status: 200, remaining: '1', reset: '3600' });
    expect(sim.requestCount).toBe(4);

    // Another organisation has a budget of its own.
    await sim.close();
    sim = await startDatadogSim({
      now: () => now,
      organisations: [
        { name: 'a', apiKey: 'ka', applicationKeys: ['aa'] },
        { name: 'b', apiKey: 'kb', applicationKeys: ['bb'] },
      ],
      limits: { v1Query: { name: 'metrics_query', limit: 1, periodSeconds: 3600 } },
    });
    const a = configure(sim.url, { apiKeyAuth: 'ka', appKeyAuth: 'aa' });
    const b = configure(sim.url, { apiKeyAuth: 'kb', appKeyAuth: 'bb' });
    await a.v1.queryMetrics({ from: 0, to: 60, query: 'sum:x{*}' });
    await b.v1.queryMetrics({ from: 0, to: 60, query: 'sum:x{*}' });
    await expect(a.v1.queryMetrics({ from: 0, to: 60, query: 'sum:x{*}' })).rejects.toMatchObject({
      code: 429,
    });
  });

  it('refuses unknown keys (403), bad queries (400, with Datadog’s message for v2 functions) and passes injected faults', async () => {
    sim = await startDatadogSim({ now: () => T0 });
    const wrong = configure(sim.url, { apiKeyAuth: 'dev-api-key', appKeyAuth: 'nope' });
    await expect(
      wrong.v1.queryMetrics({ from: 0, to: 60, query: 'sum:x{*}' }),
    ).rejects.toMatchObject({ code: 403 });

    const api = configure(sim.url);
    const bad = await api.v1
      .queryMetrics({ from: 0, to: 60, query: 'sum:x{env:prod' })
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 400, body: { errors: ['missing } after the scope'] } });
    const fn = await api.v2
      .queryTimeseriesData({
        body: {
          data: {
            type: 'timeseries_request',
            attributes: {
              from: 0,
              to: 60_000,
              queries: [{ dataSource: 'metrics', name: 'a', query: 'sum:x{*} / 2' }],
            },
          },
        },
      })
      .catch((e: unknown) => e);
    expect(fn).toMatchObject({
      code: 400,
      body: {
        errors: [
          'Functions are not supported in metrics data source field. Use the formulas payload.',
        ],
      },
    });

    sim.injectFault(503, 1);
    await expect(api.v1.queryMetrics({ from: 0, to: 60, query: 'sum:x{*}' })).rejects.toMatchObject(
      { code: 503 },
    );
    await expect(
      api.v1.queryMetrics({ from: 0, to: 60, query: 'sum:x{*}' }),
    ).resolves.toMatchObject({ status: 'ok' });
  });
});
