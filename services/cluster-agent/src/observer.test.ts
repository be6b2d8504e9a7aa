import { createKubeSim, type KubeSim } from '@aviary/kube-sim';
import { messagingNamespace } from '@aviary/messaging';
import { Registry } from '@aviary/platform';
import {
  CommandOutcome,
  ConditionStatus,
  DeploymentRole,
  type Observation,
  type WorkloadReadiness,
} from '@aviary/proto';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import { createObserver, type Observer } from './observer.ts';
import { REVISION_ANNOTATION } from './ownership.ts';
import { computeRevision } from './revision.ts';
import {
  command,
  createTrackedConfigs,
  NS,
  simulatedCluster,
  sleep,
  targetDeployment,
} from './testing.ts';

const signal = new AbortController().signal;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const namespace = messagingNamespace('obs_test');

let sim: KubeSim;
let kube: KubeClient;
let kc: KubeConfig;
let observer: Observer | undefined;
let published: { subject: string; observation: Observation }[];

beforeEach(async () => {
  ({ sim, kube, kc } = await simulatedCluster());
  published = [];
  await createTrackedConfigs(kube, signal);
});

afterEach(async () => {
  await observer?.stop();
  observer = undefined;
  await sim.close();
});

function startObserver(options: { targetSelector?: string } = {}) {
  observer = createObserver({
    kc,
    kube,
    cluster: 'eu-1',
    messagingNamespace: namespace,
    publish: async (subject, observation) => {
      published.push({ subject, observation });
    },
    nowMs: () => Date.now(),
    logger: quiet,
    restartDelayMs: 50,
    ...options,
  });
  return observer.start();
}

const revisionsSeen = () =>
  published.flatMap(({ observation: o }) => (o.kind.case === 'revisionSeen' ? [o.kind.value] : []));
const readiness = (name: string, role: DeploymentRole) =>
  published.flatMap(({ observation: o }) =>
    o.kind.case === 'workloadReadiness' &&
    o.kind.value.workload?.name === name &&
    o.kind.value.role === role
      ? [o.kind.value]
      : [],
  );
const isReady = (r: WorkloadReadiness) =>
  r.desiredReplicas > 0 &&
  r.availableReplicas === r.desiredReplicas &&
  r.updatedReplicas === r.desiredReplicas &&
  r.replicas === r.desiredReplicas;

async function setTemplate(name: string, image: string, annotations: Record<string, string> = {}) {
  await updateWithRetry(
    kube,
    'Deployment',
    NS,
    name,
    (d) => {
      const template = d.spec?.template;
      const container = template?.spec?.containers[0];
      if (container !== undefined) container.image = image;
      if (template !== undefined) {
        template.metadata = {
          ...template.metadata,
          annotations: { ...template.metadata?.annotations, ...annotations },
        };
      }
      return d;
    },
    signal,
  );
}

describe('observer', () => {
  it('reports each revision of a target once, on its own subject, with a deterministic id', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await startObserver();
    await expect.poll(() => revisionsSeen().length).toBe(1);
    const first = await computeRevision(
      kube,
      (await kube.get('Deployment', NS, 'podinfo', signal)) ?? {},
      signal,
    );
    const seen = published.find((p) => p.observation.kind.case === 'revisionSeen');
    expect(seen?.subject).toBe('obs_test.v1.cluster.eu-1.obs.revision-seen');
    expect(seen?.observation).toMatchObject({ cluster: 'eu-1' });
    expect(seen?.observation.observationId).toMatch(
      /^eu-1:[^:]+:\d+\+[0-9a-f]{12}:revision-seen:[0-9a-f]{16}$/,
    );
    expect(revisionsSeen()[0]).toMatchObject({
      workload: { namespace: NS, name: 'podinfo' },
      revision: { id: first.id, podTemplateHash: first.podTemplateHash },
    });
    expect(Object.keys(revisionsSeen()[0]?.revision?.configChecksums ?? {}).sort()).toEqual([
      'configmap/podinfo-env',
      'configmap/podinfo-files',
      'secret/podinfo-token',
    ]);

    // Status updates and a scale change do not make a new revision; a relist does not repeat it.
    await expect.poll(() => readiness('podinfo', DeploymentRole.CANARY).some(isReady)).toBe(true);
    await kube.mergePatch('Deployment', NS, 'podinfo', { spec: { replicas: 3 } }, signal);
    sim.cluster('eu-1').dropWatches();
    await expect
      .poll(() => readiness('podinfo', DeploymentRole.CANARY).some((r) => r.desiredReplicas === 3))
      .toBe(true);
    expect(revisionsSeen()).toHaveLength(1);

    // A new pod template is a new revision, reported once.
    await setTemplate('podinfo', 'podinfo:2');
    await expect.poll(() => revisionsSeen().length).toBe(2);
    await expect
      .poll(() => readiness('podinfo', DeploymentRole.CANARY).at(-1))
      .toSatisfy((r: WorkloadReadiness | undefined) => r !== undefined && isReady(r));
    expect(revisionsSeen()[1]?.revision?.id).not.toBe(first.id);
    expect(readiness('podinfo', DeploymentRole.CANARY).at(-1)?.revisionId).toBe(
      revisionsSeen()[1]?.revision?.id,
    );
    expect(revisionsSeen()).toHaveLength(2);
    // Every observation id is unique (one per object version and kind).
    const ids = published.map((p) => p.observation.observationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('reports a changed tracked config as a new revision at once, also one missed by an expired watch', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await startObserver();
    await expect.poll(() => readiness('podinfo', DeploymentRole.CANARY).some(isReady)).toBe(true);
    expect(revisionsSeen()).toHaveLength(1);
    const deploymentVersion = async () =>
      (await kube.get('Deployment', NS, 'podinfo', signal))?.metadata?.resourceVersion;
    const versionBefore = await deploymentVersion();
    const checksums = (i: number) => revisionsSeen()[i]?.revision?.configChecksums ?? {};

    // A ConfigMap the target reads through envFrom: a new revision, the Deployment unchanged.
    await kube.mergePatch('ConfigMap', NS, 'podinfo-env', { data: { A: '2' } }, signal);
    await expect.poll(() => revisionsSeen().length).toBe(2);
    expect(checksums(1)['configmap/podinfo-env']).not.toBe(checksums(0)['configmap/podinfo-env']);
    expect(checksums(1)['configmap/podinfo-files']).toBe(checksums(0)['configmap/podinfo-files']);
    // The readiness report follows the new revision (under its own id, not deduplicated away).
    await expect
      .poll(() => readiness('podinfo', DeploymentRole.CANARY).at(-1)?.revisionId)
      .toBe(revisionsSeen()[1]?.revision?.id);
    expect(await deploymentVersion()).toBe(versionBefore);

    // A config no target references changes nothing.
    await kube.create(
      'ConfigMap',
      NS,
      { metadata: { name: 'unrelated' }, data: { x: '1' } },
      signal,
    );
    await kube.mergePatch('ConfigMap', NS, 'unrelated', { data: { x: '2' } }, signal);
    // A Secret the target reads through env: another revision.
    await kube.mergePatch('Secret', NS, 'podinfo-token', { data: { token: 'dHdv' } }, signal);
    await expect.poll(() => revisionsSeen().length).toBe(3);
    expect(checksums(2)['secret/podinfo-token']).not.toBe(checksums(1)['secret/podinfo-token']);

    // The watches fall behind and expire (410): the relist finds the config put back, and the
    // target's revision is the first one again, reported as a new observation.
    sim.cluster('eu-1').holdWatches();
    await kube.mergePatch('ConfigMap', NS, 'podinfo-env', { data: { A: '1' } }, signal);
    await kube.mergePatch('Secret', NS, 'podinfo-token', { data: { token: 'czNjcjN0' } }, signal);
    await sleep(200);
    expect(revisionsSeen()).toHaveLength(3);
    sim.cluster('eu-1').expireWatches();
    await expect.poll(() => revisionsSeen().length).toBe(4);
    expect(revisionsSeen()[3]?.revision?.id).toBe(revisionsSeen()[0]?.revision?.id);
    await expect
      .poll(() => readiness('podinfo', DeploymentRole.CANARY).at(-1)?.revisionId)
      .toBe(revisionsSeen()[0]?.revision?.id);
    expect(await deploymentVersion()).toBe(versionBefore);
    await sleep(200);
    expect(revisionsSeen()).toHaveLength(4);
    const ids = published.map((p) => p.observation.observationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('computes the revision once a missing required config is created', async () => {
    await kube.delete('ConfigMap', NS, 'podinfo-files', signal);
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await startObserver();
    await expect.poll(() => readiness('podinfo', DeploymentRole.CANARY).length).toBeGreaterThan(0);
    expect(revisionsSeen()).toEqual([]);
    expect(readiness('podinfo', DeploymentRole.CANARY)[0]?.revisionId).toBe('');
    await kube.create('ConfigMap', NS, { metadata: { name: 'podinfo-files' } }, signal);
    await expect.poll(() => revisionsSeen().length).toBe(1);
    expect(Object.keys(revisionsSeen()[0]?.revision?.configChecksums ?? {})).toContain(
      'configmap/podinfo-files',
    );
  });

  it('reports readiness transitions of the canary and of the primary', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await startObserver();
    await expect.poll(() => readiness('podinfo', DeploymentRole.CANARY).some(isReady)).toBe(true);
    const canary = readiness('podinfo', DeploymentRole.CANARY);
    // From nothing ready to all ready, through reports that say which replicas are missing.
    expect(canary[0]?.availableReplicas).toBeLessThan(2);
    expect(canary.at(-1)).toMatchObject({
      desiredReplicas: 2,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
    });
    expect(canary.at(-1)?.conditions).toContainEqual(
      expect.objectContaining({
        type: 'Available',
        status: ConditionStatus.TRUE,
        reason: 'MinimumReplicasAvailable',
      }),
    );
    expect(published.find((p) => p.observation.kind.case === 'workloadReadiness')?.subject).toBe(
      'obs_test.v1.cluster.eu-1.obs.workload-readiness',
    );

    // Bootstrapping creates the primary: reported under the target's name, role PRIMARY, with
    // the revision it runs; the target scaled to zero is reported too.
    const handler = createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });
    const initialize = command({
      initializeTarget: { router: 'ROUTER_KIND_NONE', service: { port: 80 } },
    });
    for (let i = 0; i < 200; i++) {
      const handled = await handler.handle(initialize, signal);
      if (handled.result.outcome === CommandOutcome.SUCCEEDED) break;
      await sleep(50);
    }
    await expect.poll(() => readiness('podinfo', DeploymentRole.PRIMARY).some(isReady)).toBe(true);
    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(readiness('podinfo', DeploymentRole.PRIMARY).at(-1)).toMatchObject({
      workload: { namespace: NS, name: 'podinfo' },
      revisionId: primary?.metadata?.annotations?.[REVISION_ANNOTATION],
    });
    await expect
      .poll(() => readiness('podinfo', DeploymentRole.CANARY).at(-1)?.desiredReplicas)
      .toBe(0);
    expect(readiness('podinfo-primary', DeploymentRole.CANARY)).toEqual([]);
  });

  it('shows ProgressDeadlineExceeded for a version that never becomes ready', async () => {
    const target = targetDeployment('podinfo');
    if (target.spec !== undefined) target.spec.progressDeadlineSeconds = 1;
    await kube.create('Deployment', NS, target, signal);
    await startObserver();
    await expect.poll(() => readiness('podinfo', DeploymentRole.CANARY).some(isReady)).toBe(true);

    await setTemplate('podinfo', 'podinfo:3', { 'sim.aviary.dev/never-ready': 'true' });
    await expect
      .poll(
        () =>
          readiness('podinfo', DeploymentRole.CANARY)
            .at(-1)
            ?.conditions.find((c) => c.type === 'Progressing'),
        { timeout: 10_000 },
      )
      .toMatchObject({ status: ConditionStatus.FALSE, reason: 'ProgressDeadlineExceeded' });
    const last = readiness('podinfo', DeploymentRole.CANARY).at(-1);
    expect(last?.revisionId).toBe(revisionsSeen().at(-1)?.revision?.id);
    expect(last?.updatedReplicas).toBeLessThan(2);
  });

  it('logs a failed watch and restarts the informer until the API answers again', async () => {
    // The API server goes away (the cluster of beforeEach is closed) before the observer starts.
    const port = Number(new URL(sim.cluster('eu-1').url).port);
    await sim.close();
    const errors: string[] = [];
    observer = createObserver({
      kc,
      kube,
      cluster: 'eu-1',
      messagingNamespace: namespace,
      publish: async (subject, observation) => {
        published.push({ subject, observation });
      },
      nowMs: () => Date.now(),
      logger: { ...quiet, error: (_fields: object, msg: string) => errors.push(msg) },
      restartDelayMs: 50,
    });
    await observer.start();
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    expect(errors[0]).toBe('watch failed; restarting the informer');

    // It comes back on the same address: the informers list and watch again by themselves.
    sim = await createKubeSim({
      clusters: ['eu-1'],
      basePort: port,
      controllers: { readyDelayMs: 10 },
    });
    await kube.create('ConfigMap', NS, { metadata: { name: 'podinfo-env' } }, signal);
    await kube.create('ConfigMap', NS, { metadata: { name: 'podinfo-files' } }, signal);
    await kube.create('Secret', NS, { metadata: { name: 'podinfo-token' } }, signal);
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await expect.poll(() => revisionsSeen().length, { timeout: 10_000 }).toBe(1);
  });

  it('bounds the outbox while NATS is away: readiness coalesced, revisions kept, observing paused when full', async () => {
    const registry = new Registry();
    const logs: { level: string; msg: string; fields: object }[] = [];
    const log = (level: string) => (fields: object, msg: string) =>
      logs.push({ level, msg, fields });
    const made: Observation[] = [];
    let natsDown = true;
    const pendingSeen: number[] = [];
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    observer = createObserver({
      kc,
      kube,
      cluster: 'eu-1',
      messagingNamespace: namespace,
      publish: async (subject, observation) => {
        if (natsDown) throw new Error('nats: connection closed');
        published.push({ subject, observation });
      },
      nowMs: () => Date.now(),
      logger: { debug() {}, info: log('info'), warn: log('warn'), error: log('error') },
      restartDelayMs: 50,
      outboxLimit: 4,
      registry,
      onObservation: (o) => {
        made.push(o);
        pendingSeen.push(observer?.pending() ?? 0);
      },
    });
    await observer.start();
    const o = observer;
    await expect.poll(() => made.some((m) => m.kind.case === 'revisionSeen')).toBe(true);

    // Readiness snapshots of one workload replace each other while waiting.
    for (const replicas of [3, 4]) {
      await kube.mergePatch('Deployment', NS, 'podinfo', { spec: { replicas } }, signal);
      await expect
        .poll(() =>
          made.some(
            (m) =>
              m.kind.case === 'workloadReadiness' &&
              m.kind.value.desiredReplicas === replicas &&
              m.kind.value.availableReplicas === replicas,
          ),
        )
        .toBe(true);
    }
    expect(o.stats().coalesced).toBeGreaterThan(0);
    expect(o.stats().full).toBe(false);

    // Revisions of more targets fill it: observing pauses instead of dropping anything.
    const plain = (name: string, image = 'web:1') => ({
      metadata: { name, namespace: NS, labels: { app: name } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'app', image }] },
        },
      },
    });
    const names = ['t1', 't2', 't3', 't4', 't5'];
    for (const name of names) await kube.create('Deployment', NS, plain(name), signal);
    await expect.poll(() => o.stats().full).toBe(true);
    expect(logs.find((l) => l.msg.startsWith('observation outbox full'))).toMatchObject({
      level: 'warn',
      fields: { pending: 4, outboxLimit: 4 },
    });
    expect(await registry.metrics()).toContain(
      'aviary_agent_observation_outbox_full{cluster="eu-1"} 1',
    );
    // A new revision while full is not observed (nor dropped): observing waits for room.
    const madeWhenFull = made.length;
    await updateWithRetry(
      kube,
      'Deployment',
      NS,
      't1',
      (d) => {
        const container = d.spec?.template?.spec?.containers[0];
        if (container !== undefined) container.image = 'web:2';
        return d;
      },
      signal,
    );
    await sleep(300);
    expect(made.length).toBe(madeWhenFull);
    expect(o.pending()).toBe(4);

    // NATS is back: everything made is published in the order made, the revision made while
    // full included; only superseded readiness snapshots are missing.
    natsDown = false;
    const t1 = await computeRevision(
      kube,
      (await kube.get('Deployment', NS, 't1', signal)) ?? {},
      signal,
    );
    await expect
      .poll(() => revisionsSeen().some((r) => r.revision?.id === t1.id), { timeout: 15_000 })
      .toBe(true);
    await o.idle();
    expect(o.stats()).toMatchObject({ pending: 0, full: false });
    expect(o.stats().filled).toBeGreaterThanOrEqual(1);
    expect(Math.max(...pendingSeen)).toBeLessThanOrEqual(4);
    expect(logs.some((l) => l.msg.startsWith('observation outbox has room again'))).toBe(true);
    const madeRevisions = made.filter((m) => m.kind.case === 'revisionSeen');
    expect(revisionsSeen().length).toBe(madeRevisions.length);
    expect(new Set(revisionsSeen().map((r) => r.workload?.name))).toEqual(
      new Set(['podinfo', ...names]),
    );
    const ids = published.map((p) => p.observation.observationId);
    const madeIds = made.map((m) => m.observationId);
    expect(ids.map((id) => madeIds.indexOf(id))).toEqual(
      [...ids.map((id) => madeIds.indexOf(id))].sort((a, b) => a - b),
    );
    const readinessMade = made.length - madeRevisions.length;
    expect(published.length - revisionsSeen().length).toBeLessThan(readinessMade);
    // Each workload's last report is its newest snapshot.
    for (const name of ['podinfo', ...names]) {
      const lastMade = made
        .filter((m) => m.kind.case === 'workloadReadiness' && m.kind.value.workload?.name === name)
        .at(-1);
      const lastPublished = readiness(name, DeploymentRole.CANARY).at(-1);
      expect(lastPublished).toEqual(
        lastMade?.kind.case === 'workloadReadiness' ? lastMade.kind.value : undefined,
      );
    }
    expect(await registry.metrics()).toContain(
      'aviary_agent_observation_outbox_full{cluster="eu-1"} 0',
    );
  });

  it('watches only the targets its selector names', async () => {
    const other = targetDeployment('other');
    await kube.create('Deployment', NS, other, signal);
    const chosen = targetDeployment('podinfo');
    chosen.metadata = { ...chosen.metadata, labels: { ...chosen.metadata?.labels, canary: 'yes' } };
    await kube.create('Deployment', NS, chosen, signal);
    await startObserver({ targetSelector: 'canary=yes' });
    await expect.poll(() => revisionsSeen().length).toBe(1);
    await sleep(200);
    expect(revisionsSeen().map((r) => r.workload?.name)).toEqual(['podinfo']);
  });
});
