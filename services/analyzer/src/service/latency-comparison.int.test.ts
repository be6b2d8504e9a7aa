/**
 * `request-duration` as a latency comparison, end to end against the real Prometheus 2.42: the
 * test serves an exporter with Istio duration histograms (a `cart` canary slower than its
 * primary, an `api` canary exactly as fast as its primary) that its own Prometheus scrapes every
 * second; `AnalysisRequest`s with `method: LATENCY_COMPARISON` go through the analysis service
 * (in-process bus), which plans the grouped histogram query, splits it per canary, keeps the
 * histograms across looks and judges them. Three consecutive 5-second windows per canary.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  analysisRequestSubject,
  analysisResultSubject,
  InProcessBus,
  messagingNamespace,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import {
  AnalysisOutcome,
  AnalysisPriority,
  type AnalysisVerdict,
  analysisRequestSchema,
  analysisVerdictSchema,
  JudgeMethod,
  RouterKind,
  WorkloadKind,
} from '@aviary/proto';
import { create, fromJsonString, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPrometheus, type TestPrometheus, until } from '../../../../test/prometheus.ts';
import { createPrometheusProvider } from '../metrics/prometheus.ts';
import { createScheduler } from '../scheduler/index.ts';
import { type AnalysisService, startAnalysisService } from './analysis-service.ts';
import { inProcessAnalysisTransport } from './in-process-transport.ts';
import { createProviders } from './providers.ts';
import { rejudgeVerdict } from './samples.ts';

const STEP_MS = 5000;
const LOOKS = 3;
const SLO_MS = 250;
const BUCKETS = [10, 50, 100, 250, 500, 1000] as const;
/** Share of requests at most each bucket: the primaries' and `api`'s (5% above 250 ms)… */
const USUAL = [0.5, 0.8, 0.9, 0.95, 0.99, 1];
/** …and the slow `cart` canary's (30% above 250 ms). */
const SLOW = [0.1, 0.3, 0.5, 0.7, 0.95, 1];
const TRAFFIC = [
  { ns: 'shop', workload: 'cart', rate: 100, shares: SLOW },
  { ns: 'shop', workload: 'cart-primary', rate: 200, shares: USUAL },
  { ns: 'team-b', workload: 'api', rate: 100, shares: USUAL },
  { ns: 'team-b', workload: 'api-primary', rate: 200, shares: USUAL },
] as const;
const started = Date.now() / 1000;
const logger = createLogger({ service: 'test', level: 'silent' });

function exposition(): string {
  const t = Date.now() / 1000 - started + 100;
  const lines = ['# TYPE istio_request_duration_milliseconds histogram'];
  for (const w of TRAFFIC) {
    const base = `reporter="destination",destination_workload_namespace="${w.ns}",destination_workload="${w.workload}"`;
    const total = w.rate * t;
    BUCKETS.forEach((le, i) => {
      lines.push(
        `istio_request_duration_milliseconds_bucket{${base},le="${le}"} ${total * (w.shares[i] ?? 1)}`,
      );
    });
    lines.push(`istio_request_duration_milliseconds_bucket{${base},le="+Inf"} ${total}`);
    lines.push(`istio_request_duration_milliseconds_count{${base}} ${total}`);
  }
  return `${lines.join('\n')}\n`;
}

let exporter: Server;
let prometheus: TestPrometheus | undefined;
let service: AnalysisService | undefined;
const bus = new InProcessBus();
const namespace = messagingNamespace('latency');
const verdicts: AnalysisVerdict[] = [];
const stop = new AbortController();

beforeAll(async () => {
  exporter = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(exposition());
  });
  const port = await new Promise<number>((resolve) =>
    exporter.listen(0, '127.0.0.1', () => resolve((exporter.address() as AddressInfo).port)),
  );
  prometheus = await startTestPrometheus({ targets: [`127.0.0.1:${port}`], job: 'exporter' });
  const probe = createPrometheusProvider({ address: prometheus.address, timeoutMs: 5000 });
  // Ready when a 5 s increase has a value (two scrapes at least). Bounded, generous: a loaded
  // machine can take long to start Prometheus; nothing is timed after this.
  await until(
    'scraped histograms',
    async () => {
      const result = await probe.query(
        { query: 'count(increase(istio_request_duration_milliseconds_bucket[5s]))' },
        stop.signal,
      );
      return result.status === 'ok' && result.series.length > 0 ? true : undefined;
    },
    90_000,
    () => `prometheus stderr:\n${prometheus?.stderr().slice(-2000) ?? ''}`,
  );

  const providers = createProviders({
    prometheus: { address: prometheus.address, ingestionDelayMs: 2000 },
  });
  bus.subscribe(analysisResultSubject(namespace), (message) => {
    verdicts.push(fromJsonString(analysisVerdictSchema, new TextDecoder().decode(message.payload)));
  });
  service = await startAnalysisService(
    {
      transport: inProcessAnalysisTransport(bus, namespace),
      namespace,
      scheduler: createScheduler({ providers: providers.scheduled, roundMs: STEP_MS }),
      providers: providers.scheduled.map((p) => p.planning),
      requests: { templates: {}, providers: providers.ids },
      logger,
      roundIntervalMs: 1000,
      gatherMs: 100,
    },
    stop.signal,
  );
}, 120_000);

afterAll(async () => {
  await service?.stop();
  stop.abort();
  await prometheus?.stop();
  await new Promise((resolve) => exporter?.close(resolve));
});

function request(workload: { ns: string; name: string }, look: number, windowEndMs: number) {
  return create(analysisRequestSchema, {
    requestId: `${workload.name}-look-${look}`,
    releaseId: `release-${workload.name}`,
    cluster: 'eu-1',
    workload: { namespace: workload.ns, name: workload.name, kind: WorkloadKind.DEPLOYMENT },
    checkName: 'request-duration',
    // Flagger's P99 limit; the comparison takes it as the SLO unless latencySloMs says otherwise.
    thresholdRange: { max: 500 },
    latencySloMs: SLO_MS,
    method: JudgeMethod.LATENCY_COMPARISON,
    intervalMs: STEP_MS,
    windowStart: timestampFromMs(windowEndMs - STEP_MS),
    windowEnd: timestampFromMs(windowEndMs),
    priority: AnalysisPriority.ROLLBACK_RELEVANT,
    router: RouterKind.ISTIO,
  });
}

describe('request-duration as a latency comparison (real Prometheus)', () => {
  it('fails the slower canary and never the equal one, with every look recorded', async () => {
    // Windows that start after the data does: the next aligned ends from now on.
    const firstEnd = Math.ceil(Date.now() / STEP_MS) * STEP_MS + STEP_MS;
    const canaries = [
      { ns: 'shop', name: 'cart' },
      { ns: 'team-b', name: 'api' },
    ];
    for (let look = 1; look <= LOOKS; look++) {
      for (const canary of canaries) {
        const r = request(canary, look, firstEnd + (look - 1) * STEP_MS);
        await bus.publish(
          analysisRequestSubject(namespace),
          new TextEncoder().encode(toJsonString(analysisRequestSchema, r)),
          { msgId: r.requestId },
        );
      }
    }
    // Bounded wait for all verdicts (the last window closes ~20 s from now, plus the delay).
    await until(
      `${LOOKS * 2} verdicts`,
      async () => (verdicts.length >= LOOKS * 2 ? true : undefined),
      90_000,
      () => JSON.stringify(verdicts.map((v) => [v.requestId, v.outcome, v.message])),
    );
    const of = (name: string) =>
      canaries.some((c) => c.name === name)
        ? verdicts
            .filter((v) => v.releaseId === `release-${name}`)
            .sort((a, b) => a.requestId.localeCompare(b.requestId))
        : [];
    const cart = of('cart');
    const api = of('api');
    expect(cart).toHaveLength(LOOKS);
    expect(api).toHaveLength(LOOKS);

    // Every verdict measured real histograms: no provider error, the grouped histogram query.
    for (const v of [...cart, ...api]) {
      expect(v.outcome, v.message).not.toBe(AnalysisOutcome.ERROR);
      expect(v.evidence?.query).toMatch(/^sum by \(namespace, workload, track, le\)/);
      expect(v.samples?.method).toBe(JudgeMethod.LATENCY_COMPARISON);
      expect(v.samples?.sloMs).toBe(SLO_MS);
    }

    // The slow canary: 30% of its requests above 250 ms against 5% of the primary's.
    const last = cart.at(-1) as AnalysisVerdict;
    expect(cart.map((v) => v.outcome)).toContain(AnalysisOutcome.FAILED);
    expect(last.outcome, last.message).toBe(AnalysisOutcome.FAILED);
    expect(last.message).toContain('slower than 250 ms');
    const canarySlow = Number(last.evidence?.canary?.badCount ?? 0n);
    const canaryTotal = Number(last.evidence?.canary?.totalCount ?? 0n);
    const primarySlow = Number(last.evidence?.primary?.badCount ?? 0n);
    const primaryTotal = Number(last.evidence?.primary?.totalCount ?? 0n);
    expect(canaryTotal).toBeGreaterThan(0);
    expect(canarySlow / canaryTotal).toBeCloseTo(0.3, 1);
    expect(primarySlow / primaryTotal).toBeCloseTo(0.05, 1);
    // The histograms of every look are kept (the history), and the verdict re-judges alike.
    expect(last.samples?.histograms).toHaveLength(LOOKS);
    expect(last.samples?.histograms[0]?.canary.map((b) => b.leMs)).toEqual([
      ...BUCKETS,
      Number.POSITIVE_INFINITY,
    ]);
    const again = rejudgeVerdict(last);
    expect(again.outcome).toBe('Failed');
    expect(again.message).toBe(last.message);

    // The equal canary: never Failed.
    for (const v of api) {
      expect(v.outcome, v.message).not.toBe(AnalysisOutcome.FAILED);
      expect([AnalysisOutcome.SUCCESSFUL, AnalysisOutcome.INCONCLUSIVE]).toContain(v.outcome);
    }
    expect(api.at(-1)?.samples?.histograms).toHaveLength(LOOKS);
  }, 150_000);
});
