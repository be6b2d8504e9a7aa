/**
 * The pieces `dev.ts` wires on the in-process bus (engine, bus ingest, outbox relay, the real agent
 * on a simulated cluster, the HTTP API), in this process:
 *
 * - a trace follows a decision as it does across NATS (docs/observability.md), with tracing on
 *   through the in-memory exporter: an operator applies the Rollout over the HTTP API with a
 *   `traceparent`, and the bootstrap release it decides, the relay's publish, the agent's command
 *   handling with its Kubernetes calls, and the orchestrator's ingest of the result are all in the
 *   caller's trace;
 * - a restarted agent reads its targets' routes back and publishes them (`resume.ts`), as the
 *   agent's own `main.ts` wires it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventStore, OutboxRelay, openPGliteEventStore } from '@aviary/event-store';
import { InProcessBus, messagingNamespace } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiServer } from '../api/server.ts';
import { FakeReadModel } from '../api/test-fakes.ts';
import { Engine } from '../engine/engine.ts';
import { jetStreamOutboxPublisher } from '../outbox-publisher.ts';
import { startBusIngest } from './bus-ingest.ts';
import { DEMO_APP, startDemoClusters } from './clusters.ts';
import { startAgents } from './services.ts';

const logger = createLogger({ service: 'dev-tracing-test', level: 'silent' });
const namespace = messagingNamespace();
const TOKEN = 'operator-token-0123456789';
const EU_1 = [{ name: 'eu-1', labels: { region: 'eu' } }];
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

const ROLLOUT = `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: ${DEMO_APP.name}, namespace: ${DEMO_APP.namespace} }
spec:
  targetRef: { kind: Deployment, name: ${DEMO_APP.name} }
  provider: istio
  service: { port: 80, targetPort: http }
  analysis:
    intervalMs: 1000
    threshold: 2
    stepWeight: 50
    maxWeight: 50
    metrics:
      - { name: request-success-rate, intervalMs: 1000, thresholdRange: { min: 99 } }
  fleet:
    waves:
      - { name: all, clusters: [eu-1] }
`;

const cleanups: (() => Promise<unknown>)[] = [];
let tracing: TestTracing | undefined;
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await tracing?.stop();
  tracing = undefined;
});

/** The dev's wiring for one cluster, eu-1, up and subscribed; stopped after the test. */
async function startDevSystem() {
  const dir = await mkdtemp(join(tmpdir(), 'aviary-dev-tracing-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const clusters = await startDemoClusters({
    clusters: EU_1,
    dir,
    rps: 5,
    initialVersion: 'v1',
  });
  cleanups.push(() => clusters.close());
  const store = await openPGliteEventStore();
  cleanups.push(() => store.close());
  const controller = new AbortController();
  cleanups.push(async () => controller.abort());

  // As dev.ts wires them: everything subscribed before the relay publishes.
  const bus = new InProcessBus();
  const engine = new Engine({
    store,
    namespace,
    logger,
    publishCommand: async (subject, payload, msgId) => {
      await bus.publish(subject, payload, { msgId });
    },
  });
  await engine.recover();
  engine.start();
  cleanups.push(async () => engine.stop());
  const ingest = startBusIngest({ bus, namespace, engine, logger });
  cleanups.push(() => ingest.stop());
  const agents = await startAgents({
    transport: { kind: 'in-process', bus },
    namespace,
    sim: clusters.sim,
    clusters: EU_1,
    heartbeatIntervalMs: 60_000,
    leaseMs: 60_000,
    logger,
    signal: controller.signal,
  });
  cleanups.push(() => agents.stop());
  const relay = new OutboxRelay({
    outbox: store.outbox,
    publisher: jetStreamOutboxPublisher(bus),
    logger,
    pollIntervalMs: 50,
  });
  relay.start();
  cleanups.push(() => relay.stop());
  const api = createApiServer({
    operations: engine,
    readModel: new FakeReadModel(),
    store,
    tokens: `otto:operator:${TOKEN}`,
    logger,
  });
  const { url } = await api.listen(0);
  cleanups.push(() => api.close());
  const startAgentsAgain = async () => {
    const again = await startAgents({
      transport: { kind: 'in-process', bus },
      namespace,
      sim: clusters.sim,
      clusters: EU_1,
      heartbeatIntervalMs: 60_000,
      leaseMs: 60_000,
      logger,
      signal: controller.signal,
    });
    cleanups.push(() => again.stop());
    return again;
  };
  return { bus, store, url, agents, startAgentsAgain };
}

/** Waits until the agent has reported the cluster and what its Deployment runs (v1). */
async function reported(store: EventStore): Promise<void> {
  await expect
    .poll(
      async () =>
        (await store.readAll()).events.filter((e) => e.type === 'ObservationRecorded').length,
      { timeout: 20_000 },
    )
    .toBeGreaterThanOrEqual(2);
}

/** Applies the Rollout over the HTTP API, as an operator would, with `headers`. */
async function apply(url: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${url}/api/v1/applications`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/yaml',
      ...headers,
    },
    body: ROLLOUT,
  });
  return response.status;
}

describe('aviary dev tracing', () => {
  it('follows an operator’s apply from the HTTP API through the in-process bus to the agent’s Kubernetes calls and back', {
    timeout: 60_000,
  }, async () => {
    tracing = startTestTracing('aviary-dev');
    const { store, url } = await startDevSystem();
    await reported(store);
    expect(await apply(url, { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` })).toBe(201);

    // The bootstrap release's first command, handled by the agent and its result ingested.
    const inTrace = async () =>
      (await tracing?.spans())?.filter((s) => s.spanContext().traceId === TRACE_ID) ?? [];
    const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
    const cmd = 'aviary.v1.cluster.{cluster}.cmd';
    const result = 'aviary.v1.cluster.{cluster}.obs.command-result';
    await expect
      .poll(async () => named(await inTrace(), `process ${result}`).length, { timeout: 30_000 })
      .toBeGreaterThan(0);
    const spans = await inTrace();
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan | undefined) =>
      byId.get(parentSpanId(s as ReadableSpan) ?? '');

    const request = named(spans, 'POST /api/v1/applications')[0];
    expect(parentSpanId(request as ReadableSpan)).toBe(CALLER_SPAN);
    // Decided while serving the request, published by the relay later, handled by the agent.
    const create = named(spans, `create ${cmd}`)[0];
    expect(parentOf(create)).toBe(request);
    const publish = named(spans, `publish ${cmd}`).find((s) => parentOf(s) === create);
    expect(publish?.attributes['messaging.nats.stream']).toBe('in-process');
    const handled = named(spans, `process ${cmd}`).find((s) => parentOf(s) === publish);
    expect(handled?.attributes).toMatchObject({ 'aviary.cluster': 'eu-1' });
    const kube = spans.filter((s) => s.name.startsWith('kube ') && parentOf(s) === handled);
    expect(kube.length).toBeGreaterThan(0);
    // …and back: the result's publish by the agent, ingested by the orchestrator.
    const answered = named(spans, `publish ${result}`).find((s) => parentOf(s) === handled);
    const ingested = named(spans, `process ${result}`).find((s) => parentOf(s) === answered);
    expect(ingested).toBeDefined();
  });

  it('resumes a restarted agent: it reads each target’s routes back and publishes them', {
    timeout: 60_000,
  }, async () => {
    const { bus, store, url, agents, startAgentsAgain } = await startDevSystem();
    await reported(store);
    expect(await apply(url)).toBe(201);
    // The bootstrap release finishes: the primary and the routing objects exist.
    await expect
      .poll(async () => (await store.readAll()).events.map((e) => e.type), { timeout: 30_000 })
      .toContain('ReleaseFinished');

    await agents.stop();
    const resumed: { observationId?: string; routesApplied?: { commandId?: string } }[] = [];
    bus.subscribe(`${namespace.subjectRoot}.v1.cluster.eu-1.obs.routes-applied`, (m) => {
      resumed.push(JSON.parse(new TextDecoder().decode(m.payload)));
    });
    await startAgentsAgain();
    await expect.poll(() => resumed.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(resumed[0]?.observationId).toMatch(
      new RegExp(`^eu-1:routes-resumed:${DEMO_APP.namespace}/${DEMO_APP.name}:\\d+$`),
    );
    expect(resumed[0]?.routesApplied?.commandId ?? '').toBe('');
  });
});
