/**
 * The Datadog provider through the official client against the in-process Datadog simulator
 * (`tools/datadog-sim`): grouped batches, formulas, the budget kept in step with the headers,
 * throttling, faults, wrong keys, splitting, the v1 fallback and timeouts.
 */

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AviaryError } from '@aviary/core';
import { logger } from '@datadog/datadog-api-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DatadogSim, startDatadogSim } from '../../../../tools/datadog-sim/src/index.ts';
import { WindowBudget } from '../budget/index.ts';
import { createMetricProvider } from './create-provider.ts';
import {
  createDatadogProvider,
  type DatadogProviderOptions,
  datadogConfigSchema,
} from './datadog.ts';
import { type ProviderResult, seriesObservation } from './provider.ts';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0); // on the hour: a fresh calendar-aligned window
const WINDOW = { fromMs: T0 - 300_000, toMs: T0, intervalMs: 60_000 } as const;
const KEYS = { apiKey: 'dev-api-key', appKey: 'dev-app-key' } as const;
const signal = new AbortController().signal;

const errors = (by = 'kube_deployment') =>
  `sum:trace.http.request.errors{kube_namespace:shop} by {${by}}.as_count()`;
const hits = (by = 'kube_deployment') =>
  `sum:trace.http.request.hits{kube_namespace:shop} by {${by}}.as_count()`;
const SUCCESS_RATE = `100 - ${errors()} / ${hits()} * 100`;

let sim: DatadogSim | undefined;
let now = T0;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  vi.restoreAllMocks();
});
beforeEach(() => {
  now = T0;
});

/** Ten minutes of per-10s counts for one deployment; `lastMs` ends the feed early (no data after). */
function feed(
  s: DatadogSim,
  deployment: string,
  hitsPer10s: number,
  errorsPer10s: number,
  lastMs = T0,
) {
  const tags = { kube_cluster_name: 'eu-1', kube_namespace: 'shop', kube_deployment: deployment };
  const points = (value: number) =>
    Array.from({ length: 60 }, (_, i) => ({ tMs: T0 - 600_000 + i * 10_000, value })).filter(
      (p) => p.tMs < lastMs,
    );
  s.series.add('trace.http.request.hits', tags, points(hitsPer10s));
  s.series.add('trace.http.request.errors', tags, points(errorsPer10s));
}

async function given(
  options: Partial<DatadogProviderOptions> = {},
  simOptions: Parameters<typeof startDatadogSim>[0] = {},
) {
  sim = await startDatadogSim({ now: () => now, ...simOptions });
  feed(sim, 'checkout', 100, 1);
  feed(sim, 'checkout-primary', 900, 9);
  feed(sim, 'cart', 50, 5);
  feed(sim, 'search', 10, 0, T0 - 60_000); // silent for the last minute
  const bodies: unknown[] = [];
  const provider = createDatadogProvider({
    baseUrl: sim.url,
    ...KEYS,
    fetch: async (input, init) => {
      if (typeof init?.body === 'string') bodies.push(JSON.parse(init.body));
      return fetch(input, init);
    },
    ...options,
  });
  return { sim, provider, bodies };
}

/** The last value of each group of an `ok` result, by one label. */
function lastByLabel(result: ProviderResult | undefined, label: string) {
  if (result?.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return Object.fromEntries(
    result.series.map((s) => [s.labels[label], seriesObservation(s)] as const),
  );
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Every line the Datadog client's logger or the console received, with its level, whether or not
 * the level is enabled (the client's oneOf serialiser chats at `debug` on every v2 request).
 */
function captureLogs(): { level: string; line: string }[] {
  const lines: { level: string; line: string }[] = [];
  const record =
    (level: string) =>
    (...args: unknown[]) => {
      const line = args
        .map((a) => (a instanceof Error ? `${a.message} ${String(a.cause)}` : String(a)))
        .join(' ');
      lines.push({ level, line });
    };
  for (const method of ['trace', 'debug', 'info', 'warn', 'error'] as const) {
    vi.spyOn(logger, method).mockImplementation(record(method));
  }
  for (const method of ['log', 'debug', 'info', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation(record(method));
  }
  return lines;
}

describe('Datadog provider against the simulator', () => {
  it('answers a batch of grouped queries for several canaries in one v2 call: one series per group, formulas evaluated', async () => {
    const { sim, provider, bodies } = await given();
    const results = await provider.queryBatch(
      [
        { name: 'success-rate', query: SUCCESS_RATE },
        { name: 'requests', query: hits() },
        { name: 'errors-by-cluster', query: errors('kube_cluster_name') },
      ],
      WINDOW,
      signal,
    );
    expect(sim.requestCount).toBe(1);
    expect([...results.keys()]).toEqual(['success-rate', 'requests', 'errors-by-cluster']);
    expect(lastByLabel(results.get('success-rate'), 'kube_deployment')).toEqual({
      checkout: { status: 'ok', data: 99 },
      'checkout-primary': { status: 'ok', data: 99 },
      cart: { status: 'ok', data: 90 },
      search: { status: 'no-data' }, // null in the last bucket: no data, never 0
    });
    expect(lastByLabel(results.get('requests'), 'kube_deployment')).toMatchObject({
      checkout: { data: 600 },
      'checkout-primary': { data: 5400 },
      cart: { data: 300 },
    });
    expect(lastByLabel(results.get('errors-by-cluster'), 'kube_cluster_name')).toEqual({
      'eu-1': { status: 'ok', data: 6 + 54 + 30 },
    });
    const success = results.get('success-rate');
    if (success?.status !== 'ok') throw new Error('expected ok');
    expect(success.series[0]?.samples.map((s) => s.tMs)).toEqual([
      T0 - 300_000,
      T0 - 240_000,
      T0 - 180_000,
      T0 - 120_000,
      T0 - 60_000,
    ]);
    // The hits query is shared by two expressions: sent once, referenced by two formulas.
    expect(bodies).toEqual([
      {
        data: {
          type: 'timeseries_request',
          attributes: {
            from: WINDOW.fromMs,
            to: WINDOW.toMs,
            interval: 60_000,
            queries: [
              { data_source: 'metrics', name: 'q0', query: errors() },
              { data_source: 'metrics', name: 'q1', query: hits() },
              { data_source: 'metrics', name: 'q2', query: errors('kube_cluster_name') },
            ],
            formulas: [{ formula: '100 - q0 / q1 * 100' }, { formula: 'q1' }, { formula: 'q2' }],
          },
        },
      },
    ]);
  });

  it('maps the MetricProvider contract’s query onto one batch', async () => {
    const { provider } = await given();
    const range = await provider.query(
      { query: SUCCESS_RATE, range: { startMs: T0 - 180_000, endMs: T0, stepMs: 60_000 } },
      signal,
    );
    expect(lastByLabel(range, 'kube_deployment')).toMatchObject({ cart: { data: 90 } });
    if (range.status !== 'ok') throw new Error('expected ok');
    expect(range.series[0]?.samples).toHaveLength(3);
    const instant = await provider.query({ query: hits(), timeMs: T0 }, signal);
    expect(lastByLabel(instant, 'kube_deployment')).toMatchObject({ checkout: { data: 600 } });
  });

  it('hands every answer’s rate-limit headers to onRateLimit, so the budget counts down', async () => {
    const budget = new WindowBudget({ name: 'datadog' });
    const seen: [number, Record<string, unknown>][] = [];
    const { provider } = await given({
      onRateLimit: (status, headers) => {
        seen.push([status, { ...headers }]);
        budget.observe(status, headers, now);
      },
    });
    for (let i = 0; i < 3; i++) {
      await provider.queryBatch([{ name: 'r', query: hits() }], WINDOW, signal);
      now += 60_000;
    }
    expect(seen.map(([status, h]) => [status, h['x-ratelimit-remaining']])).toEqual([
      [200, '1599'],
      [200, '1598'],
      [200, '1597'],
    ]);
    expect(seen[0]?.[1]).toEqual({
      'x-ratelimit-limit': '1600',
      'x-ratelimit-period': '3600',
      'x-ratelimit-remaining': '1599',
      'x-ratelimit-reset': '3600',
      'x-ratelimit-name': 'query_timeseries',
    });
    expect(budget.state(now)).toMatchObject({
      name: 'query_timeseries',
      limit: 1600,
      remaining: 1597,
      resetAtMs: T0 + 3_600_000,
    });
  });

  it('gives throttled with the time until the window resets when the limit is spent, and sends no more chunks', async () => {
    now = T0 + 30 * 60_000; // half an hour before the calendar-aligned reset
    const budget = new WindowBudget({ name: 'datadog' });
    const statuses: number[] = [];
    const { sim, provider } = await given(
      {
        maxQueriesPerRequest: 1,
        onRateLimit: (status, headers) => {
          statuses.push(status);
          budget.observe(status, headers, now);
        },
      },
      { limits: { v2Timeseries: { name: 'query_timeseries', limit: 2, periodSeconds: 3600 } } },
    );
    const results = await provider.queryBatch(
      ['a', 'b', 'c', 'd'].map((name, i) => ({
        name,
        query: hits(i % 2 === 0 ? 'kube_deployment' : 'kube_cluster_name'),
      })),
      WINDOW,
      signal,
    );
    expect(statuses).toEqual([200, 200, 429]);
    expect(sim.requestCount).toBe(3); // the fourth chunk was not sent
    expect(results.get('a')?.status).toBe('ok');
    expect(results.get('b')?.status).toBe('ok');
    for (const name of ['c', 'd']) {
      expect(results.get(name)).toEqual({
        status: 'failed',
        reason: 'throttled',
        message: `POST ${sim.url}/api/v2/query/timeseries: HTTP 429: Too many requests`,
        httpStatus: 429,
        retryAfterMs: 30 * 60_000,
      });
    }
    expect(budget.canSpend('rollback', now)).toEqual({
      allowed: false,
      retryAfterMs: 30 * 60_000,
      reason: 'throttled by the provider',
    });
  });

  it('gives server-error for an injected 503, and recovers on the next call', async () => {
    const { sim, provider } = await given();
    sim.injectFault(503, 1);
    const failed = await provider.query({ query: hits(), timeMs: T0 }, signal);
    expect(failed).toMatchObject({
      status: 'failed',
      reason: 'server-error',
      httpStatus: 503,
      message: `POST ${sim.url}/api/v2/query/timeseries: HTTP 503: injected fault 503`,
    });
    expect((await provider.query({ query: hits(), timeMs: T0 }, signal)).status).toBe('ok');
  });

  it('maps wrong keys to query-rejected saying so, never showing or logging a key', async () => {
    const logs = captureLogs();
    const apiKey = 'secret-api-key-0123456789';
    const appKey = 'secret-app-key-9876543210';
    const { sim, provider } = await given({ apiKey, appKey, maxQueriesPerRequest: 1 });
    const results = await provider.queryBatch(
      [
        { name: 'a', query: hits() },
        { name: 'b', query: errors() },
      ],
      WINDOW,
      signal,
    );
    expect(sim.requestCount).toBe(0); // refused before the budget; the second chunk not sent
    for (const result of results.values()) {
      expect(result).toMatchObject({ status: 'failed', reason: 'query-rejected', httpStatus: 403 });
      if (result.status !== 'failed') throw new Error('expected failed');
      expect(result.message).toMatch(/HTTP 403: Forbidden .*refused the API or application key/);
      expect(result.message).not.toContain(apiKey);
      expect(result.message).not.toContain(appKey);
    }
    const logged = logs.map((l) => l.line).join('\n');
    expect(logged).not.toContain(apiKey);
    expect(logged).not.toContain(appKey);
  });

  it('splits a batch over maxQueriesPerRequest into several calls', async () => {
    const { sim, provider, bodies } = await given({ maxQueriesPerRequest: 2 });
    const deployments = ['checkout', 'checkout-primary', 'cart', 'search', 'checkout'];
    const results = await provider.queryBatch(
      deployments.map((d, i) => ({
        name: `r${i}`,
        query: `sum:trace.http.request.hits{kube_deployment:${d}}.as_count()${i === 4 ? ' * 2' : ''}`,
      })),
      WINDOW,
      signal,
    );
    expect(sim.requestCount).toBe(3);
    expect(
      bodies.map(
        (b) =>
          (b as { data: { attributes: { queries: unknown[] } } }).data.attributes.queries.length,
      ),
    ).toEqual([2, 2, 1]);
    expect(
      [...results.values()].map((r) => (r.status === 'ok' ? seriesObservation(r.series[0]) : r)),
    ).toEqual([
      { status: 'ok', data: 600 },
      { status: 'ok', data: 5400 },
      { status: 'ok', data: 300 },
      { status: 'no-data' },
      { status: 'ok', data: 1200 },
    ]);
  });

  it('refuses a request locally when it cannot fit or parse, without spoiling the batch', async () => {
    const { sim, provider } = await given({ maxQueriesPerRequest: 2 });
    const results = await provider.queryBatch(
      [
        { name: 'ok', query: hits() },
        { name: 'too-big', query: `${hits()} + ${errors()} + ${hits('kube_cluster_name')}` },
        { name: 'list', query: `${hits()},${errors()}` },
      ],
      WINDOW,
      signal,
    );
    expect(sim.requestCount).toBe(1);
    expect(results.get('ok')?.status).toBe('ok');
    expect(results.get('too-big')).toMatchObject({
      reason: 'query-rejected',
      message: expect.stringMatching(/3 metric queries; at most 2/),
    });
    expect(results.get('list')).toMatchObject({
      reason: 'query-rejected',
      message: expect.stringMatching(/one query per request/),
    });
  });

  it('gives query-rejected with Datadog’s message for a query the backend refuses', async () => {
    const { provider } = await given();
    const result = await provider.query(
      { query: 'sum:trace.http.request.hits{*}.rollup(median)', timeMs: T0 },
      signal,
    );
    expect(result).toMatchObject({ status: 'failed', reason: 'query-rejected', httpStatus: 400 });
  });

  it('falls back to v1 comma-joined queries when v2 answers 404, and stays there', async () => {
    const calls: string[] = [];
    const { sim, provider } = await given({
      fetch: async (input, init) => {
        const url = String(input).replace('/api/v2/query/timeseries', '/api/v2/not-here');
        calls.push(`${init?.method} ${new URL(url).pathname}`);
        return fetch(url, init);
      },
    });
    const batch = [
      { name: 'success-rate', query: SUCCESS_RATE },
      { name: 'requests', query: hits() },
    ];
    const results = await provider.queryBatch(batch, WINDOW, signal);
    expect(calls).toEqual(['POST /api/v2/not-here', 'GET /api/v1/query']);
    expect(sim.requestCount).toBe(1); // the 404 is not a query
    // v1 picks its own interval (10 s here): the last bucket holds 10 s of counts.
    expect(lastByLabel(results.get('success-rate'), 'kube_deployment')).toMatchObject({
      checkout: { status: 'ok', data: 99 },
      cart: { status: 'ok', data: 90 },
    });
    expect(lastByLabel(results.get('requests'), 'kube_deployment')).toMatchObject({
      checkout: { data: 100 },
    });
    await provider.queryBatch(batch, WINDOW, signal);
    expect(calls.slice(2)).toEqual(['GET /api/v1/query']);
  });

  it('gives timeout when no answer comes in time, unreachable when nothing listens, and logs nothing', async () => {
    const logs = captureLogs();
    const { provider } = await given({
      timeoutMs: 50,
      fetch: (_input, init) =>
        new Promise<Response>((_, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        }),
    });
    expect(await provider.query({ query: hits(), timeMs: T0 }, signal)).toMatchObject({
      status: 'failed',
      reason: 'timeout',
    });
    const port = await freePort();
    const closed = createDatadogProvider({ baseUrl: `http://127.0.0.1:${port}`, ...KEYS });
    expect(await closed.query({ query: hits(), timeMs: T0 }, signal)).toMatchObject({
      status: 'failed',
      reason: 'unreachable',
      message: expect.stringMatching(
        /^POST http:\/\/127\.0\.0\.1:\d+\/api\/v2\/query\/timeseries: ECONNREFUSED/,
      ),
    });
    // The client logs a rejected fetch at `error`; the provider's wrapper never lets one through.
    expect(logs.filter((l) => !['trace', 'debug'].includes(l.level))).toEqual([]);
  });

  it('rejects with ABORTED when the caller’s signal fires, and with ValidationError for a bad batch', async () => {
    const { provider } = await given();
    const controller = new AbortController();
    controller.abort();
    await expect(
      provider.query({ query: hits(), timeMs: T0 }, controller.signal),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    });
    await expect(
      provider.queryBatch(
        [
          { name: 'a', query: hits() },
          { name: 'a', query: '' },
        ],
        { fromMs: T0, toMs: T0 - 1, intervalMs: 0 },
        signal,
      ),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      issues: expect.arrayContaining([expect.objectContaining({ path: 'window' })]),
    });
    expect(() => createDatadogProvider({ ...KEYS, maxQueriesPerRequest: 36 })).toThrow(AviaryError);
    expect(() => createDatadogProvider({ apiKey: '', appKey: 'secret-app-key' })).toThrow(
      /apiKey: must be a non-empty key/,
    );
  });

  it('is built from its configuration by createMetricProvider (site default datadoghq.com, keys required)', async () => {
    expect(datadogConfigSchema.parse({ kind: 'datadog', ...KEYS })).toEqual({
      kind: 'datadog',
      site: 'datadoghq.com',
      ...KEYS,
    });
    expect(datadogConfigSchema.safeParse({ kind: 'datadog', apiKey: 'k' }).success).toBe(false);
    expect(
      datadogConfigSchema.safeParse({ kind: 'datadog', ...KEYS, site: 'https://x' }).success,
    ).toBe(false);
    const statuses: number[] = [];
    const { sim } = await given();
    const provider = createMetricProvider(
      datadogConfigSchema.parse({
        kind: 'datadog',
        baseUrl: sim.url,
        ...KEYS,
        maxQueriesPerRequest: 35,
      }),
      { onRateLimit: (status) => statuses.push(status) },
    );
    expect(provider.kind).toBe('datadog');
    expect((await provider.query({ query: hits(), timeMs: T0 }, signal)).status).toBe('ok');
    expect(statuses).toEqual([200]);
  });
});
