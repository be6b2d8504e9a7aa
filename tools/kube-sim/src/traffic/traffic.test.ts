import { describe, expect, it } from 'vitest';
import { TrafficAnnotation } from './behaviour.ts';
import { TrafficResources } from './cluster-view.ts';
import { createPrng } from './prng.ts';
import {
  canaryCluster,
  parseExposition,
  total,
  virtualService,
  weighted,
} from './test-fixtures.ts';
import { TrafficSimulator } from './traffic-simulator.ts';

const NS = 'default';
const APP = 'podinfo';
const NGINX = 'nginx.ingress.kubernetes.io';

function simulate(
  store: ReturnType<typeof canaryCluster>,
  rps = 1000,
  seconds = 20,
  options: { testFraction?: number; seed?: number } = {},
) {
  const sim = new TrafficSimulator('eu-1', store, {
    services: [{ namespace: NS, service: APP, rps }],
    seed: options.seed ?? 42,
    ...(options.testFraction === undefined ? {} : { testFraction: options.testFraction }),
  });
  sim.advance(seconds * 1000);
  const stats = sim.stats(NS, APP);
  if (stats === undefined) throw new Error('no stats');
  const of = (backend: string) =>
    stats.backends.get(backend) ?? { requests: 0, errors: 0, mirrored: 0 };
  return { sim, stats, of, samples: parseExposition(sim.render()) };
}

describe('prng', () => {
  it('is deterministic per seed and uniform enough', () => {
    const a = createPrng(7);
    const b = createPrng(7);
    const values = Array.from({ length: 10_000 }, () => a.next());
    expect(values.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    const mean = values.reduce((x, y) => x + y, 0) / values.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
  });
});

describe('routing: Istio VirtualService', () => {
  it('splits by route weights within tolerance', () => {
    const store = canaryCluster();
    virtualService(store, NS, APP, [weighted(APP, 80, 20)]);
    const { stats, of } = simulate(store);
    expect(stats.router).toBe('istio');
    expect(stats.requests).toBe(20_000);
    expect(of('podinfo-canary').requests / stats.requests).toBeCloseTo(0.2, 1);
    expect(Math.abs(of('podinfo-canary').requests / stats.requests - 0.2)).toBeLessThan(0.015);
    expect(of('podinfo-primary').requests + of('podinfo-canary').requests).toBe(20_000);
  });

  it('sends header- and cookie-matched requests to the canary (A/B)', () => {
    for (const match of [
      { headers: { 'x-canary': { exact: 'insider' } } },
      { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
    ]) {
      const store = canaryCluster();
      virtualService(store, NS, APP, [
        { match: [match], ...weighted(APP, 0, 100) },
        { route: [{ destination: { host: `${APP}-primary` }, weight: 100 }] },
      ]);
      const { stats, of } = simulate(store, 1000, 10, { testFraction: 0.1 });
      const share = of('podinfo-canary').requests / stats.requests;
      expect(Math.abs(share - 0.1)).toBeLessThan(0.015);
    }
  });

  it('mirrors to the canary without counting the copies as answered requests', () => {
    const store = canaryCluster({}, { annotations: { [TrafficAnnotation.errorRate]: '1' } });
    virtualService(store, NS, APP, [
      {
        ...weighted(APP, 100, 0),
        mirror: { host: `${APP}-canary` },
        mirrorPercentage: { value: 50 },
      },
    ]);
    const { stats, of, samples } = simulate(store, 1000, 10);
    expect(of('podinfo-primary').requests).toBe(10_000);
    expect(of('podinfo-primary').errors).toBe(0);
    expect(of('podinfo-canary').requests).toBe(0);
    expect(Math.abs(of('podinfo-canary').mirrored / stats.requests - 0.5)).toBeLessThan(0.02);
    // The canary's sidecar reports the shadow requests (and their 500s) as a destination does.
    const canaryRequests = total(samples, 'istio_requests_total', {
      destination_workload: APP,
      response_code: '500',
    });
    expect(canaryRequests).toBe(of('podinfo-canary').mirrored);
  });

  it('answers 503 for a version with no Ready Pods', () => {
    const store = canaryCluster({}, { ready: false });
    virtualService(store, NS, APP, [weighted(APP, 50, 50)]);
    const { of, samples } = simulate(store, 1000, 4);
    expect(of('podinfo-canary').errors).toBe(of('podinfo-canary').requests);
    expect(of('podinfo-primary').errors).toBe(0);
    expect(
      total(samples, 'istio_requests_total', { destination_workload: APP, response_code: '503' }),
    ).toBe(of('podinfo-canary').requests);
  });
});

describe('routing: Gateway API, NGINX, SMI, none', () => {
  it('HTTPRoute: backendRefs weights, header matches and RequestMirror', () => {
    const store = canaryCluster();
    store.create(TrafficResources.httpRoutes, NS, {
      metadata: { name: APP },
      spec: {
        rules: [
          {
            matches: [{ headers: [{ name: 'X-Canary', value: 'insider' }] }],
            backendRefs: [{ name: `${APP}-canary`, port: 9898, weight: 100 }],
          },
          {
            backendRefs: [
              { name: `${APP}-primary`, port: 9898, weight: 70 },
              { name: `${APP}-canary`, port: 9898, weight: 30 },
            ],
            filters: [
              {
                type: 'RequestMirror',
                requestMirror: { backendRef: { name: `${APP}-canary`, port: 9898 }, percent: 10 },
              },
            ],
          },
        ],
      },
    });
    const { stats, of, samples } = simulate(store, 1000, 20, { testFraction: 0.2 });
    expect(stats.router).toBe('gatewayapi');
    // 20 % matched → canary, 80 % × 30 % weighted → canary: 44 %.
    expect(Math.abs(of('podinfo-canary').requests / stats.requests - 0.44)).toBeLessThan(0.015);
    expect(Math.abs(of('podinfo-canary').mirrored / stats.requests - 0.08)).toBeLessThan(0.01);
    const canaryCluster_ = /^default_podinfo-canary_[0-9a-zA-Z-]+$/;
    const upstream = total(samples, 'envoy_cluster_upstream_rq', {
      envoy_cluster_name: canaryCluster_,
    });
    expect(upstream).toBe(of('podinfo-canary').requests);
    const appCount = total(samples, 'http_request_duration_seconds_count', {
      kubernetes_namespace: NS,
      kubernetes_pod_name: /^podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/,
    });
    expect(appCount).toBe(of('podinfo-canary').requests + of('podinfo-canary').mirrored);
  });

  it('NGINX: canary-weight, canary-by-header and canary-by-cookie', () => {
    const cases = [
      { annotations: { [`${NGINX}/canary-weight`]: '30' }, share: 0.3 },
      {
        annotations: {
          [`${NGINX}/canary-by-header`]: 'x-canary',
          [`${NGINX}/canary-by-header-value`]: 'insider',
        },
        share: 0.1,
      },
      { annotations: { [`${NGINX}/canary-by-cookie`]: 'canary' }, share: 0.1 },
    ];
    for (const c of cases) {
      const store = canaryCluster();
      const ingress = (name: string, backend: string, annotations: Record<string, string>) =>
        store.create(TrafficResources.ingresses, NS, {
          metadata: { name, annotations },
          spec: {
            rules: [
              {
                host: 'app.example.com',
                http: {
                  paths: [
                    {
                      path: '/',
                      pathType: 'Prefix',
                      backend: { service: { name: backend, port: { number: 80 } } },
                    },
                  ],
                },
              },
            ],
          },
        });
      ingress(APP, APP, {});
      ingress(`${APP}-canary`, `${APP}-canary`, {
        [`${NGINX}/canary`]: 'true',
        ...c.annotations,
      });
      const { stats, of, samples } = simulate(store, 1000, 10, { testFraction: 0.1 });
      expect(stats.router).toBe('nginx');
      expect(Math.abs(of('podinfo-canary').requests / stats.requests - c.share)).toBeLessThan(
        0.015,
      );
      // Flagger's query: the main ingress's name, canary traffic has a non-empty `canary`.
      const canaryCount = total(samples, 'nginx_ingress_controller_requests', {
        ingress: APP,
        canary: /.+/,
      });
      expect(canaryCount).toBe(of('podinfo-canary').requests);
      expect(
        samples.find((s) => s.name === 'nginx_ingress_controller_requests' && s.labels.canary)
          ?.labels.canary,
      ).toBe('default-podinfo-canary-80');
    }
  });

  it('SMI TrafficSplit: backends weights; Linkerd series per deployment', () => {
    const store = canaryCluster();
    store.create(TrafficResources.trafficSplits, NS, {
      metadata: { name: APP },
      spec: {
        service: APP,
        backends: [
          { service: `${APP}-primary`, weight: 60 },
          { service: `${APP}-canary`, weight: 40 },
        ],
      },
    });
    const { stats, of, samples } = simulate(store);
    expect(stats.router).toBe('smi');
    expect(Math.abs(of('podinfo-canary').requests / stats.requests - 0.4)).toBeLessThan(0.015);
    expect(
      total(samples, 'response_total', { deployment: APP, direction: 'inbound', namespace: NS }),
    ).toBe(of('podinfo-canary').requests);
  });

  it('without a routing object, everything goes to the apex Service (the primary)', () => {
    const { stats, of } = simulate(canaryCluster(), 100, 10);
    expect(stats.router).toBe('none');
    expect(of(APP).requests).toBe(1000);
    expect(of('podinfo-canary').requests).toBe(0);
  });

  it('re-reads the routing objects when they change', () => {
    const store = canaryCluster();
    virtualService(store, NS, APP, [weighted(APP, 100, 0)]);
    const sim = new TrafficSimulator('eu-1', store, {
      services: [{ namespace: NS, service: APP, rps: 1000 }],
    });
    sim.advance(1000);
    expect(sim.stats(NS, APP)?.backends.get('podinfo-canary')).toBeUndefined();
    const vs = store.get(TrafficResources.virtualServices, NS, APP);
    store.update(TrafficResources.virtualServices, NS, APP, {
      ...vs,
      spec: { hosts: [APP], http: [weighted(APP, 0, 100)] },
    });
    sim.advance(1000);
    expect(sim.stats(NS, APP)?.backends.get('podinfo-canary')?.requests).toBe(1000);
  });
});

describe('metrics', () => {
  it('the exposition parses, every series has cluster, counters grow', () => {
    const store = canaryCluster();
    virtualService(store, NS, APP, [weighted(APP, 50, 50)]);
    const sim = new TrafficSimulator('eu-1', store, {
      services: [{ namespace: NS, service: APP, rps: 200 }],
    });
    sim.advance(1000);
    const first = parseExposition(sim.render());
    sim.advance(1000);
    const second = parseExposition(sim.render());
    expect(second.every((s) => s.labels.cluster === 'eu-1')).toBe(true);
    const names = new Set(second.map((s) => s.name));
    for (const name of [
      'istio_requests_total',
      'istio_request_duration_milliseconds_bucket',
      'istio_request_duration_milliseconds_sum',
      'istio_request_duration_milliseconds_count',
      'response_total',
      'response_latency_ms_bucket',
      'http_request_duration_seconds_count',
    ]) {
      expect(names).toContain(name);
    }
    const requests = (samples: typeof first) =>
      total(samples, 'istio_requests_total', { reporter: 'destination' });
    expect(requests(first)).toBe(200);
    expect(requests(second)).toBe(400);
    // Histograms are cumulative and end in +Inf = count.
    const buckets = second.filter(
      (s) =>
        s.name === 'istio_request_duration_milliseconds_bucket' &&
        s.labels.destination_workload === APP &&
        s.labels.response_code === '200',
    );
    const byPod = buckets.filter((b) => b.labels.le === '+Inf');
    expect(byPod.length).toBeGreaterThan(0);
    const values = buckets.map((b) => b.value);
    expect(values.at(-1)).toBe(Math.max(...values));
  });

  it('a faulty version shows a higher error rate and latency', () => {
    const store = canaryCluster(
      { annotations: { [TrafficAnnotation.latencyMs]: 'p50=20,p99=60' } },
      {
        annotations: {
          [TrafficAnnotation.errorRate]: '0.1',
          [TrafficAnnotation.latencyMs]: 'p50=80,p99=400',
        },
      },
    );
    virtualService(store, NS, APP, [weighted(APP, 50, 50)]);
    const { samples } = simulate(store, 1000, 20);
    const rate = (workload: string) =>
      total(samples, 'istio_requests_total', {
        destination_workload: workload,
        response_code: /^5/,
      }) / total(samples, 'istio_requests_total', { destination_workload: workload });
    expect(rate('podinfo-primary')).toBe(0);
    expect(Math.abs(rate(APP) - 0.1)).toBeLessThan(0.015);
    const mean = (workload: string) =>
      total(samples, 'istio_request_duration_milliseconds_sum', {
        destination_workload: workload,
      }) /
      total(samples, 'istio_request_duration_milliseconds_count', {
        destination_workload: workload,
      });
    expect(mean(APP)).toBeGreaterThan(2 * mean('podinfo-primary'));
  });

  it('is deterministic for a seed', () => {
    const render = () => {
      const store = canaryCluster();
      virtualService(store, NS, APP, [weighted(APP, 90, 10)]);
      return simulate(store, 500, 5, { seed: 9 }).sim.render();
    };
    expect(render()).toBe(render());
  });
});
