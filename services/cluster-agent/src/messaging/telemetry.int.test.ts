import type { KubeSim } from '@aviary/kube-sim';
import {
  commandSubject,
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
import { CommandOutcome, type Observation } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import { type Agent, createAgent } from '../agent.ts';
import { createCommandHandler } from '../commands.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { guardKubeClient } from '../kube/permissions.ts';
import { createLease } from '../lease.ts';
import {
  command,
  createTrackedConfigs,
  NS,
  simulatedCluster,
  targetDeployment,
} from '../testing.ts';
import {
  createObservationPublisher,
  decodeObservation,
  subjectOfObservation,
} from './observation-publisher.ts';

const signal = new AbortController().signal;
const quiet = createLogger({ service: 'agent-telemetry-test', level: 'silent' });

let sim: KubeSim;
let kube: KubeClient;
let nats: NatsClient;
let namespace: MessagingNamespace;
let tracing: TestTracing;
let metrics: MetricsServer;
let agent: Agent | undefined;
const received: { observation: Observation; traceparent: string | undefined }[] = [];
let stopReading: () => Promise<void>;

beforeEach(async () => {
  tracing = startTestTracing('cluster-agent');
  ({ sim, kube } = await simulatedCluster());
  await createTrackedConfigs(kube, signal);
  await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
  namespace = messagingNamespace(uniqueName('agenttel'));
  nats = await connectNats({
    servers: testEnv.natsUrl,
    name: 'agent-telemetry-test',
    logger: quiet,
  });
  await ensureStreams(await nats.jetstreamManager(), { namespace });
  received.length = 0;
  const reader = await nats.jetstream.consumers.get(streamNames(namespace).observations);
  const messages = await reader.consume();
  const done = (async () => {
    for await (const m of messages) {
      received.push({
        observation: decodeObservation(m.data),
        traceparent: m.headers?.get('traceparent') || undefined,
      });
    }
  })();
  stopReading = async () => {
    await messages.close();
    await done;
  };
  metrics = await startMetricsServer({ port: 0, host: '127.0.0.1' });
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await stopReading();
  const jsm = await nats.jetstreamManager();
  for (const stream of Object.values(streamNames(namespace))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await nats.close();
  await sim.close();
  await metrics.stop();
  await tracing.stop();
});

function startAgent(): Agent {
  const nowMs = () => Date.now();
  const guarded = guardKubeClient(kube);
  const publish = createObservationPublisher(createJetStreamPublisher(nats.jetstream));
  const started = createAgent({
    cluster: 'eu-1',
    nats,
    messagingNamespace: namespace,
    handler: createCommandHandler({ kube: guarded, cluster: 'eu-1', nowMs }),
    publish,
    lease: createLease({
      cluster: 'eu-1',
      leaseMs: 60_000,
      nowMs,
      routerFor: () => {
        throw new Error('no lease lapse in this test');
      },
      report: (o, s) => publish(subjectOfObservation('eu-1', o, namespace), o, s),
      logger: quiet,
    }),
    heartbeat: { intervalMs: 60_000, labels: {}, agentVersion: '0.1.0' },
    logger: quiet,
    nowMs,
    consumerRetryMs: 100,
  });
  started.start();
  return started;
}

/** The value of one sample on the `/metrics` page, 0 when absent. */
async function scrape(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(metrics.url)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const pairs = inner.split(',');
    if (wanted.every((w) => pairs.includes(w))) return Number(line.slice(line.indexOf('}') + 1));
  }
  return 0;
}

describe('the agent’s traces and metrics', () => {
  it('continues the orchestrator’s trace through NATS to its Kubernetes calls and back', async () => {
    agent = startAgent();
    const init = command({
      initializeTarget: {
        router: 'ROUTER_KIND_ISTIO',
        service: { port: 80, targetPort: 'http', hosts: ['podinfo.example.com'] },
      },
    });
    const commandsBefore = await scrape('aviary_agent_commands_total', {
      cluster: 'eu-1',
      action: 'initializeTarget',
      outcome: 'succeeded',
    });
    const createsBefore = await scrape('aviary_agent_kube_requests_total', {
      resource: 'deployments',
      verb: 'create',
      outcome: 'created',
    });
    const resultsBefore = await scrape('aviary_agent_observations_published_total', {
      cluster: 'eu-1',
      kind: 'command-result',
    });

    // As the orchestrator does: the context stored at decision time, published later.
    const headers = await withSpan('orchestrator decision', {}, () =>
      headersWithSpan('create command', { kind: SpanKinds.Producer }),
    );
    await createJetStreamPublisher(nats.jetstream).publish(
      commandSubject('eu-1', namespace),
      new TextEncoder().encode(JSON.stringify(init)),
      { msgId: init.commandId ?? '', headers },
    );
    await expect
      .poll(() => received.find((r) => r.observation.kind.case === 'commandResult'), {
        timeout: 15_000,
      })
      .toBeDefined();
    const result = received.find((r) => r.observation.kind.case === 'commandResult');
    expect(
      result?.observation.kind.case === 'commandResult' && result.observation.kind.value.outcome,
    ).toBe(CommandOutcome.SUCCEEDED);

    const spans = await tracing.spans();
    const decision = await tracing.span('orchestrator decision');
    const create = await tracing.span('create command');
    const root = namespace.subjectRoot;
    const publishCommand = await tracing.span(`publish ${root}.v1.cluster.{cluster}.cmd`);
    const processCommand = await tracing.span(`process ${root}.v1.cluster.{cluster}.cmd`);
    const publishResult = await tracing.span(
      `publish ${root}.v1.cluster.{cluster}.obs.command-result`,
    );
    const kubeCalls = spans.filter((s) => s.name.startsWith('kube '));
    const traceId = decision.spanContext().traceId;

    expect(parentSpanId(create)).toBe(decision.spanContext().spanId);
    expect(parentSpanId(publishCommand)).toBe(create.spanContext().spanId);
    expect(parentSpanId(processCommand)).toBe(publishCommand.spanContext().spanId);
    expect(processCommand.attributes).toMatchObject({
      'aviary.cluster': 'eu-1',
      'aviary.command.id': init.commandId,
      'aviary.command.action': 'initializeTarget',
      'aviary.command.outcome': 'succeeded',
      'aviary.release.id': 'rel-1',
    });
    expect(kubeCalls.map((s) => s.name)).toContain('kube create deployments');
    for (const span of kubeCalls) {
      expect(span.spanContext().traceId).toBe(traceId);
      expect(parentSpanId(span)).toBe(processCommand.spanContext().spanId);
      expect(span.kind).toBe(SpanKinds.Client);
    }
    // The result goes back in the same trace: its message carries the agent's publish span.
    expect(parentSpanId(publishResult)).toBe(processCommand.spanContext().spanId);
    expect(result?.traceparent).toBe(`00-${traceId}-${publishResult.spanContext().spanId}-01`);

    expect(
      await scrape('aviary_agent_commands_total', {
        cluster: 'eu-1',
        action: 'initializeTarget',
        outcome: 'succeeded',
      }),
    ).toBe(commandsBefore + 1);
    expect(
      await scrape('aviary_agent_kube_requests_total', {
        resource: 'deployments',
        verb: 'create',
        outcome: 'created',
      }),
    ).toBeGreaterThan(createsBefore);
    expect(
      await scrape('aviary_agent_observations_published_total', {
        cluster: 'eu-1',
        kind: 'command-result',
      }),
    ).toBe(resultsBefore + 1);
  });
});
