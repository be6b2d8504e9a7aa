/**
 * "NATS restarted mid-rollout loses no observation": the agent (observer + command loop, as
 * `main.ts` wires them) runs against the simulator and a NATS server of this test's own (own port,
 * own store directory), which is killed in the middle of a canary and started again on the same
 * store. Every observation the agent made meanwhile must be in the stream afterwards, once, but
 * for readiness snapshots the bounded outbox replaced by a newer one of the same workload.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeSim } from '@aviary/kube-sim';
import {
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  messagingNamespace,
  type NatsClient,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { CommandOutcome, type Observation } from '@aviary/proto';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent } from './agent.ts';
import { createCommandHandler } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import { createLease } from './lease.ts';
import {
  createObservationPublisher,
  decodeObservation,
  type PublishObservation,
  subjectOfObservation,
} from './messaging/observation-publisher.ts';
import { createObserver, type Observer } from './observer.ts';
import { computeRevision } from './revision.ts';
import { createRouter } from './routers/create-router.ts';
import {
  command,
  createTrackedConfigs,
  NS,
  simulatedCluster,
  targetDeployment,
} from './testing.ts';

const NATS_SERVER =
  process.env.NATS_SERVER ??
  (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');
const signal = new AbortController().signal;
const quiet = createLogger({ service: 'nats-restart-test', level: 'silent' });
const namespace = messagingNamespace('natsrestart');

let dir: string;
let port: number;
let server: ChildProcess | undefined;
let sim: KubeSim;
let kube: KubeClient;
let kc: KubeConfig;
let agentNats: NatsClient | undefined;
let agent: Agent | undefined;
let observer: Observer | undefined;

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts this test's nats-server (JetStream, its own store) and waits until it takes clients. */
async function startNats(): Promise<void> {
  const child = spawn(
    NATS_SERVER,
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'store')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  server = child;
  for (let i = 0; i < 100; i++) {
    if (stderr.includes('Server is ready')) return;
    if (child.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not start: ${stderr}`);
}

async function killNats(): Promise<void> {
  const child = server;
  server = undefined;
  if (child === undefined || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

const url = () => `nats://127.0.0.1:${port}`;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aviary-nats-restart-'));
  port = await freePort();
  await startNats();
  ({ sim, kube, kc } = await simulatedCluster());
  await createTrackedConfigs(kube, signal);
  await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
});

afterEach(async () => {
  // Clients close cleanly only with a server to drain to (a failed test may leave it down).
  if (server === undefined) await startNats();
  await observer?.stop();
  await agent?.stop();
  await agentNats?.close();
  observer = undefined;
  agent = undefined;
  agentNats = undefined;
  await killNats();
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

/** Every observation in the stream, in order, read by sequence. */
async function stored(nats: NatsClient): Promise<Observation[]> {
  const jsm = await nats.jetstreamManager();
  const stream = streamNames(namespace).observations;
  const info = await jsm.streams.info(stream);
  const out: Observation[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const message = await jsm.streams.getMessage(stream, { seq });
    if (message !== null) out.push(decodeObservation(message.data));
  }
  return out;
}

describe('NATS restarted mid-rollout', () => {
  it('loses no observation the agent made while it was down, and stores none twice', async () => {
    agentNats = await connectNats({
      servers: url(),
      name: 'agent',
      logger: quiet,
      reconnectTimeWaitMs: 100,
      apiTimeoutMs: 1000,
    });
    await ensureStreams(await agentNats.jetstreamManager(), { namespace });
    // What the agent made: every observation of the observer when made, and every one the
    // command loop handed to the publisher (first attempt).
    const made = new Map<string, Observation>();
    const remember = (observation: Observation) => {
      if (!made.has(observation.observationId)) made.set(observation.observationId, observation);
    };
    const inner = createObservationPublisher(createJetStreamPublisher(agentNats.jetstream));
    const publish: PublishObservation = async (subject, observation, s) => {
      remember(observation);
      await inner(subject, observation, s);
    };
    const nowMs = () => Date.now();
    const lease = createLease({
      cluster: 'eu-1',
      leaseMs: 120_000,
      nowMs,
      routerFor: (kind) => createRouter(kind, kube),
      report: (o, s) => publish(subjectOfObservation('eu-1', o, namespace), o, s),
      logger: quiet,
    });
    agent = createAgent({
      cluster: 'eu-1',
      nats: agentNats,
      messagingNamespace: namespace,
      handler: createCommandHandler({ kube, cluster: 'eu-1', nowMs }),
      publish,
      lease,
      heartbeat: { intervalMs: 60_000, labels: {}, agentVersion: '0.1.0' },
      logger: quiet,
      nowMs,
      retryDelayMs: 50,
      consumerRetryMs: 100,
    });
    agent.start();
    observer = createObserver({
      kc,
      kube,
      cluster: 'eu-1',
      messagingNamespace: namespace,
      publish,
      nowMs,
      logger: quiet,
      restartDelayMs: 50,
      onObservation: remember,
    });
    await observer.start();

    // The test's own connection, closed while the server is down.
    let nats = await connectNats({ servers: url(), name: 'test', logger: quiet });
    const send = async (payload: object & { commandId?: string }) =>
      createJetStreamPublisher(nats.jetstream).publish(
        commandSubject('eu-1', namespace),
        new TextEncoder().encode(JSON.stringify(payload)),
        { msgId: payload.commandId ?? '' },
      );
    const resultOf = async (commandId: string) =>
      (await stored(nats)).find(
        (o) => o.kind.case === 'commandResult' && o.kind.value.commandId === commandId,
      );
    const init = command({
      initializeTarget: { router: 'ROUTER_KIND_ISTIO', service: { port: 80 } },
    });
    await send(init);
    await expect
      .poll(async () => (await resultOf(init.commandId ?? ''))?.kind.value, { timeout: 15_000 })
      .toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    // A new revision under analysis: scaled up, 10 % of the traffic.
    await kube.mergePatch('ConfigMap', NS, 'podinfo-env', { data: { A: '2' } }, signal);
    const scale = command({ scaleCanary: {} });
    await send(scale);
    await expect
      .poll(async () => (await resultOf(scale.commandId ?? ''))?.kind.value, { timeout: 15_000 })
      .toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    await observer.idle();
    const beforeOutage = made.size;
    const coalescedBefore = observer.stats().coalesced;
    await nats.close();

    // NATS goes away. The cluster keeps changing: a newer revision (image and Secret) rolls out.
    await killNats();
    await kube.mergePatch('Secret', NS, 'podinfo-token', { data: { token: 'dHdv' } }, signal);
    await updateWithRetry(
      kube,
      'Deployment',
      NS,
      'podinfo',
      (d) => {
        const container = d.spec?.template?.spec?.containers[0];
        if (container !== undefined) container.image = 'podinfo:3';
        return d;
      },
      signal,
    );
    const target = await kube.get('Deployment', NS, 'podinfo', signal);
    const newest = (await computeRevision(kube, target ?? {}, signal)).id;
    const madeOfKind = (kind: Observation['kind']['case']) =>
      [...made.values()].filter((o) => o.kind.case === kind);
    // The agent observed the new revision and its rollout to the end while NATS was down.
    await expect
      .poll(
        () =>
          madeOfKind('workloadReadiness').some(
            (o) =>
              o.kind.case === 'workloadReadiness' &&
              o.kind.value.workload?.name === 'podinfo' &&
              o.kind.value.revisionId === newest &&
              o.kind.value.updatedReplicas === 2 &&
              o.kind.value.availableReplicas === 2 &&
              o.kind.value.replicas === 2 &&
              o.kind.value.observedGeneration === o.kind.value.generation,
          ),
        { timeout: 15_000 },
      )
      .toBe(true);
    expect(
      madeOfKind('revisionSeen').map((o) =>
        o.kind.case === 'revisionSeen' ? o.kind.value.revision?.id : '',
      ),
    ).toContain(newest);
    expect(madeOfKind('revisionSeen').length).toBeGreaterThanOrEqual(3);
    const duringOutage = [...made.keys()].slice(beforeOutage);
    expect(duringOutage.length).toBeGreaterThan(1);
    // None of them could be stored yet: they wait in the observer's outbox, but for readiness
    // snapshots replaced by a newer one of the same workload (the outbox is bounded).
    expect(observer.pending()).toBe(
      duringOutage.length - (observer.stats().coalesced - coalescedBefore),
    );

    // NATS comes back on the same store.
    await startNats();
    nats = await connectNats({ servers: url(), name: 'test', logger: quiet });
    const ids = async () => (await stored(nats)).map((o) => o.observationId);
    const snapshotKey = (o: Observation) =>
      o.kind.case === 'workloadReadiness'
        ? `${o.kind.value.role}:${o.kind.value.workload?.name}`
        : undefined;
    const lastSnapshot = new Map<string, string>();
    for (const o of made.values()) {
      const key = snapshotKey(o);
      if (key !== undefined) lastSnapshot.set(key, o.observationId);
    }
    // Every observation made is stored but the superseded snapshots: every revision, and each
    // workload's newest readiness.
    const running = observer;
    const missingNow = async () => {
      const stream = new Set(await ids());
      return [...made.values()].filter((o) => !stream.has(o.observationId));
    };
    await expect
      .poll(async () => (await missingNow()).length - running.stats().coalesced, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(0);
    await observer.idle();
    const inStream = new Set(await ids());
    const missing = [...made.values()].filter((o) => !inStream.has(o.observationId));
    expect(missing.length).toBe(observer.stats().coalesced);
    for (const o of missing) {
      const key = snapshotKey(o);
      expect(key).toBeDefined();
      expect(lastSnapshot.get(key ?? '')).not.toBe(o.observationId);
    }
    for (const id of lastSnapshot.values()) expect(inStream.has(id)).toBe(true);
    // Stored once each, and in the order the agent made them.
    const all = await ids();
    expect(all.filter((id, i) => all.indexOf(id) !== i)).toEqual([]);
    const order = all.filter((id) => made.has(id));
    expect(order).toEqual([...made.keys()].filter((id) => order.includes(id)));

    // And the canary goes on by commands over the restarted server.
    const routes = command({
      setRoutes: {
        router: 'ROUTER_KIND_ISTIO',
        serviceName: 'podinfo',
        routes: { primaryWeightPercent: 50, canaryWeightPercent: 50 },
      },
    });
    await send(routes);
    await expect
      .poll(async () => (await resultOf(routes.commandId ?? ''))?.kind.value, { timeout: 15_000 })
      .toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    await nats.close();
  });
});
