import { CheckKind, Outcome } from '@aviary/judge';
import { afterEach, describe, expect, it } from 'vitest';
import { type DatadogSim, startDatadogSim } from '../../../../tools/datadog-sim/src/index.ts';
import { ConcurrencyLimiter, Priority, WindowBudget } from '../budget/index.ts';
import { BuiltinMetric, MetricRouter } from '../metrics/builtin.ts';
import { createDatadogProvider, type DatadogProviderOptions } from '../metrics/datadog.ts';
import type { MetricProvider, MetricQueryRequest, ProviderResult } from '../metrics/provider.ts';
import { ErrorKind } from './error-kind.ts';
import { histogramSubCheckId, latencySubCheck } from './latency.ts';
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

  it('bisects a batch Datadog rejects (400): only the broken template errs, and it is quarantined', async () => {
    const { sim, scheduler } = await given(6);
    const metric = (templateId: string, query: string) =>
      ({ source: MetricSource.Template, templateId, query }) as const;
    const templates = [
      SUCCESS_RATE,
      LATENCY,
      metric('shop/max-latency', `max:trace.http.request.duration{${SCOPE}}`),
      metric('shop/hits', `sum:trace.http.request.hits{${SCOPE}}.as_count()`),
      metric('shop/errors', `sum:trace.http.request.errors{${SCOPE}}.as_count()`),
      // Parses locally, refused by Datadog (an unknown function): the request gets a 400.
      metric('shop/broken', `sum:trace.http.request.hits{${SCOPE}}.as_bogus()`),
    ];
    const all = Array.from({ length: 6 }, (_, i) =>
      templates.map(
        (m): ActiveCheck => ({
          id: `app-${i}/${m.templateId}`,
          cluster: `eu-${i % 3}`,
          namespace: 'shop',
          workload: `app-${i}`,
          providerId: 'datadog',
          metric: m,
          intervalMs: MINUTE,
          check: { kind: CheckKind.ValueThreshold, thresholdRange: {} },
          priority: Priority.Rollback,
        }),
      ),
    ).flat();
    const first = await scheduler.round(all, now, signal);
    expect(first.plan.requests).toHaveLength(1); // one packed request of 6 queries
    const broken = first.verdicts.filter((v) => v.templateId === 'shop/broken');
    const others = first.verdicts.filter((v) => v.templateId !== 'shop/broken');
    expect(broken).toHaveLength(6);
    for (const v of broken) {
      expect(v.verdict.outcome).toBe(Outcome.Error);
      expect(v.verdict.message).toMatch(
        /configuration error: Datadog rejected template shop\/broken/,
      );
      expect(v.verdict.errorKind).toBe(ErrorKind.Configuration);
    }
    expect(others.every((v) => v.verdict.errorKind === undefined)).toBe(true);
    expect(others).toHaveLength(30);
    expect(others.every((v) => v.verdict.outcome === Outcome.Successful)).toBe(true);
    // 6 → 3 + 3 → (2 + 1) + … : a handful of calls, once.
    const bisecting = sim.requestCount;
    expect(bisecting).toBeGreaterThan(1);
    expect(bisecting).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(6)));

    // The next window: the broken template is answered from quarantine, the rest in one call.
    now += MINUTE;
    const second = await scheduler.round(all, now, signal);
    expect(sim.requestCount).toBe(bisecting + 1);
    const quarantined = second.verdicts.filter((v) => v.templateId === 'shop/broken');
    expect(quarantined.every((v) => v.source === VerdictSource.Quarantined)).toBe(true);
    expect(quarantined.every((v) => v.verdict.outcome === Outcome.Error)).toBe(true);
    expect(quarantined.every((v) => v.verdict.errorKind === ErrorKind.Configuration)).toBe(true);
    expect(
      second.verdicts
        .filter((v) => v.templateId !== 'shop/broken')
        .every((v) => v.verdict.outcome === Outcome.Successful),
    ).toBe(true);
  });

  it('a 10-minute throttle during 100 canaries: no Failed caused by it, real verdicts after it', async () => {
    const { sim, scheduler } = await given(100);
    const all = checks(100, Priority.Rollback);
    const start = now;
    const throttleFrom = start + 5 * MINUTE;
    const throttleUntil = start + 15 * MINUTE;
    sim.throttle(throttleUntil);
    let callsDuringThrottle = 0;
    const failedDuringThrottle: string[] = [];
    const lastRealRound = new Map<string, number>();
    for (let round = 0; round < 25; round++) {
      now = start + round * MINUTE;
      // The throttle is on from minute 5 (the simulator answers 429 only while it lasts).
      sim.throttle(now >= throttleFrom ? throttleUntil : 0);
      const before = sim.requestCount;
      const { verdicts } = await scheduler.round(all, now, signal);
      expect(verdicts).toHaveLength(200);
      const throttled = now >= throttleFrom && now < throttleUntil;
      if (throttled) {
        callsDuringThrottle += sim.requestCount - before;
        for (const v of verdicts) {
          if (v.verdict.outcome === Outcome.Failed) failedDuringThrottle.push(v.checkId);
          // Held, with the time to wait: never a failed check.
          expect(v.verdict.outcome).toBe(Outcome.Error);
          expect(v.verdict.retryAfterMs).toBeGreaterThan(0);
        }
      } else {
        const bad = (v: CheckVerdict) =>
          v.checkId.endsWith('shop/success-rate') && /^app-\d*0\//.test(v.checkId);
        for (const v of verdicts) {
          expect(v.verdict.outcome).toBe(bad(v) ? Outcome.Failed : Outcome.Successful);
          lastRealRound.set(v.checkId, round);
        }
      }
    }
    expect(failedDuringThrottle).toEqual([]);
    // The first 429 blocks the budget until the reset: about one call for the whole throttle.
    expect(callsDuringThrottle).toBeGreaterThanOrEqual(1);
    expect(callsDuringThrottle).toBeLessThanOrEqual(2);
    // Every check of every canary got a real verdict again after the throttle.
    expect(lastRealRound.size).toBe(200);
    expect([...lastRealRound.values()].every((r) => r === 24)).toBe(true);
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
    for (const v of throttled.verdicts) {
      expect(v.verdict.retryAfterMs).toBe(30 * MINUTE);
      expect(v.verdict.errorKind).toBe(ErrorKind.ProviderUnavailable);
    }

    // A minute later the budget knows: no call at all, still Error, a shorter wait.
    now += MINUTE;
    const held = await scheduler.round(checks(100), now, signal);
    expect(sim.requestCount).toBe(6);
    expect(outcomes(held.verdicts)).toEqual({ Error: 200 });
    expect(held.verdicts.every((v) => v.source === VerdictSource.Budget)).toBe(true);
    expect(held.verdicts.every((v) => v.verdict.errorKind === ErrorKind.ProviderUnavailable)).toBe(
      true,
    );
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
    expect(
      failed.verdicts.every((v) => v.verdict.errorKind === ErrorKind.ProviderUnavailable),
    ).toBe(true);
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
  it('hands latency comparisons their histograms, and a throttled answer is Error, never Failed', async () => {
    const INF = Number.POSITIVE_INFINITY;
    let throttle = false;
    const requests: string[] = [];
    const provider: MetricProvider = {
      kind: 'prometheus',
      async query(request): Promise<ProviderResult> {
        requests.push(request.query);
        if (throttle) {
          return {
            status: 'failed',
            reason: 'throttled',
            message: 'too many outstanding requests',
            retryAfterMs: 3000,
            httpStatus: 429,
          };
        }
        const bucket = (workload: string, track: string, le: string, value: number) => ({
          labels: { namespace: 'shop', workload, track, le },
          samples: [{ tMs: request.timeMs ?? 0, value }],
        });
        return {
          status: 'ok',
          series: [
            bucket('app-0', 'canary', '250', 70),
            bucket('app-0', 'canary', '+Inf', 100),
            bucket('app-0', 'primary', '250', 190),
            bucket('app-0', 'primary', '+Inf', 200),
          ],
        };
      },
    };
    const scheduler = createScheduler({
      providers: [
        {
          planning: { id: 'prom', kind: 'prometheus' },
          provider,
          limiter: new ConcurrencyLimiter({ max: 2 }),
        },
      ],
    });
    const checks = [0, 1].map((i) =>
      latencySubCheck({
        id: `app-${i}`,
        cluster: 'eu-1',
        namespace: 'shop',
        workload: `app-${i}`,
        providerId: 'prom',
        metric: { router: MetricRouter.Istio },
        intervalMs: MINUTE,
        check: { kind: CheckKind.LatencyComparison, sloMs: 250 },
        priority: Priority.Rollback,
      }),
    );
    const first = await scheduler.round(checks, now, signal);
    expect(requests).toHaveLength(1);
    const byId = new Map(first.verdicts.map((v) => [v.checkId, v]));
    const app0 = byId.get(histogramSubCheckId('app-0'));
    expect(app0?.histograms).toEqual({
      canary: [
        { leMs: 250, count: 70 },
        { leMs: INF, count: 100 },
      ],
      primary: [
        { leMs: 250, count: 190 },
        { leMs: INF, count: 200 },
      ],
    });
    expect(app0?.verdict.evidence.value).toBe(100);
    expect(app0?.samples).toHaveLength(4);
    // app-1 has no series: no data, nothing to compare.
    const app1 = byId.get(histogramSubCheckId('app-1'));
    expect(app1?.histograms).toBeUndefined();
    expect(app1?.verdict.outcome).toBe(Outcome.Inconclusive);

    throttle = true;
    now += MINUTE;
    const second = await scheduler.round(checks, now, signal);
    for (const v of second.verdicts) {
      expect(v.verdict.outcome).toBe(Outcome.Error);
      expect(v.verdict.retryAfterMs).toBe(3000);
      expect(v.verdict.errorKind).toBe(ErrorKind.ProviderUnavailable);
      expect(v.histograms).toBeUndefined();
    }
  });

  it('tags a query Prometheus rejects (400 bad_data) and a check that cannot be planned as configuration errors', async () => {
    const provider: MetricProvider = {
      kind: 'prometheus',
      async query(request): Promise<ProviderResult> {
        return request.query.includes('broken')
          ? {
              status: 'failed',
              reason: 'query-rejected',
              message: 'bad_data: parse error: unexpected identifier "broken"',
              httpStatus: 400,
            }
          : { status: 'ok', series: [{ labels: {}, samples: [{ tMs: 0, value: 99.5 }] }] };
      },
    };
    const scheduler = createScheduler({
      providers: [
        {
          planning: { id: 'prom', kind: 'prometheus' },
          provider,
          limiter: new ConcurrencyLimiter({ max: 2 }),
        },
      ],
    });
    const check = (id: string, query: string, providerId = 'prom'): ActiveCheck => ({
      id,
      cluster: 'eu-1',
      namespace: 'shop',
      workload: 'app-0',
      providerId,
      metric: { source: MetricSource.Template, templateId: `shop/${id}`, query },
      intervalMs: MINUTE,
      check: { kind: CheckKind.ValueThreshold, thresholdRange: { min: 99 } },
      priority: Priority.Rollback,
    });
    const { verdicts } = await scheduler.round(
      [
        check('good', 'sum(rate(up[1m]))'),
        check('broken', 'sum(broken up)'),
        check('elsewhere', 'sum(rate(up[1m]))', 'thanos'),
      ],
      now,
      signal,
    );
    const byId = new Map(verdicts.map((v) => [v.checkId, v.verdict]));
    expect(byId.get('good')?.outcome).toBe(Outcome.Successful);
    expect(byId.get('good')?.errorKind).toBeUndefined();
    expect(byId.get('broken')?.outcome).toBe(Outcome.Error);
    expect(byId.get('broken')?.message).toMatch(/bad_data: parse error/);
    expect(byId.get('broken')?.errorKind).toBe(ErrorKind.Configuration);
    expect(byId.get('elsewhere')?.outcome).toBe(Outcome.Error);
    expect(byId.get('elsewhere')?.message).toMatch(/configuration error: unknown metric provider/);
    expect(byId.get('elsewhere')?.errorKind).toBe(ErrorKind.Configuration);
  });
});
