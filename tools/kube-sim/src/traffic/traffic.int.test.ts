/**
 * The real Prometheus 2.42 (`/usr/bin/prometheus`, or AVIARY_TEST_PROMETHEUS_BIN) scraping a
 * simulated cluster's `/metrics` every second answers Flagger's built-in Istio queries, taken
 * from the analyzer unchanged (per canary and grouped by cluster), with the faulty canary
 * visibly worse than the primary.
 */
import {
  BuiltinMetric,
  builtinQuery,
  groupedBuiltinQuery,
  MetricRouter,
} from '@aviary/analyzer/src/metrics/builtin.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startTestPrometheus,
  type TestPrometheus,
  until as untilReady,
} from '../../../../test/prometheus.ts';
import { createKubeSim, type KubeSim } from '../kube-sim.ts';
import { TrafficAnnotation } from './behaviour.ts';
import { TrafficResources } from './cluster-view.ts';
import { flaggerServices, virtualService, weighted } from './test-fixtures.ts';

const NS = 'default';
const APP = 'podinfo';

let sim: KubeSim | undefined;
let prometheus: TestPrometheus | undefined;
let address = '';

interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

async function query(promql: string): Promise<VectorSample[]> {
  const response = await fetch(`${address}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: promql }),
  });
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: VectorSample[] };
  };
  if (body.status !== 'success') throw new Error(`${body.error ?? 'query failed'}: ${promql}`);
  return body.data?.result ?? [];
}

function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  return untilReady(
    what,
    probe,
    timeoutMs,
    () => `prometheus stderr:\n${prometheus?.stderr().slice(-2000) ?? ''}`,
  );
}

function deployment(name: string, annotations: Record<string, string>) {
  return {
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations },
        spec: { containers: [{ name: 'app', image: `ghcr.io/stefanprodan/podinfo` }] },
      },
    },
  };
}

beforeAll(async () => {
  sim = await createKubeSim({
    clusters: ['eu-1'],
    controllers: { readyDelayMs: 50 },
    traffic: {
      services: [{ namespace: NS, service: APP, rps: 400 }],
      tickMs: 100,
      seed: 4,
      autoStart: false,
    },
  });
  const cluster = sim.cluster('eu-1');
  const { store } = cluster;
  // Given a good primary and a canary answering 20 % errors, slower, behind an Istio 50/50 split.
  store.create(
    TrafficResources.deployments,
    NS,
    deployment(`${APP}-primary`, { [TrafficAnnotation.latencyMs]: 'p50=15,p99=60' }),
  );
  store.create(
    TrafficResources.deployments,
    NS,
    deployment(APP, {
      [TrafficAnnotation.errorRate]: '0.2',
      [TrafficAnnotation.latencyMs]: 'p50=60,p99=600',
    }),
  );
  flaggerServices(store, NS, APP);
  virtualService(store, NS, APP, [weighted(APP, 50, 50)]);
  await until(
    'four Ready pods',
    async () => {
      const ready = store
        .list(TrafficResources.pods, NS)
        .filter((p) =>
          JSON.stringify((p.status as { conditions?: unknown } | undefined)?.conditions).includes(
            '"type":"Ready","status":"True"',
          ),
        );
      return ready.length === 4 ? true : undefined;
    },
    10_000,
  );
  cluster.traffic.start();

  prometheus = await startTestPrometheus({ targets: [new URL(cluster.url).host], job: 'kube-sim' });
  address = prometheus.address;
  // When: Prometheus has scraped enough for a 1m rate of the canary (at least 4 samples).
  await until(
    'scraped data',
    async () => {
      const result = await query(
        `count_over_time(istio_requests_total{destination_workload="${APP}",response_code="200"}[1m])`,
      );
      return result.some((r) => Number(r.value[1]) >= 4) ? true : undefined;
    },
    25_000,
  );
}, 40_000);

afterAll(async () => {
  await prometheus?.stop();
  await sim?.close();
});

describe('real Prometheus scraping the traffic simulator', () => {
  const model = (target: string) => ({ namespace: NS, target, interval: '1m' });
  const value = async (promql: string) => {
    const result = await query(promql);
    expect(result).toHaveLength(1);
    return Number(result[0]?.value[1]);
  };

  it("answers Flagger's Istio success-rate query: the faulty canary is visibly worse", async () => {
    const canary = await value(
      builtinQuery(MetricRouter.Istio, BuiltinMetric.RequestSuccessRate, model(APP)).query,
    );
    const primary = await value(
      builtinQuery(MetricRouter.Istio, BuiltinMetric.RequestSuccessRate, model(`${APP}-primary`))
        .query,
    );
    expect(primary).toBe(100);
    expect(canary).toBeGreaterThan(70);
    expect(canary).toBeLessThan(90);
  });

  it("answers Flagger's Istio request-duration (P99) query: the canary is slower", async () => {
    const canary = await value(
      builtinQuery(MetricRouter.Istio, BuiltinMetric.RequestDuration, model(APP)).query,
    );
    const primary = await value(
      builtinQuery(MetricRouter.Istio, BuiltinMetric.RequestDuration, model(`${APP}-primary`))
        .query,
    );
    expect(primary).toBeGreaterThan(0);
    expect(canary).toBeGreaterThan(2 * primary);
  });

  it("answers the analyzer's grouped query by cluster, namespace, workload and track", async () => {
    const grouped = groupedBuiltinQuery({
      router: MetricRouter.Istio,
      metric: BuiltinMetric.RequestSuccessRate,
      interval: '1m',
      canaries: [{ cluster: 'eu-1', namespace: NS, target: APP }],
      clusterLabel: 'cluster',
    });
    const result = await query(grouped.query);
    const byTrack = new Map(result.map((r) => [r.metric.track, r]));
    expect(result).toHaveLength(2);
    expect(byTrack.get('primary')?.metric).toEqual({
      cluster: 'eu-1',
      namespace: NS,
      workload: APP,
      track: 'primary',
    });
    expect(Number(byTrack.get('primary')?.value[1])).toBe(100);
    expect(Number(byTrack.get('canary')?.value[1])).toBeLessThan(90);
  });
});
