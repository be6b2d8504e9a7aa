import type { KubeSim } from '@aviary/kube-sim';
import {
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  type MessagingNamespace,
  messagingNamespace,
  type NatsClient,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { CommandOutcome, type Observation, RouterKind } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';
import { type Agent, createAgent } from './agent.ts';
import { createCommandHandler } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { createLease } from './lease.ts';
import { durableNameOf } from './messaging/command-consumer.ts';
import {
  createObservationPublisher,
  decodeObservation,
  subjectOfObservation,
} from './messaging/observation-publisher.ts';
import { createRouter } from './routers/create-router.ts';
import {
  command,
  createTrackedConfigs,
  NS,
  simulatedCluster,
  sleep,
  targetDeployment,
} from './testing.ts';

const signal = new AbortController().signal;
const quiet = createLogger({ service: 'agent-test', level: 'silent' });

let sim: KubeSim;
let kube: KubeClient;
let nats: NatsClient;
let namespace: MessagingNamespace;
let observations: Observation[];
let stopReading: () => Promise<void>;
const agents: Agent[] = [];

beforeEach(async () => {
  ({ sim, kube } = await simulatedCluster());
  await createTrackedConfigs(kube, signal);
  await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);

  namespace = messagingNamespace(uniqueName('agent'));
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'agent-int-test', logger: quiet });
  await ensureStreams(await nats.jetstreamManager(), { namespace });

  // Every observation, in order, through an ordered consumer on the observation stream.
  observations = [];
  const reader = await nats.jetstream.consumers.get(streamNames(namespace).observations);
  const messages = await reader.consume();
  const done = (async () => {
    for await (const m of messages) observations.push(decodeObservation(m.data));
  })();
  stopReading = async () => {
    await messages.close();
    await done;
  };
});

afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop();
  await stopReading();
  const jsm = await nats.jetstreamManager();
  for (const stream of Object.values(streamNames(namespace))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await nats.close();
  await sim.close();
});

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger keeping every line, for assertions. */
function recordingLogger(lines: LogLine[]) {
  const at = (level: string) => (fields: object, msg: string) => {
    lines.push({ ...fields, level, msg });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function startAgent(
  options: {
    leaseMs?: number;
    heartbeatIntervalMs?: number;
    logger?: ReturnType<typeof recordingLogger>;
  } = {},
) {
  const nowMs = () => Date.now();
  const publish = createObservationPublisher(createJetStreamPublisher(nats.jetstream));
  const lease = createLease({
    cluster: 'eu-1',
    leaseMs: options.leaseMs ?? 60_000,
    nowMs,
    routerFor: (kind) => createRouter(kind, kube),
    report: (o, s) => publish(subjectOfObservation('eu-1', o, namespace), o, s),
    logger: quiet,
  });
  const agent = createAgent({
    cluster: 'eu-1',
    nats,
    messagingNamespace: namespace,
    handler: createCommandHandler({ kube, cluster: 'eu-1', nowMs }),
    publish,
    lease,
    heartbeat: {
      intervalMs: options.heartbeatIntervalMs ?? 60_000,
      labels: { region: 'eu', env: 'prod' },
      agentVersion: '0.1.0',
    },
    logger: options.logger ?? quiet,
    nowMs,
    retryDelayMs: 50,
    consumerRetryMs: 100,
  });
  agent.start();
  agents.push(agent);
  return agent;
}

const publisher = () => createJetStreamPublisher(nats.jetstream);
async function send(payload: unknown, msgId: string) {
  const bytes = new TextEncoder().encode(
    typeof payload === 'string' ? payload : JSON.stringify(payload),
  );
  await publisher().publish(commandSubject('eu-1', namespace), bytes, { msgId });
}

const results = () =>
  observations.flatMap((o) => (o.kind.case === 'commandResult' ? [o.kind.value] : []));
const resultOf = (commandId: string) => results().find((r) => r.commandId === commandId);
const routesApplied = () =>
  observations.flatMap((o) =>
    o.kind.case === 'routesApplied' ? [{ id: o.observationId, ...o.kind.value }] : [],
  );
const heartbeats = () => observations.flatMap((o) => (o.kind.case === 'heartbeat' ? [o] : []));

const initialize = () =>
  command({
    initializeTarget: {
      router: 'ROUTER_KIND_ISTIO',
      service: { port: 80, targetPort: 'http', hosts: ['podinfo.example.com'] },
    },
  });
const setWeights = (primary: number, canary: number) =>
  command({
    setRoutes: {
      router: 'ROUTER_KIND_ISTIO',
      serviceName: 'podinfo',
      routes: { primaryWeightPercent: primary, canaryWeightPercent: canary },
    },
  });

async function virtualServiceWeights() {
  const vs = await kube.get('VirtualService', NS, 'podinfo', signal);
  const http = vs?.spec?.http as { route: { weight: number }[] }[] | undefined;
  return http?.[0]?.route.map((r) => r.weight);
}

async function commandsPending() {
  const jsm = await nats.jetstreamManager();
  const info = await jsm.consumers.info(streamNames(namespace).commands, durableNameOf('eu-1'));
  return info.num_pending + info.num_ack_pending;
}

/** Given a bootstrapped target at 10% canary traffic, set by commands through NATS. */
async function givenCanaryAt10Percent() {
  const init = initialize();
  const routes = setWeights(90, 10);
  await send(init, init.commandId ?? '');
  // The orchestrator sends the next command of a canary once the previous one is done.
  await expect.poll(() => resultOf(init.commandId ?? ''), { timeout: 15_000 }).toBeDefined();
  await send(routes, routes.commandId ?? '');
  await expect.poll(() => resultOf(routes.commandId ?? ''), { timeout: 15_000 }).toBeDefined();
  return { init, routes };
}

describe('cluster agent over NATS', () => {
  it('applies commands from its command subject and reports results and routes', async () => {
    startAgent();
    const { init, routes } = await givenCanaryAt10Percent();

    expect(resultOf(init.commandId ?? '')).toMatchObject({
      outcome: CommandOutcome.SUCCEEDED,
      workload: { namespace: NS, name: 'podinfo' },
    });
    expect(resultOf(routes.commandId ?? '')?.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(await virtualServiceWeights()).toEqual([90, 10]);
    expect(routesApplied()).toEqual([
      expect.objectContaining({
        id: `${routes.commandId}:routes`,
        commandId: routes.commandId,
        router: RouterKind.ISTIO,
        routes: expect.objectContaining({ primaryWeightPercent: 90, canaryWeightPercent: 10 }),
      }),
    ]);
    const result = observations.find(
      (o) => o.kind.case === 'commandResult' && o.kind.value.commandId === routes.commandId,
    );
    expect(result).toMatchObject({ observationId: `${routes.commandId}:result`, cluster: 'eu-1' });
    // Acked only after publishing: nothing left for the agent.
    await expect.poll(commandsPending).toBe(0);
  });

  it('applies a command delivered twice once', async () => {
    const agent = startAgent();
    const { routes } = await givenCanaryAt10Percent();
    const before = await kube.get('VirtualService', NS, 'podinfo', signal);

    // The same command again under another message id (past JetStream's duplicate window).
    await send(routes, `${routes.commandId}-again`);
    await expect.poll(() => agent.stats().duplicates).toBe(1);
    await expect.poll(commandsPending).toBe(0);

    const after = await kube.get('VirtualService', NS, 'podinfo', signal);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(results().filter((r) => r.commandId === routes.commandId)).toHaveLength(1);
    expect(agent.stats()).toMatchObject({ applied: 2, duplicates: 1 });
  });

  it('answers a command re-delivered after a restart from the result stored in the cluster', async () => {
    const first = startAgent();
    const { routes } = await givenCanaryAt10Percent();
    await first.stop();
    // Weights changed since (by a later command, or by hand): applying `routes` again would undo it.
    await kube.mergePatch(
      'VirtualService',
      NS,
      'podinfo',
      {
        spec: {
          http: [
            {
              route: [
                { destination: { host: 'podinfo-primary' }, weight: 80 },
                { destination: { host: 'podinfo-canary' }, weight: 20 },
              ],
            },
          ],
        },
      },
      signal,
    );
    const before = await kube.get('VirtualService', NS, 'podinfo', signal);

    // A new agent (new handler, nothing in memory) gets the same command id again.
    const second = startAgent();
    await send(routes, `${routes.commandId}-resent`);
    await expect.poll(() => second.stats().duplicates, { timeout: 10_000 }).toBe(1);
    await expect.poll(commandsPending).toBe(0);
    expect(second.stats()).toMatchObject({ applied: 0, duplicates: 1 });
    const after = await kube.get('VirtualService', NS, 'podinfo', signal);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(await virtualServiceWeights()).toEqual([80, 20]);
    // Its result was published again under the same id: JetStream stored it once.
    expect(results().filter((r) => r.commandId === routes.commandId)).toEqual([
      expect.objectContaining({ outcome: CommandOutcome.SUCCEEDED }),
    ]);
  });

  it('logs every command with its action, renewLease at debug', async () => {
    const lines: LogLine[] = [];
    startAgent({ logger: recordingLogger(lines) });
    const { init, routes } = await givenCanaryAt10Percent();
    await send({ commandId: 'eu-1:lease:x', cluster: 'eu-1', renewLease: {} }, 'eu-1:lease:x');
    const handled = () => lines.filter((l) => l.msg === 'command handled');
    await expect.poll(() => handled().length).toBe(3);
    expect(handled()).toEqual([
      expect.objectContaining({
        level: 'info',
        commandId: init.commandId,
        action: 'initializeTarget',
        outcome: 'SUCCEEDED',
      }),
      expect.objectContaining({
        level: 'info',
        commandId: routes.commandId,
        action: 'setRoutes',
        outcome: 'SUCCEEDED',
      }),
      expect.objectContaining({ level: 'debug', commandId: 'eu-1:lease:x', action: 'renewLease' }),
    ]);
  });

  it('rejects a malformed command, reports it under its message id, and keeps running', async () => {
    const agent = startAgent();
    await send('{"commandId": ', 'broken-1');
    await send({ commandId: 'odd-1', cluster: 'eu-1', launchMissiles: true }, 'odd-1');
    await expect
      .poll(() => resultOf('broken-1'))
      .toMatchObject({
        outcome: CommandOutcome.REJECTED,
        reason: 'Malformed',
      });
    await expect
      .poll(() => resultOf('odd-1'))
      .toMatchObject({
        outcome: CommandOutcome.REJECTED,
        reason: 'Malformed',
      });
    expect(agent.stats().terminated).toBe(2);

    const { routes } = await givenCanaryAt10Percent();
    expect(resultOf(routes.commandId ?? '')?.outcome).toBe(CommandOutcome.SUCCEEDED);
    await expect.poll(commandsPending).toBe(0);
  });

  it('sends heartbeats with its labels, version and lease', async () => {
    startAgent({ heartbeatIntervalMs: 100, leaseMs: 45_000 });
    await expect.poll(() => heartbeats().length).toBeGreaterThanOrEqual(3);
    const [first, second] = heartbeats();
    expect(first).toMatchObject({
      cluster: 'eu-1',
      kind: {
        case: 'heartbeat',
        value: { labels: { region: 'eu', env: 'prod' }, agentVersion: '0.1.0', leaseMs: 45_000 },
      },
    });
    expect(first?.observationId).not.toBe(second?.observationId);
  });

  it('routes the canary back to the primary when the lease lapses, and says so', async () => {
    startAgent({ leaseMs: 1500 });
    await givenCanaryAt10Percent();
    expect(await virtualServiceWeights()).toEqual([90, 10]);
    const primaryBefore = await kube.get('Deployment', NS, 'podinfo-primary', signal);

    await expect.poll(virtualServiceWeights, { timeout: 5000 }).toEqual([100, 0]);
    await expect
      .poll(() => routesApplied().find((r) => r.id.includes(':lease-expired:')))
      .toMatchObject({
        commandId: '',
        workload: { namespace: NS, name: 'podinfo' },
        routes: expect.objectContaining({ primaryWeightPercent: 100, canaryWeightPercent: 0 }),
      });
    const primaryAfter = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primaryAfter?.metadata?.resourceVersion).toBe(primaryBefore?.metadata?.resourceVersion);
  });

  it('keeps the canary’s traffic past the lease while renewLease commands arrive, publishing nothing for them', async () => {
    const agent = startAgent({ leaseMs: 1500 });
    await givenCanaryAt10Percent();
    const resultsBefore = results().length;
    for (let i = 0; i < 8; i += 1) {
      await send(
        { commandId: `eu-1:lease:${i}`, cluster: 'eu-1', renewLease: {} },
        `eu-1:lease:${i}`,
      );
      await sleep(400);
    }
    // 3.2 s of renewals: more than twice the lease, and the canary still has its 10%.
    expect(await virtualServiceWeights()).toEqual([90, 10]);
    expect(agent.stats().leaseRenewals).toBe(8);
    expect(results().length).toBe(resultsBefore);
    expect(routesApplied().some((r) => r.id.includes(':lease-expired:'))).toBe(false);
    // Without them, the lease lapses as before.
    await expect.poll(virtualServiceWeights, { timeout: 5000 }).toEqual([100, 0]);
  });

  it('resumes with its durable consumer after a restart, losing no command sent meanwhile', async () => {
    const first = startAgent();
    await givenCanaryAt10Percent();
    await first.stop();

    const to20 = setWeights(80, 20);
    const to30 = setWeights(70, 30);
    await send(to20, to20.commandId ?? '');
    await send(to30, to30.commandId ?? '');
    await expect.poll(commandsPending).toBe(2);

    startAgent();
    await expect.poll(() => resultOf(to30.commandId ?? ''), { timeout: 10_000 }).toBeDefined();
    expect(resultOf(to20.commandId ?? '')?.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(resultOf(to30.commandId ?? '')?.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(await virtualServiceWeights()).toEqual([70, 30]);
    await expect.poll(commandsPending).toBe(0);
  });
});
