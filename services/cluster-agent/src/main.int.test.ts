import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKubeSim, type KubeSim } from '@aviary/kube-sim';
import {
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  messagingNamespace,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import { DeploymentRole, type Observation } from '@aviary/proto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';
import { createClientNodeKubeClient } from './kube/client-node-kube-client.ts';
import { decodeObservation } from './messaging/observation-publisher.ts';
import { computeRevision } from './revision.ts';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;
const namespaces: string[] = [];
let sim: KubeSim;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  sim = await createKubeSim({ clusters: ['eu-1'], controllers: true });
  dir = await mkdtemp(join(tmpdir(), 'aviary-agent-'));
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, sim.cluster('eu-1').kubeconfig());
});

afterAll(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  const nats = await connectNats({
    servers: testEnv.natsUrl,
    name: 'agent-test-cleanup',
    logger: quiet(),
  });
  const jsm = await nats.jetstreamManager();
  for (const name of namespaces.splice(0)) {
    for (const stream of Object.values(streamNames(messagingNamespace(name)))) {
      await jsm.streams.delete(stream).catch(() => false);
    }
  }
  await nats.close();
});

function quiet() {
  return createLogger({ service: 'test', level: 'silent' });
}

function startAgent(namespace: string, env: Record<string, string> = {}) {
  return spawnService(main, {
    env: {
      AVIARY_CLUSTER_NAME: 'eu-1',
      AVIARY_CLUSTER_LABELS: 'region=eu,env=prod',
      AVIARY_KUBECONFIG: kubeconfig,
      AVIARY_HEARTBEAT_INTERVAL_MS: '200ms',
      AVIARY_LEASE_MS: '2m',
      AVIARY_NATS_URL: testEnv.natsUrl,
      AVIARY_MESSAGING_NAMESPACE: namespace,
      AVIARY_LOG_LEVEL: 'debug',
      ...env,
    },
  });
}

describe('cluster-agent main', () => {
  it('connects to the cluster and NATS, consumes its commands, sends heartbeats, and stops on SIGTERM', async () => {
    const namespace = uniqueName('agent');
    namespaces.push(namespace);
    const nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'agent-test',
      logger: quiet(),
    });
    await ensureStreams(await nats.jetstreamManager(), {
      namespace: messagingNamespace(namespace),
    });

    const agent = startAgent(namespace);
    const ready = await agent.waitForLine(byMsg('ready'));
    expect(ready).toMatchObject({ service: 'cluster-agent', cluster: 'eu-1' });
    expect(agent.lines.find(byMsg('agent running'))).toMatchObject({
      heartbeatIntervalMs: 200,
      leaseMs: 120_000,
      agentVersion: '0.1.0',
    });
    expect(await agent.waitForLine(byMsg('stored command results loaded'))).toMatchObject({
      namespace: 'aviary-system',
      configMap: 'aviary-agent-eu-1-results',
      results: expect.any(Number),
    });
    expect(await agent.waitForLine(byMsg('command stream found'))).toMatchObject({
      subject: `${namespace}.v1.cluster.eu-1.cmd`,
      stream: `${namespace.toUpperCase()}_CMD`,
      durable: 'agent-eu-1',
    });

    // Heartbeats arrive on the observation stream with the configured labels.
    const jsm = await nats.jetstreamManager();
    const stream = streamNames(messagingNamespace(namespace)).observations;
    await expect
      .poll(async () => (await jsm.streams.info(stream)).state.messages, { timeout: 10_000 })
      .toBeGreaterThan(0);
    const first = await jsm.streams.getMessage(stream, { seq: 1 });
    expect(first?.subject).toBe(`${namespace}.v1.cluster.eu-1.obs.heartbeat`);
    expect(decodeObservation(first?.data ?? '')).toMatchObject({
      cluster: 'eu-1',
      kind: { case: 'heartbeat', value: { labels: { region: 'eu', env: 'prod' } } },
    });
    await nats.close();

    const { code } = await agent.stop('SIGTERM');

    expect(code).toBe(0);
    expect(agent.lines.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });

  it('answers a command re-delivered to a restarted process from its stored result', async () => {
    const namespace = uniqueName('agent');
    namespaces.push(namespace);
    const nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'agent-test',
      logger: quiet(),
    });
    await ensureStreams(await nats.jetstreamManager(), {
      namespace: messagingNamespace(namespace),
    });
    const kc = new KubeConfig();
    kc.loadFromString(sim.cluster('eu-1').kubeconfig());
    const kube = createClientNodeKubeClient(kc);
    const signal = new AbortController().signal;
    await kube.create(
      'Deployment',
      'default',
      {
        metadata: { name: 'restart-web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'restart-web' } },
          template: {
            metadata: { labels: { app: 'restart-web' } },
            spec: { containers: [{ name: 'app', image: 'web:1' }] },
          },
        },
      },
      signal,
    );
    const scale = {
      commandId: uniqueName('scale'),
      cluster: 'eu-1',
      releaseId: 'rel-1',
      workload: { namespace: 'default', name: 'restart-web', kind: 'WORKLOAD_KIND_DEPLOYMENT' },
      scaleCanary: { replicas: 3 },
    };
    const send = (msgId: string) =>
      createJetStreamPublisher(nats.jetstream).publish(
        commandSubject('eu-1', messagingNamespace(namespace)),
        new TextEncoder().encode(JSON.stringify(scale)),
        { msgId },
      );
    const handled = (line: LogLine) =>
      line.msg === 'command handled' && line.commandId === scale.commandId;

    const first = startAgent(namespace);
    await send(scale.commandId);
    expect(await first.waitForLine(handled)).toMatchObject({
      action: 'scaleCanary',
      outcome: 'SUCCEEDED',
      duplicate: false,
    });
    expect((await first.stop('SIGTERM')).code).toBe(0);

    // Scaled by someone else meanwhile: applying the command again would undo it.
    await kube.mergePatch(
      'Deployment',
      'default',
      'restart-web',
      { spec: { replicas: 1 } },
      signal,
    );
    const before = await kube.get('Deployment', 'default', 'restart-web', signal);

    const second = startAgent(namespace);
    await send(`${scale.commandId}-again`);
    expect(await second.waitForLine(handled)).toMatchObject({
      action: 'scaleCanary',
      outcome: 'SUCCEEDED',
      duplicate: true,
    });
    const after = await kube.get('Deployment', 'default', 'restart-web', signal);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(after?.spec?.replicas).toBe(1);
    expect((await second.stop('SIGTERM')).code).toBe(0);
    await nats.close();
  });

  it('killed mid-rollout (SIGKILL), resumes from what the cluster really is', async () => {
    const namespace = uniqueName('agent');
    namespaces.push(namespace);
    const ns = messagingNamespace(namespace);
    const nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'agent-test',
      logger: quiet(),
    });
    await ensureStreams(await nats.jetstreamManager(), { namespace: ns });
    const kc = new KubeConfig();
    kc.loadFromString(sim.cluster('eu-1').kubeconfig());
    const kube = createClientNodeKubeClient(kc);
    const signal = new AbortController().signal;
    const template = (image: string) => ({
      metadata: { labels: { app: 'kill-web' } },
      spec: { containers: [{ name: 'app', image }] },
    });
    await kube.create(
      'Deployment',
      'default',
      {
        metadata: { name: 'kill-web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'kill-web' } },
          template: template('web:1'),
        },
      },
      signal,
    );
    const workload = { namespace: 'default', name: 'kill-web', kind: 'WORKLOAD_KIND_DEPLOYMENT' };
    const cmd = (id: string, action: object) => ({
      commandId: uniqueName(id),
      cluster: 'eu-1',
      releaseId: 'rel-kill',
      workload,
      ...action,
    });
    const send = (payload: { commandId: string }, msgId = payload.commandId) =>
      createJetStreamPublisher(nats.jetstream).publish(
        commandSubject('eu-1', ns),
        new TextEncoder().encode(JSON.stringify(payload)),
        { msgId },
      );
    const handledLine = (commandId: string) => (line: LogLine) =>
      line.msg === 'command handled' && line.commandId === commandId;
    const weights = (primary: number) => ({
      setRoutes: {
        router: 'ROUTER_KIND_ISTIO',
        serviceName: 'kill-web',
        routes: { primaryWeightPercent: primary, canaryWeightPercent: 100 - primary },
      },
    });
    const stored = async () => {
      const jsm = await nats.jetstreamManager();
      const stream = streamNames(ns).observations;
      const { state } = await jsm.streams.info(stream);
      const out: Observation[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        if (m !== null) out.push(decodeObservation(m.data));
      }
      return out;
    };
    const vsWeights = async () => {
      const vs = await kube.get('VirtualService', 'default', 'kill-web', signal);
      const http = vs?.spec?.http as { route: { weight: number }[] }[] | undefined;
      return http?.[0]?.route.map((r) => r.weight);
    };

    const first = startAgent(namespace, { AVIARY_WATCH_NAMESPACE: 'default' });
    const init = cmd('init', {
      initializeTarget: { router: 'ROUTER_KIND_ISTIO', service: { port: 80 } },
    });
    await send(init);
    expect(await first.waitForLine(handledLine(init.commandId), 30_000)).toMatchObject({
      outcome: 'SUCCEEDED',
    });
    await kube.mergePatch(
      'Deployment',
      'default',
      'kill-web',
      { spec: { template: template('web:2') } },
      signal,
    );
    const scale = cmd('scale', { scaleCanary: {} });
    const to10 = cmd('to10', weights(90));
    await send(scale);
    await first.waitForLine(handledLine(scale.commandId));
    await send(to10);
    expect(await first.waitForLine(handledLine(to10.commandId))).toMatchObject({
      outcome: 'SUCCEEDED',
    });

    // Killed mid-rollout: no shutdown, nothing flushed.
    const killed = await first.stop('SIGKILL');
    expect(killed.code).toBeNull();

    // While it is down: a newer revision (web:3) rolls out, and the orchestrator sends 90/10
    // again (its result never arrived, say) and then 70/30.
    await kube.mergePatch(
      'Deployment',
      'default',
      'kill-web',
      { spec: { template: template('web:3') } },
      signal,
    );
    const target = await kube.get('Deployment', 'default', 'kill-web', signal);
    const web3 = (await computeRevision(kube, target ?? {}, signal)).id;
    await send(to10, `${to10.commandId}-resent`);
    const to30 = cmd('to30', weights(70));
    await send(to30);

    const second = startAgent(namespace, { AVIARY_WATCH_NAMESPACE: 'default' });
    // The re-delivered command is answered from its stored result, the next one applied.
    expect(await second.waitForLine(handledLine(to10.commandId), 30_000)).toMatchObject({
      outcome: 'SUCCEEDED',
      duplicate: true,
    });
    expect(await second.waitForLine(handledLine(to30.commandId), 30_000)).toMatchObject({
      outcome: 'SUCCEEDED',
      duplicate: false,
    });
    expect(await vsWeights()).toEqual([70, 30]);
    // It re-listed: the revision it never saw, and the readiness of both Deployments as they are.
    const readinessOf = (all: Observation[], role: DeploymentRole) =>
      all.flatMap((o) =>
        o.kind.case === 'workloadReadiness' &&
        o.kind.value.workload?.name === 'kill-web' &&
        o.kind.value.role === role
          ? [o.kind.value]
          : [],
      );
    await expect
      .poll(
        async () =>
          (await stored()).some(
            (o) => o.kind.case === 'revisionSeen' && o.kind.value.revision?.id === web3,
          ),
        { timeout: 20_000 },
      )
      .toBe(true);
    await expect
      .poll(
        async () =>
          readinessOf(await stored(), DeploymentRole.CANARY).some(
            (r) => r.revisionId === web3 && r.updatedReplicas === 2 && r.availableReplicas === 2,
          ),
        { timeout: 20_000 },
      )
      .toBe(true);
    const primary = await kube.get('Deployment', 'default', 'kill-web-primary', signal);
    const primaryReports = readinessOf(await stored(), DeploymentRole.PRIMARY);
    expect(primaryReports.at(-1)).toMatchObject({
      revisionId: primary?.metadata?.annotations?.['aviary.dev/revision'],
      availableReplicas: 2,
    });
    // Every observation id stored once, though both agents reported the same versions.
    const ids = (await stored()).map((o) => o.observationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    // It read the traffic split back from the VirtualService (before or after the 70/30).
    const resumed = (all: Observation[]) =>
      all.flatMap((o) =>
        o.kind.case === 'routesApplied' && o.observationId.includes(':routes-resumed:')
          ? [{ id: o.observationId, ...o.kind.value }]
          : [],
      );
    await expect.poll(async () => resumed(await stored()).length, { timeout: 20_000 }).toBe(1);
    const secondResumed = resumed(await stored())[0];
    expect(secondResumed).toMatchObject({
      workload: { namespace: 'default', name: 'kill-web' },
      commandId: '',
    });
    expect([
      [90, 10],
      [70, 30],
    ]).toContainEqual([
      secondResumed?.routes?.primaryWeightPercent,
      secondResumed?.routes?.canaryWeightPercent,
    ]);

    // Killed again; meanwhile the split changes by hand (what the routing object says is the
    // truth, not what the agent last applied). The next agent gets no command at all.
    expect((await second.stop('SIGKILL')).code).toBeNull();
    const vs = await kube.get('VirtualService', 'default', 'kill-web', signal);
    const http = vs?.spec?.http as { route: { weight: number }[] }[];
    const [toPrimary, toCanary] = http[0]?.route ?? [];
    if (toPrimary === undefined || toCanary === undefined) throw new Error('no weighted route');
    toPrimary.weight = 60;
    toCanary.weight = 40;
    expect((await kube.replace('VirtualService', 'default', vs ?? {}, signal)).outcome).toBe(
      'replaced',
    );
    const primaryBefore = await kube.get('Deployment', 'default', 'kill-web-primary', signal);
    const third = startAgent(namespace, {
      AVIARY_WATCH_NAMESPACE: 'default',
      AVIARY_LEASE_MS: '3s',
    });
    expect(await third.waitForLine(byMsg('routes resumed from the cluster'), 30_000)).toMatchObject(
      {
        namespace: 'default',
        name: 'kill-web',
        router: 'istio',
        primaryWeightPercent: 60,
        canaryWeightPercent: 40,
        leased: true,
      },
    );
    await expect.poll(async () => resumed(await stored()).length, { timeout: 10_000 }).toBe(2);
    expect(resumed(await stored())[1]?.routes).toMatchObject({
      primaryWeightPercent: 60,
      canaryWeightPercent: 40,
    });
    // No command renews the lease: the canary it re-tracked goes back to the primary.
    const lapsed = await third.waitForLine(
      byMsg('lease lapsed: routed the canary’s traffic back to the primary'),
      30_000,
    );
    expect(lapsed).toMatchObject({ namespace: 'default', name: 'kill-web', leaseMs: 3000 });
    expect(await vsWeights()).toEqual([100, 0]);
    await expect
      .poll(
        async () =>
          (await stored()).find(
            (o) => o.kind.case === 'routesApplied' && o.observationId.includes(':lease-expired:'),
          )?.kind.value,
        { timeout: 10_000 },
      )
      .toMatchObject({
        workload: { name: 'kill-web' },
        commandId: '',
        routes: { primaryWeightPercent: 100, canaryWeightPercent: 0 },
      });
    // The primary was not touched.
    const primaryAfter = await kube.get('Deployment', 'default', 'kill-web-primary', signal);
    expect(primaryAfter?.metadata?.generation).toBe(primaryBefore?.metadata?.generation);
    expect(primaryAfter?.spec).toEqual(primaryBefore?.spec);
    expect((await third.stop('SIGTERM')).code).toBe(0);
    await nats.close();
  });

  it('warns, and still starts, when no stream stores its command subject yet', async () => {
    const agent = startAgent(uniqueName('agent'));
    await agent.waitForLine(byMsg('ready'));
    const warning = await agent.waitForLine((l) =>
      String(l.msg).startsWith('no stream stores this agent’s command subject yet'),
    );
    expect(warning).toMatchObject({ level: 'warn' });
    // Without the observation stream, heartbeats fail and say so; the agent keeps running.
    await agent.waitForLine(byMsg('publishing a heartbeat failed'));
    expect((await agent.stop('SIGTERM')).code).toBe(0);
  });

  it('exits 1 naming every bad variable, without echoing secrets', async () => {
    const agent = startAgent('x', {
      AVIARY_CLUSTER_NAME: 'EU.1',
      AVIARY_CLUSTER_LABELS: 'region',
      AVIARY_LEASE_MS: 'soon',
      AVIARY_NATS_URL: 'http://agent:hunter2@nats:4222',
      AVIARY_MESSAGING_NAMESPACE: 'Bad.Name',
    });
    const { code } = await agent.exited;
    expect(code).toBe(1);
    const fatal = agent.lines.find((l) => l.level === 'fatal');
    expect(fatal?.issues).toEqual([
      {
        path: 'AVIARY_CLUSTER_NAME',
        message:
          "must be a DNS-1123 label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
      },
      {
        path: 'AVIARY_CLUSTER_LABELS',
        message: 'must be comma-separated key=value Kubernetes labels, e.g. region=eu,env=prod',
      },
      { path: 'AVIARY_LEASE_MS', message: 'must be a duration such as 500ms, 10s, 2m or 1h' },
      { path: 'AVIARY_NATS_URL', message: 'must be a nats:// or tls:// URL' },
      {
        path: 'AVIARY_MESSAGING_NAMESPACE',
        message: "must be 1-64 lowercase letters, digits, '_' or '-'",
      },
    ]);
    expect(agent.stderr()).toContain('AVIARY_CLUSTER_NAME');
    expect(JSON.stringify(agent.lines) + agent.stderr()).not.toContain('hunter2');
  });

  it('exits 1 without a Kubernetes API to talk to', async () => {
    const agent = spawnService(main, {
      env: {
        AVIARY_CLUSTER_NAME: 'eu-1',
        AVIARY_NATS_URL: testEnv.natsUrl,
        AVIARY_MESSAGING_NAMESPACE: uniqueName('agent'),
        KUBERNETES_SERVICE_HOST: '',
      },
    });
    const { code } = await agent.exited;
    expect(code).toBe(1);
    expect(JSON.stringify(agent.lines.find(byMsg('start failed')))).toContain('AVIARY_KUBECONFIG');
  });

  it('exits 1 when NATS cannot be reached', async () => {
    const agent = startAgent(uniqueName('agent'), { AVIARY_NATS_URL: 'nats://127.0.0.1:1' });
    const { code } = await agent.exited;
    expect(code).toBe(1);
    expect(agent.lines.find(byMsg('start failed'))).toMatchObject({ level: 'error' });
  });
});
