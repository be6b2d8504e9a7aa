import {
  analysisRequestSubject,
  analysisResultSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  type MessagingNamespace,
  messagingNamespace,
  type NatsClient,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import {
  AnalysisOutcome,
  AnalysisPriority,
  type AnalysisVerdict,
  analysisRequestSchema,
  analysisVerdictSchema,
  RouterKind,
  WorkloadKind,
} from '@aviary/proto';
import { create, fromJsonString, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import { type DatadogSim, startDatadogSim } from '../../../../tools/datadog-sim/src/index.ts';
import { createDatadogProvider } from '../metrics/datadog.ts';
import { createScheduler } from '../scheduler/index.ts';
import { type AnalysisService, startAnalysisService } from './analysis-service.ts';
import { countsBucketName, KvCountHistory } from './count-history.ts';
import { createProviders } from './providers.ts';
import { rejudgeVerdict } from './samples.ts';
import { verdictMsgId } from './verdicts.ts';

const MINUTE = 60_000;
const KEYS = { apiKey: 'dev-api-key', appKey: 'dev-app-key' } as const;
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
const logger = createLogger({ service: 'test', level: 'silent' });

let nats: NatsClient;
let namespace: MessagingNamespace;
let sim: DatadogSim | undefined;
let service: AnalysisService | undefined;
const signal = new AbortController().signal;
/** A closed one-minute window, well past Datadog's ingestion delay. */
const windowEnd = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE;

beforeEach(async () => {
  namespace = messagingNamespace(uniqueName('analysis'));
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'analysis-test', logger });
  await ensureStreams(await nats.jetstreamManager(), { namespace });
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  await sim?.close();
  sim = undefined;
  const jsm = await nats.jetstreamManager();
  for (const stream of Object.values(streamNames(namespace))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await jsm.streams.delete(`KV_${countsBucketName(namespace.streamPrefix)}`).catch(() => false);
  await nats.close();
});

/** 20,000 requests a minute each; `bad` answers 5 % errors, everything else 0 (primaries 0.1 %). */
function feed(s: DatadogSim): void {
  const minutes = Array.from({ length: 30 }, (_, m) => windowEnd - 20 * MINUTE + m * MINUTE);
  for (const [deployment, errors] of [
    ['good', 0],
    ['good-primary', 20],
    ['bad', 1000],
    ['bad-primary', 20],
  ] as const) {
    const tags = { kube_cluster_name: 'eu-1', kube_namespace: 'shop', kube_deployment: deployment };
    s.series.add(
      'trace.http.request.hits',
      tags,
      minutes.map((tMs) => ({ tMs, value: 20_000 })),
    );
    s.series.add(
      'trace.http.request.errors',
      tags,
      minutes.map((tMs) => ({ tMs, value: errors })),
    );
  }
}

async function given(
  simOptions: Parameters<typeof startDatadogSim>[0] = {},
  options: { persistent?: boolean; existing?: DatadogSim } = {},
): Promise<DatadogSim> {
  const s = options.existing ?? (await startDatadogSim(simOptions));
  if (options.existing === undefined) {
    sim = s;
    feed(s);
  }
  const providers = createProviders({ datadog: { ...KEYS, baseUrl: s.url } });
  const comparisonCounts = options.persistent
    ? await KvCountHistory.open({
        jetstream: nats.jetstream,
        bucket: countsBucketName(namespace.streamPrefix),
      })
    : undefined;
  service = await startAnalysisService(
    {
      ...(comparisonCounts === undefined ? {} : { comparisonCounts }),
      nats,
      namespace,
      scheduler: createScheduler({ providers: providers.scheduled }),
      providers: providers.scheduled.map((p) => p.planning),
      requests: { templates: TEMPLATES, providers: providers.ids },
      logger,
      consumerName: 'analyzer-test',
      roundIntervalMs: 1000,
      gatherMs: 100,
    },
    signal,
  );
  return s;
}

function request(
  id: string,
  workload: string,
  options: { threshold?: boolean; endMs?: number; release?: string } = {},
) {
  const endMs = options.endMs ?? windowEnd;
  return create(analysisRequestSchema, {
    requestId: id,
    releaseId: options.release ?? `release-${workload}`,
    cluster: 'eu-1',
    workload: { namespace: 'shop', name: workload, kind: WorkloadKind.DEPLOYMENT },
    checkName: 'request-success-rate',
    ...(options.threshold === false ? {} : { thresholdRange: { min: 99 } }),
    intervalMs: MINUTE,
    windowStart: timestampFromMs(endMs - MINUTE),
    windowEnd: timestampFromMs(endMs),
    priority: AnalysisPriority.ROLLBACK_RELEVANT,
    router: RouterKind.ISTIO,
  });
}

async function publish(payload: string | ReturnType<typeof request>, msgId: string) {
  const bytes = new TextEncoder().encode(
    typeof payload === 'string' ? payload : toJsonString(analysisRequestSchema, payload),
  );
  await createJetStreamPublisher(nats.jetstream).publish(analysisRequestSubject(namespace), bytes, {
    msgId,
  });
}

/** Every verdict stored in the analysis stream, with its `Nats-Msg-Id`. */
async function storedVerdicts(): Promise<{ msgId: string; verdict: AnalysisVerdict }[]> {
  const jsm = await nats.jetstreamManager();
  const stream = streamNames(namespace).analysis;
  const name = uniqueName('read');
  await jsm.consumers.add(stream, {
    name,
    filter_subject: analysisResultSubject(namespace),
    ack_policy: 'explicit',
    inactive_threshold: 30_000_000_000,
  });
  try {
    const consumer = await nats.jetstream.consumers.get(stream, name);
    const { num_pending: pending } = await consumer.info();
    const out: { msgId: string; verdict: AnalysisVerdict }[] = [];
    if (pending === 0) return out;
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 5000 })) {
      out.push({
        msgId: m.headers?.get('Nats-Msg-Id') ?? '',
        verdict: fromJsonString(analysisVerdictSchema, m.string()),
      });
    }
    return out;
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => false);
  }
}

async function waitForVerdicts(count: number, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const verdicts = await storedVerdicts();
    if (verdicts.length >= count || Date.now() > deadline) return verdicts;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the analyzer's consumer has acknowledged everything it was given. */
async function waitForAcks(timeoutMs = 15_000) {
  const jsm = await nats.jetstreamManager();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await jsm.consumers.info(streamNames(namespace).analysis, 'analyzer-test');
    if ((info.num_pending === 0 && info.num_ack_pending === 0) || Date.now() > deadline) {
      return info;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const byRequest = (verdicts: { verdict: AnalysisVerdict }[]) =>
  new Map(verdicts.map((v) => [v.verdict.requestId, v.verdict]));

describe('analysis service (real NATS, Datadog simulator)', () => {
  it('answers each request with one verdict: good canary Successful, faulty canary Failed, with evidence', async () => {
    const s = await given();
    await publish(request('r-good', 'good'), 'r-good');
    await publish(request('r-bad', 'bad'), 'r-bad');
    await publish(request('c-good', 'good', { threshold: false }), 'c-good');
    await publish(request('c-bad', 'bad', { threshold: false }), 'c-bad');

    const verdicts = byRequest(await waitForVerdicts(4));
    expect(verdicts.size).toBe(4);
    // Four count checks (8 sub-queries with the primaries) fold into one batched call.
    expect(s.requestCount).toBe(1);

    const good = verdicts.get('r-good');
    expect(good?.outcome).toBe(AnalysisOutcome.SUCCESSFUL);
    expect(good?.evidence?.canary).toMatchObject({ totalCount: 20_000n, badCount: 0n });
    expect(good?.evidence?.thresholdRange?.min).toBe(99);
    expect(good?.evidence?.lowerBound).toBeGreaterThan(99);
    expect(good?.evidence?.windowEnd?.seconds).toBe(BigInt(windowEnd / 1000));
    expect(good?.evidence?.query).toContain('trace.http.request.hits');

    const bad = verdicts.get('r-bad');
    expect(bad?.outcome).toBe(AnalysisOutcome.FAILED);
    expect(bad?.evidence?.canary).toMatchObject({ totalCount: 20_000n, badCount: 1000n });
    expect(bad?.evidence?.value).toBeCloseTo(95, 5);
    expect(bad?.releaseId).toBe('release-bad');
    expect(bad?.cluster).toBe('eu-1');
    expect(bad?.checkName).toBe('request-success-rate');

    const compareGood = verdicts.get('c-good');
    expect(compareGood?.outcome).toBe(AnalysisOutcome.SUCCESSFUL);
    const compareBad = verdicts.get('c-bad');
    expect(compareBad?.outcome).toBe(AnalysisOutcome.FAILED);
    expect(compareBad?.evidence?.primary).toMatchObject({ totalCount: 20_000n, badCount: 20n });
    expect(compareBad?.message).toContain('worse');

    expect((await waitForAcks()).num_ack_pending).toBe(0);
  });

  it('accumulates comparison counts across rounds per release, cluster and check', async () => {
    await given();
    await publish(
      request('c1', 'good', { threshold: false, endMs: windowEnd - MINUTE, release: 'rel' }),
      'c1',
    );
    await waitForVerdicts(1);
    await publish(request('c2', 'good', { threshold: false, release: 'rel' }), 'c2');
    const verdicts = byRequest(await waitForVerdicts(2));
    expect(verdicts.get('c1')?.evidence?.canary?.totalCount).toBe(20_000n);
    expect(verdicts.get('c2')?.evidence?.canary?.totalCount).toBe(40_000n);
    expect(verdicts.get('c2')?.evidence?.primary).toMatchObject({
      totalCount: 40_000n,
      badCount: 40n,
    });
  });

  it('continues the sequential test after a restart: counts persisted in a KV bucket', async () => {
    const s = await given({}, { persistent: true });
    await publish(
      request('k1', 'bad', { threshold: false, endMs: windowEnd - MINUTE, release: 'rel' }),
      'k1',
    );
    await waitForVerdicts(1);
    await waitForAcks();
    await service?.stop();
    // A new analyzer process: nothing in memory, the same bucket.
    await given({}, { persistent: true, existing: s });
    await publish(request('k2', 'bad', { threshold: false, release: 'rel' }), 'k2');
    const verdicts = byRequest(await waitForVerdicts(2));
    const second = verdicts.get('k2');
    expect(second?.evidence?.canary).toMatchObject({ totalCount: 40_000n, badCount: 2000n });
    expect(second?.evidence?.primary).toMatchObject({ totalCount: 40_000n, badCount: 40n });
    // Both looks are recorded with the verdict, and re-judging it gives the same verdict.
    expect(second?.samples?.windows.map((w) => w.canary?.totalCount)).toEqual([20_000n, 20_000n]);
    const again = second === undefined ? undefined : rejudgeVerdict(second);
    expect(again?.message).toBe(second?.message);
    expect(again?.statistics?.sequential?.looks).toBe(2);
  });

  it('stores one verdict for a re-delivered request (Nats-Msg-Id derived from the request id)', async () => {
    await given();
    await publish(request('r-1', 'bad'), 'r-1');
    await waitForVerdicts(1);
    // The same request again, as a redelivery after a crash between publish and ack would be.
    await publish(request('r-1', 'bad'), 'r-1-redelivered');
    await waitForAcks();
    await new Promise((r) => setTimeout(r, 300));

    const verdicts = await storedVerdicts();
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]?.msgId).toBe(verdictMsgId('r-1'));
    expect(verdicts[0]?.verdict.outcome).toBe(AnalysisOutcome.FAILED);
  });

  it('turns a spent Datadog limit into Error verdicts with retryAfterMs, never Failed', async () => {
    const s = await given({
      limits: { v2Timeseries: { name: 'query_timeseries', limit: 2, periodSeconds: 3600 } },
    });
    // Another tool of the organisation spends the limit first.
    const other = createDatadogProvider({ baseUrl: s.url, ...KEYS });
    for (let i = 0; i < 2; i++) {
      await other.query({ query: 'sum:trace.http.request.hits{*}', timeMs: Date.now() }, signal);
    }
    for (const [id, workload, threshold] of [
      ['t-good', 'good', true],
      ['t-bad', 'bad', true],
      ['t-cmp', 'bad', false],
    ] as const) {
      await publish(request(id, workload, { threshold }), id);
    }

    const verdicts = await waitForVerdicts(3);
    expect(verdicts).toHaveLength(3);
    for (const { verdict } of verdicts) {
      expect(verdict.outcome).toBe(AnalysisOutcome.ERROR);
      expect(verdict.retryAfterMs).toBeGreaterThan(0);
      expect(verdict.message).toContain('throttled');
    }
    expect(verdicts.some((v) => v.verdict.outcome === AnalysisOutcome.FAILED)).toBe(false);
    expect((await waitForAcks()).num_ack_pending).toBe(0);
  });

  it('survives malformed requests: drops those without an id, answers the others with Error', async () => {
    await given();
    await publish('not json at all', 'garbage-1');
    await publish(JSON.stringify({ requestId: 'm-1', bogusField: 1 }), 'm-1');
    await publish(
      toJsonString(analysisRequestSchema, { ...request('m-2', 'good'), checkName: 'made-up' }),
      'm-2',
    );
    await publish(request('after', 'good'), 'after');

    const verdicts = byRequest(await waitForVerdicts(3));
    expect(verdicts.get('m-1')?.outcome).toBe(AnalysisOutcome.ERROR);
    expect(verdicts.get('m-1')?.message).toContain('not an AnalysisRequest');
    expect(verdicts.get('m-2')?.outcome).toBe(AnalysisOutcome.ERROR);
    expect(verdicts.get('m-2')?.message).toContain('unknown check');
    expect(verdicts.get('after')?.outcome).toBe(AnalysisOutcome.SUCCESSFUL);
    expect((await waitForAcks()).num_ack_pending).toBe(0);
  });
});
