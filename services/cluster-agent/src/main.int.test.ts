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
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';
import { createClientNodeKubeClient } from './kube/client-node-kube-client.ts';
import { decodeObservation } from './messaging/observation-publisher.ts';

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
