import {
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  type MessagingNamespace,
  messagingNamespace,
  type NatsClient,
  observationSubject,
  streamNames,
} from '@aviary/messaging';
import { createLogger, type MetricsServer, Registry, startMetricsServer } from '@aviary/platform';
import type { WebhookCallJson } from '@aviary/proto';
import { AckPolicy } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';
import { instrumentEventStore, instrumentWebhookCaller, watchOrchestrator } from './metrics.ts';
import { Projector } from './projections/projector.ts';
import {
  loadScenario,
  type ProjectionHarness,
  pgliteHarness,
  storeScenario,
} from './projections/test-support.ts';
import { HttpWebhookCaller } from './webhooks/caller.ts';
import { reply, startTestServer, type TestServer } from './webhooks/test-server.ts';

const quiet = createLogger({ service: 'orchestrator-metrics-test', level: 'silent' });
const pglite = pgliteHarness();
let harness: ProjectionHarness | undefined;
let nats: NatsClient;
let namespace: MessagingNamespace;
let registry: Registry;
let metrics: MetricsServer;
let webhooks: TestServer | undefined;

beforeEach(async () => {
  namespace = messagingNamespace(uniqueName('orchmetrics'));
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'orch-metrics-test', logger: quiet });
  await ensureStreams(await nats.jetstreamManager(), { namespace });
  registry = new Registry();
  metrics = await startMetricsServer({ port: 0, host: '127.0.0.1', registry });
});

afterEach(async () => {
  await metrics.stop();
  await webhooks?.close();
  webhooks = undefined;
  const jsm = await nats.jetstreamManager();
  for (const stream of Object.values(streamNames(namespace))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await nats.close();
  await harness?.close();
  harness = undefined;
});

afterAll(async () => {
  await pglite.dispose();
});

/** Every sample of `name` on the `/metrics` page, by its label text. */
async function scrape(name: string): Promise<Map<string, number>> {
  const text = await (await fetch(metrics.url)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      const cut = line.lastIndexOf(' ');
      samples.set(line.slice(name.length, cut), Number(line.slice(cut + 1)));
    }
  }
  return samples;
}

describe('the orchestrator’s metrics', () => {
  it('count decisions, and read releases, canaries and the outbox at each scrape', async () => {
    const h = await pglite.open();
    harness = h;
    watchOrchestrator({ projections: h.db, store: h.store }, registry);
    expect(await scrape('aviary_orchestrator_releases')).toEqual(new Map());

    // A release stopped half-way (before it finishes), appended through the counting store.
    const run = loadScenario('fleet-wave-2-failure.yaml');
    const cut = run.history.findIndex((e) => e.type === 'WaveSucceeded');
    expect(cut).toBeGreaterThan(0);
    await storeScenario(instrumentEventStore(h.store, registry), {
      ...run,
      history: run.history.slice(0, cut),
    });
    const projector = new Projector({ store: h.store, db: h.db, pollIntervalMs: 20 });
    projector.start();
    try {
      await expect
        .poll(
          async () => (await scrape('aviary_orchestrator_releases')).get('{status="running"}'),
          {
            timeout: 15_000,
          },
        )
        .toBe(1);
    } finally {
      await projector.stop();
    }
    const canaries = await scrape('aviary_orchestrator_canaries');
    expect([...canaries.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect([...canaries.keys()].every((k) => /^\{phase="CANARY_PHASE_[A-Z_]+"\}$/.test(k))).toBe(
      true,
    );

    const appended = await scrape('aviary_orchestrator_events_appended_total');
    const stored = run.history.slice(0, cut);
    expect(appended.get('{type="ReleaseStarted"}')).toBe(1);
    expect(appended.get('{type="WaveStarted"}')).toBe(
      stored.filter((e) => e.type === 'WaveStarted').length,
    );
    expect(appended.get('{type="RolloutSpecApplied"}')).toBe(1);

    const depth = await h.store.outbox.depth();
    expect((await scrape('aviary_orchestrator_outbox_depth')).get('')).toBe(depth);
    const spec = run.history.find((e) => e.type === 'ReleaseStarted')?.data as { spec?: unknown };
    await h.store.append(
      'rollout-metrics.test',
      [
        {
          type: 'RolloutSpecApplied',
          data: { rollout: { namespace: 'metrics', name: 'test' }, spec: spec.spec, specHash: 'h' },
        },
      ],
      {
        expectedVersion: 'no_stream',
        outbox: [{ id: 'o-1', subject: 'aviary.v1.analysis.req', payload: new Uint8Array() }],
      },
    );
    expect((await scrape('aviary_orchestrator_outbox_depth')).get('')).toBe(depth + 1);
  });

  it('reads the lag of the ingest’s durable consumers from NATS', async () => {
    watchOrchestrator({ nats, namespace }, registry);
    const jsm = await nats.jetstreamManager();
    const names = streamNames(namespace);
    await jsm.consumers.add(names.observations, {
      durable_name: 'orchestrator-observations',
      ack_policy: AckPolicy.Explicit,
    });
    await jsm.consumers.add(names.analysis, {
      durable_name: 'orchestrator-verdicts',
      ack_policy: AckPolicy.Explicit,
    });
    const key = `{stream="${names.observations}",consumer="orchestrator-observations"}`;
    expect((await scrape('aviary_orchestrator_nats_consumer_pending')).get(key)).toBe(0);
    const publisher = createJetStreamPublisher(nats.jetstream);
    for (const id of ['o-1', 'o-2', 'o-3']) {
      await publisher.publish(
        observationSubject('eu-1', 'heartbeat', namespace),
        new Uint8Array(),
        {
          msgId: id,
        },
      );
    }
    expect((await scrape('aviary_orchestrator_nats_consumer_pending')).get(key)).toBe(3);
    expect(
      (await scrape('aviary_orchestrator_nats_consumer_ack_pending')).get(
        `{stream="${names.analysis}",consumer="orchestrator-verdicts"}`,
      ),
    ).toBe(0);
  });

  it('counts webhook calls by type and outcome', async () => {
    webhooks = await startTestServer();
    webhooks.handler = reply(200);
    const caller = instrumentWebhookCaller(
      new HttpWebhookCaller({
        logger: quiet,
        gateOpen: () => false,
        retryBackoff: { minMs: 1, maxMs: 1 },
      }),
      registry,
    );
    const call: WebhookCallJson = {
      requestId: 'w-1',
      cluster: 'eu-1',
      name: 'load-test',
      type: 'WEBHOOK_TYPE_PRE_ROLLOUT',
      url: `${webhooks.origin}/hook`,
      timeoutMs: 2000,
    };
    await caller.call(call, { namespace: 'web', name: 'podinfo' }, new AbortController().signal);
    webhooks.handler = reply(500);
    await caller.call(
      { ...call, requestId: 'w-2' },
      { namespace: 'web', name: 'podinfo' },
      new AbortController().signal,
    );
    const calls = await scrape('aviary_orchestrator_webhook_calls_total');
    expect(calls.get('{type="pre_rollout",outcome="passed"}')).toBe(1);
    expect(
      (calls.get('{type="pre_rollout",outcome="failed"}') ?? 0) +
        (calls.get('{type="pre_rollout",outcome="error"}') ?? 0),
    ).toBe(1);
  });
});
