import {
  analysisRequestSubject,
  analysisResultSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  headersWithSpan,
  type MessagingNamespace,
  messagingNamespace,
  type NatsClient,
  SpanKinds,
  streamNames,
  withSpan,
} from '@aviary/messaging';
import { createLogger, type MetricsServer, startMetricsServer } from '@aviary/platform';
import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import { AnalysisPriority, analysisRequestSchema, RouterKind, WorkloadKind } from '@aviary/proto';
import { create, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { JsMsg } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import { type DatadogSim, startDatadogSim } from '../../../../tools/datadog-sim/src/index.ts';
import { createScheduler } from '../scheduler/index.ts';
import { type AnalysisService, startAnalysisService } from './analysis-service.ts';
import { createProviders } from './providers.ts';

const MINUTE = 60_000;
const SCOPE =
  'kube_cluster_name:{{ cluster }},kube_namespace:{{ namespace }},kube_deployment:{{ target }}';
const TEMPLATES = {
  'request-success-rate': {
    provider: 'datadog',
    total: `sum:trace.http.request.hits{${SCOPE}}.as_count()`,
    bad: `sum:trace.http.request.errors{${SCOPE}}.as_count()`,
    measure: 'good',
  },
} as const;
const logger = createLogger({ service: 'analyzer-telemetry-test', level: 'silent' });
const windowEnd = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE;

let nats: NatsClient;
let namespace: MessagingNamespace;
let sim: DatadogSim;
let service: AnalysisService | undefined;
let tracing: TestTracing;
let metrics: MetricsServer;

beforeEach(async () => {
  tracing = startTestTracing('analyzer');
  namespace = messagingNamespace(uniqueName('analyzertel'));
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'analyzer-tel-test', logger });
  await ensureStreams(await nats.jetstreamManager(), { namespace });
  sim = await startDatadogSim({});
  const tags = { kube_cluster_name: 'eu-1', kube_namespace: 'shop', kube_deployment: 'good' };
  const minutes = Array.from({ length: 30 }, (_, m) => windowEnd - 20 * MINUTE + m * MINUTE);
  sim.series.add(
    'trace.http.request.hits',
    tags,
    minutes.map((tMs) => ({ tMs, value: 20_000 })),
  );
  sim.series.add(
    'trace.http.request.errors',
    tags,
    minutes.map((tMs) => ({ tMs, value: 0 })),
  );
  metrics = await startMetricsServer({ port: 0, host: '127.0.0.1' });
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  await sim.close();
  const jsm = await nats.jetstreamManager();
  for (const stream of Object.values(streamNames(namespace))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await nats.close();
  await metrics.stop();
  await tracing.stop();
});

async function scrape(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(metrics.url)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const pairs = line.slice(name.length + 1, line.indexOf('}')).split(',');
    if (wanted.every((w) => pairs.includes(w))) return Number(line.slice(line.indexOf('}') + 1));
  }
  return undefined;
}

async function verdictMessage(): Promise<JsMsg | undefined> {
  const jsm = await nats.jetstreamManager();
  const stream = streamNames(namespace).analysis;
  const name = uniqueName('read');
  await jsm.consumers.add(stream, {
    name,
    filter_subject: analysisResultSubject(namespace),
    ack_policy: 'explicit',
    inactive_threshold: 30_000_000_000,
  });
  const consumer = await nats.jetstream.consumers.get(stream, name);
  for await (const m of await consumer.fetch({ max_messages: 1, expires: 1000 })) return m;
  return undefined;
}

describe('the analyzer’s traces and metrics', () => {
  it('continues the request’s trace to its verdict and counts verdicts and provider calls', async () => {
    const providers = createProviders({
      datadog: { apiKey: 'dev-api-key', appKey: 'dev-app-key', baseUrl: sim.url },
    });
    service = await startAnalysisService(
      {
        nats,
        namespace,
        scheduler: createScheduler({ providers: providers.scheduled }),
        providers: providers.scheduled.map((p) => p.planning),
        requests: { templates: TEMPLATES, providers: providers.ids },
        logger,
        consumerName: 'analyzer-telemetry-test',
        roundIntervalMs: 1000,
        gatherMs: 100,
      },
      new AbortController().signal,
    );
    const verdictsBefore =
      (await scrape('aviary_analyzer_verdicts_total', { outcome: 'successful' })) ?? 0;
    const callsBefore =
      (await scrape('aviary_analyzer_provider_calls_total', {
        provider: 'datadog',
        outcome: 'ok',
      })) ?? 0;

    const request = create(analysisRequestSchema, {
      requestId: 'req-1',
      releaseId: 'rel-1',
      cluster: 'eu-1',
      workload: { namespace: 'shop', name: 'good', kind: WorkloadKind.DEPLOYMENT },
      checkName: 'request-success-rate',
      thresholdRange: { min: 99 },
      intervalMs: MINUTE,
      windowStart: timestampFromMs(windowEnd - MINUTE),
      windowEnd: timestampFromMs(windowEnd),
      priority: AnalysisPriority.ROLLBACK_RELEVANT,
      router: RouterKind.ISTIO,
    });
    // As the orchestrator does: the context stored at decision time, published by the relay.
    const headers = await withSpan('orchestrator decision', {}, () =>
      headersWithSpan('create request', { kind: SpanKinds.Producer }),
    );
    await createJetStreamPublisher(nats.jetstream).publish(
      analysisRequestSubject(namespace),
      new TextEncoder().encode(toJsonString(analysisRequestSchema, request)),
      { msgId: 'req-1', headers },
    );
    await expect.poll(verdictMessage, { timeout: 15_000, interval: 200 }).toBeDefined();
    const message = await verdictMessage();

    const decision = await tracing.span('orchestrator decision');
    const root = namespace.subjectRoot;
    const publishRequest = await tracing.span(`publish ${root}.v1.analysis.req`);
    const verdict = await tracing.span('analysis verdict');
    const publishVerdict = await tracing.span(`publish ${root}.v1.analysis.res`);
    expect(verdict.spanContext().traceId).toBe(decision.spanContext().traceId);
    expect(parentSpanId(verdict)).toBe(publishRequest.spanContext().spanId);
    expect(parentSpanId(publishVerdict)).toBe(verdict.spanContext().spanId);
    expect(verdict.attributes).toMatchObject({
      'aviary.request.id': 'req-1',
      'aviary.release.id': 'rel-1',
      'aviary.cluster': 'eu-1',
      'aviary.verdict.outcome': 'Successful',
    });
    expect(message?.headers?.get('traceparent')).toBe(
      `00-${decision.spanContext().traceId}-${publishVerdict.spanContext().spanId}-01`,
    );

    expect(await scrape('aviary_analyzer_verdicts_total', { outcome: 'successful' })).toBe(
      verdictsBefore + 1,
    );
    expect(
      await scrape('aviary_analyzer_provider_calls_total', { provider: 'datadog', outcome: 'ok' }),
    ).toBeGreaterThan(callsBefore);
    const remaining = await scrape('aviary_analyzer_rate_limit_remaining', { provider: 'datadog' });
    const limit = await scrape('aviary_analyzer_rate_limit_limit', { provider: 'datadog' });
    expect(limit).toBeGreaterThan(0);
    expect(remaining).toBeLessThan(limit ?? 0);
  });
});
