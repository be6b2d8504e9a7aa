/**
 * The per-cluster NATS users (natsServerConfig) on a real nats-server of this test's own: each
 * service's real code (the orchestrator's ensureStreams and ingest, the analyzer's analysis
 * service, the agent's command consumer and observation publishing) does its work under its
 * user, and an agent is refused everything that belongs to another cluster.
 */
import {
  agentInboxPrefix,
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  DEFAULT_MESSAGING_NAMESPACE,
  ensureStreams,
  type NatsClient,
  natsServerConfig,
  natsUsers,
  observationSubject,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { AnalysisPriority, analysisRequestSchema, RouterKind, WorkloadKind } from '@aviary/proto';
import { create, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScheduler } from '../../services/analyzer/src/scheduler/index.ts';
import {
  type AnalysisService,
  startAnalysisService,
} from '../../services/analyzer/src/service/analysis-service.ts';
import {
  type CommandConsumer,
  type CommandMessage,
  startCommandConsumer,
} from '../../services/cluster-agent/src/messaging/command-consumer.ts';
import { type Ingest, startIngest } from '../../services/orchestrator/src/engine/ingest.ts';
import { type OwnNatsServer, randomPasswords, startOwnNatsServer } from './nats-server.ts';

const CLUSTERS = ['eu-1', 'eu-2'] as const;
const logger = createLogger({ service: 'nats-permissions-test', level: 'silent' });
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const streams = streamNames();

let server: OwnNatsServer;
let passwords: Record<string, string>;
const clients: NatsClient[] = [];
const stoppers: (() => Promise<unknown>)[] = [];

/** What the orchestrator's ingest handed to the engine. */
const ingested = { observations: [] as unknown[], verdicts: [] as unknown[] };
/** Commands each agent's consumer received. */
const received: Record<string, string[]> = { 'eu-1': [], 'eu-2': [] };

async function connectAs(user: string, inboxPrefix?: string): Promise<NatsClient> {
  const variable = natsUsers({ clusters: CLUSTERS }).find((u) => u.user === user)?.passwordVariable;
  const client = await connectNats({
    servers: server.url,
    user,
    pass: passwords[variable ?? ''] ?? '',
    name: `test-${user}`,
    logger,
    maxReconnectAttempts: 0,
    apiTimeoutMs: 3000,
    ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
  });
  clients.push(client);
  return client;
}

/** The messages of an error and its causes. */
function messages(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.join(' <- ');
}

async function expectDenied(attempt: Promise<unknown>): Promise<void> {
  const outcome = await attempt.then(
    () => 'allowed',
    (error: unknown) => messages(error),
  );
  expect(outcome).toMatch(/permissions? violation/i);
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function agentConsumer(client: NatsClient, cluster: string): CommandConsumer {
  const consumer = startCommandConsumer(
    { nats: client, namespace: DEFAULT_MESSAGING_NAMESPACE, cluster, logger, retryMs: 200 },
    async (message: CommandMessage) => {
      received[cluster]?.push(decoder.decode(message.data));
      message.ack();
    },
  );
  stoppers.push(() => consumer.stop());
  return consumer;
}

beforeAll(async () => {
  const users = natsUsers({ clusters: CLUSTERS });
  passwords = randomPasswords(users.map((u) => u.passwordVariable));
  server = await startOwnNatsServer(
    ({ port, storeDir }) =>
      natsServerConfig({
        clusters: CLUSTERS,
        listen: `127.0.0.1:${port}`,
        httpListen: null,
        storeDir,
        serverName: 'aviary-permissions-test',
      }),
    passwords,
  );
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  for (const client of clients) await client.close().catch(() => undefined);
  await server?.stop();
});

describe('NATS users per cluster (a nats-server of its own)', () => {
  it('refuses a client without credentials, or with another user’s password', async () => {
    const anonymous = connectNats({
      servers: server.url,
      name: 'anonymous',
      logger,
      maxReconnectAttempts: 0,
    });
    await expect(anonymous).rejects.toThrow(/authorization/i);
    const wrong = connectNats({
      servers: server.url,
      user: 'agent-eu-1',
      pass: passwords.NATS_PASS_AGENT_EU_2 ?? '',
      name: 'wrong',
      logger,
      maxReconnectAttempts: 0,
    });
    await expect(wrong).rejects.toThrow(/authorization/i);
  });

  it('lets the orchestrator create the streams, publish commands and ingest observations', async () => {
    const orchestrator = await connectAs('orchestrator');
    const ensured = await ensureStreams(await orchestrator.jetstreamManager());
    expect(ensured.map((s) => s.action)).toEqual(['created', 'created', 'created']);
    // A second run (every start) reads and leaves them alone.
    const again = await ensureStreams(await orchestrator.jetstreamManager());
    expect(again.map((s) => s.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    const ingest: Ingest = await startIngest({
      nats: orchestrator,
      namespace: DEFAULT_MESSAGING_NAMESPACE,
      logger,
      engine: {
        ingestObservation: async (json) => {
          ingested.observations.push(json);
        },
        recordVerdict: async (json) => {
          ingested.verdicts.push(json);
        },
      },
    });
    stoppers.push(() => ingest.stop());

    const publisher = createJetStreamPublisher(orchestrator.jetstream);
    for (const cluster of CLUSTERS) {
      const ack = await publisher.publish(
        commandSubject(cluster),
        encoder.encode(`command for ${cluster}`),
        { msgId: `cmd-${cluster}-1` },
      );
      expect(ack.stream).toBe(streams.commands);
    }
  });

  it('lets the eu-1 agent consume its own commands and publish its observations', async () => {
    const agent = await connectAs('agent-eu-1', agentInboxPrefix('eu-1'));
    agentConsumer(agent, 'eu-1');
    await until('eu-1 to receive its command', () => received['eu-1']?.length === 1);
    expect(received['eu-1']).toEqual(['command for eu-1']);

    const publish = createJetStreamPublisher(agent.jetstream);
    const ack = await publish.publish(
      observationSubject('eu-1', 'heartbeat'),
      encoder.encode(JSON.stringify({ observationId: 'eu-1:hb:1', cluster: 'eu-1' })),
      { msgId: 'eu-1:hb:1' },
    );
    expect(ack.stream).toBe(streams.observations);
    await until('the orchestrator to ingest it', () => ingested.observations.length === 1);
    expect(ingested.observations).toEqual([{ observationId: 'eu-1:hb:1', cluster: 'eu-1' }]);
  });

  it('refuses the eu-1 agent publishing as eu-2, or commands, or verdicts', async () => {
    const agent = await connectAs('agent-eu-1', agentInboxPrefix('eu-1'));
    const publish = createJetStreamPublisher(agent.jetstream);
    const body = encoder.encode('{}');
    await expectDenied(
      publish.publish(observationSubject('eu-2', 'heartbeat'), body, { msgId: 'forged-1' }),
    );
    await expectDenied(
      publish.publish(observationSubject('eu-2', 'command-result'), body, { msgId: 'forged-2' }),
    );
    // Not even commands for itself: only the orchestrator commands.
    await expectDenied(publish.publish(commandSubject('eu-1'), body, { msgId: 'forged-3' }));
    await expectDenied(publish.publish('aviary.v1.analysis.res', body, { msgId: 'forged-4' }));
    const info = await (await agent.jetstreamManager()).streams.info(streams.observations).then(
      (i) => i.state.messages,
      (error: unknown) => messages(error),
    );
    // Nothing forged was stored, and the agent cannot even look at the stream.
    expect(String(info)).toMatch(/permissions? violation/i);
  });

  it('refuses the eu-1 agent reading eu-2’s commands, by any path', async () => {
    const agent = await connectAs('agent-eu-1', agentInboxPrefix('eu-1'));
    const jsm = await agent.jetstreamManager();
    // The durable consumer of eu-2, its next message, a consumer of its own on eu-2's subject.
    await expectDenied(jsm.consumers.info(streams.commands, 'agent-eu-2'));
    await expectDenied(agent.jetstream.consumers.get(streams.commands, 'agent-eu-2'));
    await expectDenied(
      jsm.consumers.add(streams.commands, {
        durable_name: 'agent-eu-1',
        filter_subject: commandSubject('eu-2'),
        ack_policy: 'explicit',
      }),
    );
    await expectDenied(
      jsm.consumers.add(streams.commands, {
        durable_name: 'sneaky',
        filter_subject: commandSubject('eu-2'),
        ack_policy: 'explicit',
      }),
    );
    await expectDenied(
      agent.connection.request(`$JS.API.CONSUMER.MSG.NEXT.${streams.commands}.agent-eu-2`, '1'),
    );
    // Plain subscriptions: the subject itself, the shared inboxes, eu-2's private inbox.
    for (const subject of [
      commandSubject('eu-2'),
      'aviary.>',
      '_INBOX.>',
      `${agentInboxPrefix('eu-2')}.>`,
      '$JS.ACK.>',
    ]) {
      const sub = agent.connection.subscribe(subject);
      const closed = await sub.closed;
      expect(messages(closed), subject).toMatch(/permissions? violation/i);
    }
    // eu-2's command is still there for eu-2's own agent.
    const eu2 = await connectAs('agent-eu-2', agentInboxPrefix('eu-2'));
    agentConsumer(eu2, 'eu-2');
    await until('eu-2 to receive its command', () => received['eu-2']?.length === 1);
    expect(received['eu-2']).toEqual(['command for eu-2']);
    expect(received['eu-1']).toEqual(['command for eu-1']);
  });

  it('refuses an agent that keeps the shared inbox prefix (its replies would be readable)', async () => {
    const agent = await connectAs('agent-eu-1');
    await expectDenied(agent.jetstreamManager());
  });

  it('lets the analyzer answer the orchestrator’s analysis requests', async () => {
    const analyzer = await connectAs('analyzer');
    await ensureStreams(await analyzer.jetstreamManager());
    const service: AnalysisService = await startAnalysisService(
      {
        nats: analyzer,
        namespace: DEFAULT_MESSAGING_NAMESPACE,
        scheduler: createScheduler({ providers: [] }),
        providers: [],
        requests: { templates: {}, providers: {} },
        logger,
        roundIntervalMs: 1000,
        gatherMs: 50,
      },
      new AbortController().signal,
    );
    stoppers.push(() => service.stop());

    const orchestrator = await connectAs('orchestrator');
    const endMs = Date.now() - 120_000;
    const request = create(analysisRequestSchema, {
      requestId: 'req-1',
      releaseId: 'release-1',
      cluster: 'eu-1',
      workload: { namespace: 'shop', name: 'cart', kind: WorkloadKind.DEPLOYMENT },
      checkName: 'request-success-rate',
      thresholdRange: { min: 99 },
      intervalMs: 60_000,
      windowStart: timestampFromMs(endMs - 60_000),
      windowEnd: timestampFromMs(endMs),
      priority: AnalysisPriority.ROLLBACK_RELEVANT,
      router: RouterKind.ISTIO,
    });
    await createJetStreamPublisher(orchestrator.jetstream).publish(
      'aviary.v1.analysis.req',
      encoder.encode(toJsonString(analysisRequestSchema, request)),
      { msgId: 'req-1' },
    );
    // No metrics provider is configured: the analyzer answers with an Error verdict, which the
    // orchestrator's ingest (under its own user) receives.
    await until('the verdict to reach the orchestrator', () => ingested.verdicts.length === 1);
    expect(ingested.verdicts[0]).toMatchObject({ requestId: 'req-1' });

    // And the analyzer cannot command clusters or publish observations.
    const publish = createJetStreamPublisher(analyzer.jetstream);
    await expectDenied(
      publish.publish(commandSubject('eu-1'), encoder.encode('{}'), { msgId: 'x' }),
    );
    await expectDenied(
      publish.publish(observationSubject('eu-1', 'heartbeat'), encoder.encode('{}'), {
        msgId: 'y',
      }),
    );
  });
});
