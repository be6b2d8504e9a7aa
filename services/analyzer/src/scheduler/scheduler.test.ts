import { CheckKind, Outcome } from '@aviary/judge';
import { afterEach, describe, expect, it } from 'vitest';
import { type DatadogSim, startDatadogSim } from '../../../../tools/datadog-sim/src/index.ts';
import { ConcurrencyLimiter, Priority, WindowBudget } from '../budget/index.ts';
import { BuiltinMetric, MetricRouter } from '../metrics/builtin.ts';
import { createDatadogProvider, type DatadogProviderOptions } from '../metrics/datadog.ts';
import type { MetricProvider, MetricQueryRequest, ProviderResult } from '../metrics/provider.ts';
import { type ActiveCheck, MetricSource } from './plan.ts';
import {
  type CheckVerdict,
  createScheduler,
  rateLimitObserver,
  type Scheduler,
  VerdictSource,
} from './scheduler.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 22, 10, 30, 0);
const KEYS = { apiKey: 'dev-api-key', appKey: 'dev-app-key' } as const;
const SCOPE =
  'kube_cluster_name:{{ cluster }},kube_namespace:{{ namespace }},kube_deployment:{{ target }}';
const SUCCESS_RATE = {
  source: MetricSource.Template,
  templateId: 'shop/success-rate',
  query: `100 - sum:trace.http.request.errors{${SCOPE}}.as_count() / sum:trace.http.request.hits{${SCOPE}}.as_count() * 100`,
} as const;
const LATENCY = {
  source: MetricSource.Template,
  templateId: 'shop/latency',
  query: `avg:trace.http.request.duration{${SCOPE}}`,
} as const;

let now = T0;
let sim: DatadogSim | undefined;
const signal = new AbortController().signal;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
  now = T0;
});

/** Every 10th canary answers 5 % errors; the others 0.1 %. One point a minute, 3 hours. */
function feed(s: DatadogSim, canaries: number): void {
  for (let i = 0; i < canaries; i++) {
    const tags = {
      kube_cluster_name: `eu-${i % 3}`,
      kube_namespace: 'shop',
      kube_deployment: `app-${i}`,
    };
    const minutes = Array.from({ length: 180 }, (_, m) => T0 - 30 * MINUTE + m * MINUTE);
    const bad = i % 10 === 0;
    s.series.add(
      'trace.http.request.hits',
      tags,
      minutes.map((tMs) => ({ tMs, value: 600 })),
    );
    s.series.add(
      'trace.http.request.errors',
      tags,
      minutes.map((tMs) => ({ tMs, value: bad ? 30 : 0.6 })),
    );
    s.series.add(
      'trace.http.request.duration',
      tags,
      minutes.map((tMs) => ({ tMs, value: 120 })),
    );
  }
}

function checks(canaries: number, priority: Priority = Priority.Routine): ActiveCheck[] {
  return Array.from({ length: canaries }, (_, i) =>
    [SUCCESS_RATE, LATENCY].map(
      (metric): ActiveCheck => ({
        id: `app-${i}/${metric.templateId}`,
        cluster: `eu-${i % 3}`,
        namespace: 'shop',
        workload: `app-${i}`,
        providerId: 'datadog',
        metric,
        intervalMs: MINUTE,
        check: {
          kind: CheckKind.ValueThreshold,
          thresholdRange: metric === SUCCESS_RATE ? { min: 99 } : { max: 500 },
        },
        priority,
      }),
    ),
  ).flat();
}

async function given(
  canaries: number,
  options: {
    sim?: Parameters<typeof startDatadogSim>[0];
    provider?: Partial<DatadogProviderOptions>;
  } = {},
): Promise<{ sim: DatadogSim; scheduler: Scheduler; budget: WindowBudget }> {
  const s = await startDatadogSim({ now: () => now, ...options.sim });
  sim = s;
  feed(s, canaries);
  const budget = new WindowBudget({ name: 'datadog' });
  const provider = createDatadogProvider({
    baseUrl: s.url,
    ...KEYS,
    onRateLimit: rateLimitObserver(budget, () => now),
    ...options.provider,
  });
  const maxQueriesPerRequest = options.provider?.maxQueriesPerRequest;
  const scheduler = createScheduler({
    providers: [
      {
        planning: {
          id: 'datadog',
          kind: 'datadog',
          ...(maxQueriesPerRequest === undefined ? {} : { maxQueriesPerRequest }),
        },
        provider,
        budget,
      },
    ],
  });
  return { sim: s, scheduler, budget };
}

const outcomes = (verdicts: readonly CheckVerdict[]) => {
  const counts: Record<string, number> = {};
  for (const v of verdicts) counts[v.verdict.outcome] = (counts[v.verdict.outcome] ?? 0) + 1;
  return counts;
};

describe('scheduler against the Datadog simulator', () => {
  it('makes one call per template window, not per canary: 100 canaries × 2 metrics', async () => {
    const { sim, scheduler } = await given(100);
    const { plan, verdicts } = await scheduler.round(checks(100), now, signal);
    expect(plan.queries).toHaveLength(2); // 2 templates × 1 window
    expect(sim.requestCount).toBe(1); // packed into one v2 request
    expect(verdicts).toHaveLength(200);
    expect(outcomes(verdicts)).toEqual({ Successful: 190, Failed: 10 });
    const bad = verdicts.find((v) => v.checkId === 'app-10/shop/success-rate');
    expect(bad?.verdict.evidence).toMatchObject({
      value: 95,
      window: { startMs: T0 - 3 * MINUTE, endMs: T0 - 2 * MINUTE },
    });
    // The raw samples are kept with the verdict, for re-judging a past release.
    expect(bad?.samples).toEqual([
      {
        labels: { kube_cluster_name: 'eu-1', kube_deployment: 'app-10', kube_namespace: 'shop' },
        samples: [{ tMs: T0 - 3 * MINUTE, value: 95 }],
      },
    ]);
  });

  it('without packing room, calls equal the distinct template windows', async () => {
    const { sim, scheduler } = await given(100, { provider: { maxQueriesPerRequest: 2 } });
    const { plan, verdicts } = await scheduler.round(checks(100), now, signal);
    expect(plan.requests).toHaveLength(2);
    expect(sim.requestCount).toBe(2);
    expect(outcomes(verdicts)).toEqual({ Successful: 190, Failed: 10 });
  });

  it('shares in-flight queries and never queries a closed window twice', async () => {
    const { sim, scheduler } = await given(20);
    const plan = scheduler.plan(checks(20), now);
    const [first, second] = await Promise.all([
      scheduler.execute(plan, signal),
      scheduler.execute(plan, signal),
    ]);
    expect(sim.requestCount).toBe(1);
    expect(first?.every((v) => v.source === VerdictSource.Provider)).toBe(true);
    expect(second?.every((v) => v.source === VerdictSource.Shared)).toBe(true);
    expect(second?.map((v) => v.verdict)).toEqual(first?.map((v) => v.verdict));

    // The same round again, and 20 s later (same aligned window): from the cache.
    now += 20_000;
    const again = await scheduler.round(checks(20), now, signal);
    expect(sim.requestCount).toBe(1);
    expect(again.verdicts.every((v) => v.source === VerdictSource.Cache)).toBe(true);

    // The next minute is a new window: one new call.
    now += MINUTE;
    await scheduler.round(checks(20), now, signal);
    expect(sim.requestCount).toBe(2);
  });

  it('turns a spent rate limit into Error verdicts with retryAfter, never Failed, and resumes after the reset', async () => {
    const { sim, scheduler } = await given(100, {
      sim: {
        limits: { v2Timeseries: { name: 'query_timeseries', limit: 5, periodSeconds: 3600 } },
      },
    });
    // Another tool of the organisation spends the whole limit first.
    const other = createDatadogProvider({ baseUrl: sim.url, ...KEYS });
    for (let i = 0; i < 5; i++) {
      await other.query({ query: 'sum:trace.http.request.hits{*}', timeMs: now }, signal);
    }
    expect(sim.requestCount).toBe(5);

    const throttled = await scheduler.round(checks(100), now, signal);
    expect(sim.requestCount).toBe(6); // one 429, then nothing more
    expect(outcomes(throttled.verdicts)).toEqual({ Error: 200 });
    for (const v of throttled.verdicts) expect(v.verdict.retryAfterMs).toBe(30 * MINUTE);

    // A minute later the budget knows: no call at all, still Error, a shorter wait.
    now += MINUTE;
    const held = await scheduler.round(checks(100), now, signal);
    expect(sim.requestCount).toBe(6);
    expect(outcomes(held.verdicts)).toEqual({ Error: 200 });
    expect(held.verdicts.every((v) => v.source === VerdictSource.Budget)).toBe(true);
    expect(held.verdicts[0]?.verdict.retryAfterMs).toBe(29 * MINUTE);

    // After the hourly window resets, every check gets a real verdict again. With 5 calls an
    // hour, routine checks are widened (5-minute windows) instead of failing.
    now = T0 + 30 * MINUTE + 30_000;
    const resumed = await scheduler.round(checks(100), now, signal);
    expect(sim.requestCount).toBe(7);
    expect(outcomes(resumed.verdicts)).toEqual({ Successful: 190, Failed: 10 });
    const window = resumed.verdicts[0]?.window;
    expect(window === undefined ? 0 : window.endMs - window.startMs).toBe(5 * MINUTE);
  });

  it('a 5xx is an Error for every affected check, is not cached, and the next round retries', async () => {
    const { sim, scheduler } = await given(10);
    sim.injectFault(503);
    const failed = await scheduler.round(checks(10), now, signal);
    expect(outcomes(failed.verdicts)).toEqual({ Error: 20 });
    const retried = await scheduler.round(checks(10), now, signal);
    expect(sim.requestCount).toBe(2);
    expect(outcomes(retried.verdicts)).toEqual({ Successful: 19, Failed: 1 });
  });

  it('sends rollback-relevant requests first and keeps the last of the budget for them', async () => {
    const { sim, scheduler, budget } = await given(10, {
      provider: { maxQueriesPerRequest: 2 },
      sim: {
        limits: { v2Timeseries: { name: 'query_timeseries', limit: 10, periodSeconds: 3600 } },
      },
    });
    // Another tool spends 7 of the organisation's 10; its answers' headers reach our budget.
    const other = createDatadogProvider({
      baseUrl: sim.url,
      ...KEYS,
      onRateLimit: rateLimitObserver(budget, () => now),
    });
    for (let i = 0; i < 7; i++) {
      await other.query({ query: 'sum:trace.http.request.hits{*}', timeMs: now }, signal);
    }
    // 3 left: below the routine reserve (4), above the rollback one (0).
    const mixed = [
      ...checks(10, Priority.Routine).filter((c) => c.metric === LATENCY),
      ...checks(10, Priority.Rollback).filter((c) => c.metric === SUCCESS_RATE),
    ];
    const { plan, verdicts } = await scheduler.round(mixed, now, signal);
    expect(plan.requests.map((r) => r.priority)).toEqual([Priority.Rollback, Priority.Routine]);
    expect(sim.requestCount).toBe(8);
    const byTemplate = (id: string) => outcomes(verdicts.filter((v) => v.templateId === id));
    expect(byTemplate('shop/success-rate')).toEqual({ Successful: 9, Failed: 1 });
    expect(byTemplate('shop/latency')).toEqual({ Error: 10 });
  });
});

describe('scheduler with a Prometheus-compatible provider (in-process fake)', () => {
  /** Answers grouped built-in queries with one series per (workload, track). */
  class FakePrometheus implements MetricProvider {
    readonly kind = 'prometheus' as const;
    readonly requests: MetricQueryRequest[] = [];
    inFlight = 0;
    maxInFlight = 0;
    async query(request: MetricQueryRequest): Promise<ProviderResult> {
      this.requests.push(request);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      await new Promise((r) => setTimeout(r, 5));
      this.inFlight--;
      const series = ['app-0', 'app-1'].flatMap((workload) =>
        ['canary', 'primary'].map((track) => ({
          labels: { namespace: 'shop', workload, track },
          samples: [
            {
              tMs: request.timeMs ?? 0,
              value: workload === 'app-1' && track === 'canary' ? 90 : 99.9,
            },
          ],
        })),
      );
      return { status: 'ok', series };
    }
  }

  it('splits a grouped built-in per canary, records canary and primary samples, within the concurrency limit', async () => {
    const fake = new FakePrometheus();
    const limiter = new ConcurrencyLimiter({ max: 1 });
    const scheduler = createScheduler({
      providers: [{ planning: { id: 'prom', kind: 'prometheus' }, provider: fake, limiter }],
    });
    const base = (i: number, metric: BuiltinMetric, interval = MINUTE): ActiveCheck => ({
      id: `app-${i}/${metric}/${interval}`,
      cluster: 'eu-1',
      namespace: 'shop',
      workload: `app-${i}`,
      providerId: 'prom',
      metric: { source: MetricSource.Builtin, router: MetricRouter.Istio, metric },
      intervalMs: interval,
      check: { kind: CheckKind.ValueThreshold, thresholdRange: { min: 99 } },
      priority: Priority.Promotion,
    });
    const all = [0, 1, 0, 1].map((i, n) =>
      base(i, BuiltinMetric.RequestSuccessRate, n < 2 ? MINUTE : 2 * MINUTE),
    );
    const { verdicts } = await scheduler.round(all, now, signal);
    expect(fake.requests).toHaveLength(2); // two windows, each one grouped query
    expect(fake.maxInFlight).toBe(1);
    // 10:30 − 30 s: the minute ending 10:29, and the two minutes ending 10:28.
    expect(fake.requests.map((r) => r.timeMs).sort()).toEqual([T0 - 2 * MINUTE, T0 - MINUTE]);
    expect(verdicts.map((v) => v.verdict.outcome)).toEqual([
      Outcome.Successful,
      Outcome.Failed,
      Outcome.Successful,
      Outcome.Failed,
    ]);
    expect(verdicts[1]?.samples.map((s) => s.labels.track)).toEqual(['canary', 'primary']);
  });
});
