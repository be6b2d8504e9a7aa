/**
 * Against the real Prometheus 2.42 (`/usr/bin/prometheus`, or AVIARY_TEST_PROMETHEUS_BIN): the
 * test starts its own server on a free port with a temporary data directory, scraping a tiny
 * exporter the test serves (Istio-style counters and duration buckets for two canaries and their
 * primaries, the `cart` canary visibly worse) every second.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startTestPrometheus,
  type TestPrometheus,
  until as untilReady,
} from '../../../../test/prometheus.ts';
import { builtinQuery, groupedBuiltinQuery, groupKey, splitGroupedResult } from './builtin.ts';
import { createPrometheusProvider } from './prometheus.ts';
import { type MetricProvider, type ProviderResult, toValueObservation } from './provider.ts';
import { renderQuery } from './templates.ts';

const signal = new AbortController().signal;
const started = Date.now() / 1000;

/** Requests per second by workload: [good, 5xx]; latency buckets (ms) as shares of requests. */
const TRAFFIC = [
  { ns: 'shop', workload: 'cart', good: 90, bad: 10, slow: true },
  { ns: 'shop', workload: 'cart-primary', good: 199, bad: 1, slow: false },
  { ns: 'team-b', workload: 'api', good: 97, bad: 3, slow: false },
  { ns: 'team-b', workload: 'api-primary', good: 100, bad: 0, slow: false },
] as const;
const BUCKETS = [10, 50, 100, 250, 500, 1000] as const;
const FAST = [0.9, 0.99, 1, 1, 1, 1];
const SLOW = [0.1, 0.3, 0.5, 0.8, 0.995, 1];

function exposition(): string {
  const t = Date.now() / 1000 - started + 100;
  const lines = ['# TYPE istio_requests_total counter'];
  for (const w of TRAFFIC) {
    const base = `reporter="destination",destination_workload_namespace="${w.ns}",destination_workload="${w.workload}"`;
    lines.push(`istio_requests_total{${base},response_code="200"} ${w.good * t}`);
    lines.push(`istio_requests_total{${base},response_code="500"} ${w.bad * t}`);
    // The source side reports other numbers; the built-ins must ignore it.
    lines.push(
      `istio_requests_total{reporter="source",destination_workload_namespace="${w.ns}",destination_workload="${w.workload}",response_code="503"} ${1000 * t}`,
    );
  }
  lines.push('# TYPE istio_request_duration_milliseconds histogram');
  for (const w of TRAFFIC) {
    const base = `reporter="destination",destination_workload_namespace="${w.ns}",destination_workload="${w.workload}"`;
    const total = (w.good + w.bad) * t;
    const shares = w.slow ? SLOW : FAST;
    BUCKETS.forEach((le, i) => {
      lines.push(
        `istio_request_duration_milliseconds_bucket{${base},le="${le}"} ${total * (shares[i] ?? 1)}`,
      );
    });
    lines.push(`istio_request_duration_milliseconds_bucket{${base},le="+Inf"} ${total}`);
    lines.push(`istio_request_duration_milliseconds_count{${base}} ${total}`);
  }
  return `${lines.join('\n')}\n`;
}

let exporter: Server;
let fake: Server;
let prometheus: TestPrometheus | undefined;
let address: string;
let fakeAddress: string;
let provider: MetricProvider;
/** When the canary's rate first had a value: range queries after it have a sample per step. */
let readyAtMs = 0;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
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

beforeAll(async () => {
  exporter = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(exposition());
  });
  const exporterPort = await listen(exporter);

  // 503 and 429 only: what a real Prometheus will not produce on demand.
  fake = createServer((req, res) => {
    if (req.url?.includes('/throttled/')) {
      res.writeHead(429, { 'Retry-After': '3', 'Content-Type': 'text/plain' });
      res.end('too many outstanding requests');
    } else {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', errorType: 'unavailable', error: 'restarting' }));
    }
  });
  fakeAddress = `http://127.0.0.1:${await listen(fake)}`;

  prometheus = await startTestPrometheus({
    targets: [`127.0.0.1:${exporterPort}`],
    job: 'exporter',
  });
  address = prometheus.address;
  provider = createPrometheusProvider({ address, timeoutMs: 5000 });
  // Ready when the canary's 30s rate has at least two samples. Bounded but generous: on a
  // loaded machine Prometheus can take tens of seconds to start; nothing after this is timed.
  await until(
    'scraped data',
    async () => {
      const result = await provider.query(
        { query: 'count(rate(istio_requests_total{destination_workload="cart"}[30s]))' },
        signal,
      );
      return result.status === 'ok' && result.series.length > 0 ? true : undefined;
    },
    90_000,
  );
  readyAtMs = Date.now();
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await new Promise((resolve) => exporter?.close(resolve));
  await new Promise((resolve) => fake?.close(resolve));
});

describe('Prometheus 2.42', () => {
  it('answers the built-in Istio success rate of the canary', async () => {
    const { query } = builtinQuery('istio', 'request-success-rate', {
      namespace: 'shop',
      target: 'cart',
      interval: '30s',
    });
    const observation = toValueObservation(await provider.query({ query }, signal));
    expect(observation.status).toBe('ok');
    if (observation.status === 'ok') expect(observation.data).toBeCloseTo(90, 1);
  });

  it('answers the built-in Istio request duration: the canary is slower than the primary', async () => {
    const p99 = async (target: string) => {
      const { query } = builtinQuery('istio', 'request-duration', {
        namespace: 'shop',
        target,
        interval: '30s',
      });
      const observation = toValueObservation(await provider.query({ query }, signal));
      if (observation.status !== 'ok') throw new Error(`no p99 for ${target}`);
      return observation.data;
    };
    const canary = await p99('cart');
    const primary = await p99('cart-primary');
    expect(canary).toBeGreaterThan(250);
    expect(canary).toBeLessThanOrEqual(500);
    expect(primary).toBeLessThanOrEqual(100);
  });

  it('folds every canary and primary into one grouped query and splits it back', async () => {
    const canaries = [
      { namespace: 'shop', target: 'cart' },
      { namespace: 'team-b', target: 'api' },
      { namespace: 'team-c', target: 'idle' },
    ];
    const grouped = groupedBuiltinQuery({
      router: 'istio',
      metric: 'request-success-rate',
      interval: '30s',
      canaries,
    });
    const result = await provider.query({ query: grouped.query }, signal);
    expect(result.status).toBe('ok');
    if (result.status !== 'ok') return;
    expect(result.series).toHaveLength(4);
    const split = splitGroupedResult(grouped, result);
    const value = (i: number, track: 'canary' | 'primary') => {
      const canary = canaries[i];
      if (canary === undefined) throw new Error('no canary');
      const observation = split.get(groupKey(canary, track));
      return observation?.status === 'ok' ? observation.data : observation?.status;
    };
    expect(value(0, 'canary')).toBeCloseTo(90, 1);
    expect(value(0, 'primary')).toBeCloseTo(99.5, 1);
    expect(value(1, 'canary')).toBeCloseTo(97, 1);
    expect(value(1, 'primary')).toBeCloseTo(100, 1);
    expect(value(2, 'canary')).toBe('no-data');

    const durations = groupedBuiltinQuery({
      router: 'istio',
      metric: 'request-duration',
      interval: '30s',
      canaries,
    });
    const p99 = splitGroupedResult(
      durations,
      await provider.query({ query: durations.query }, signal),
    );
    const cart = p99.get(groupKey({ namespace: 'shop', target: 'cart' }, 'canary'));
    const cartPrimary = p99.get(groupKey({ namespace: 'shop', target: 'cart' }, 'primary'));
    expect(cart?.status === 'ok' && cart.data > 250).toBe(true);
    expect(cartPrimary?.status === 'ok' && cartPrimary.data <= 100).toBe(true);
  });

  it('answers range queries with one sample per step', async () => {
    const endMs = Math.max(Date.now(), readyAtMs + 400);
    const result = await provider.query(
      {
        query: 'sum(rate(istio_requests_total{reporter="destination"}[30s]))',
        range: { startMs: readyAtMs, endMs, stepMs: (endMs - readyAtMs) / 4 },
      },
      signal,
    );
    expect(result.status).toBe('ok');
    if (result.status === 'ok') expect(result.series[0]?.samples).toHaveLength(5);
  });

  it('neutralises an injection through an escaped template variable', async () => {
    const query = renderQuery(
      'sum(istio_requests_total{destination_workload="{{ variables.w }}"})',
      {
        namespace: 'shop',
        target: 'cart',
        interval: '1m',
        variables: { w: 'foo"} or vector(1) #' },
      },
    );
    expect(await provider.query({ query }, signal)).toEqual({ status: 'ok', series: [] });
  });

  it('maps a PromQL syntax error to query-rejected', async () => {
    const result = await provider.query({ query: 'sum(rate(istio_requests_total[1m])' }, signal);
    expect(result).toMatchObject({ status: 'failed', reason: 'query-rejected', httpStatus: 400 });
  });

  it('maps 503 to server-error and 429 to throttled with retryAfterMs', async () => {
    const unavailable = createPrometheusProvider({ address: fakeAddress });
    expect(await unavailable.query({ query: 'up' }, signal)).toMatchObject({
      status: 'failed',
      reason: 'server-error',
      httpStatus: 503,
    });
    const throttled = createPrometheusProvider({ address: `${fakeAddress}/throttled/` });
    const result: ProviderResult = await throttled.query({ query: 'up' }, signal);
    expect(result).toMatchObject({
      status: 'failed',
      reason: 'throttled',
      httpStatus: 429,
      retryAfterMs: 3000,
    });
  });

  it('maps a stopped Prometheus to unreachable', async () => {
    await prometheus?.stop();
    const result = await provider.query({ query: 'up' }, signal);
    expect(result).toMatchObject({ status: 'failed', reason: 'unreachable' });
  });
});
