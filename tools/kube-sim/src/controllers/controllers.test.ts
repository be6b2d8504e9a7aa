import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createKubeSim, type KubeSim } from '../kube-sim.ts';
import type { ControllerOptions } from './controller-manager.ts';

let sim: KubeSim | undefined;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function cluster(controllers: ControllerOptions = {}) {
  sim = await createKubeSim({ clusters: ['eu-1'], controllers });
  const kc = new KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

function deployment(
  name: string,
  replicas: number,
  image: string,
  annotations: Record<string, string> = {},
): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations },
        spec: { containers: [{ name: 'app', image }] },
      },
    },
  };
}

/** Polls `read` until `check` passes (the last failure is rethrown after `timeoutMs`). */
async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => void,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    try {
      check(value);
      return value;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const condition = (d: V1Deployment, type: string) =>
  d.status?.conditions?.find((c) => c.type === type);

describe('kube-sim controllers with the real @kubernetes/client-node', () => {
  it('turns a Deployment into a ReplicaSet and ready Pods, and reports it Available', async () => {
    const { core, apps } = await cluster();
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('web', 3, 'web:1'),
    });
    const read = () => apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
    const done = await eventually(read, (d) => {
      expect(d.status?.availableReplicas).toBe(3);
      expect(condition(d, 'Progressing')?.reason).toBe('NewReplicaSetAvailable');
    });
    expect(done.status).toMatchObject({
      observedGeneration: done.metadata?.generation,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    expect(done.status?.unavailableReplicas).toBeUndefined();
    expect(condition(done, 'Available')).toMatchObject({
      status: 'True',
      reason: 'MinimumReplicasAvailable',
    });
    expect(done.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('1');

    const replicaSets = (await apps.listNamespacedReplicaSet({ namespace: 'default' })).items;
    expect(replicaSets).toHaveLength(1);
    const rs = replicaSets[0];
    const hash = rs?.metadata?.labels?.['pod-template-hash'] ?? '';
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(rs?.metadata?.name).toBe(`web-${hash}`);
    expect(rs?.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Deployment',
      name: 'web',
      uid: done.metadata?.uid,
      controller: true,
    });
    expect(rs?.spec?.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs?.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    expect(rs?.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3 });

    const pods = (
      await core.listNamespacedPod({
        namespace: 'default',
        labelSelector: `pod-template-hash=${hash}`,
      })
    ).items;
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.metadata?.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      expect(pod.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
      expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'ReplicaSet',
        name: rs?.metadata?.name,
        uid: rs?.metadata?.uid,
      });
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({
        name: 'app',
        image: 'web:1',
        ready: true,
        restartCount: 0,
      });
    }
    expect(new Set(pods.map((p) => p.status?.podIP)).size).toBe(3);
  });

  it('scales up and down, to zero and back', async () => {
    const { core, apps } = await cluster();
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('web', 2, 'web:1'),
    });
    const read = () => apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
    const pods = async () =>
      (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items;
    await eventually(read, (d) => expect(d.status?.availableReplicas).toBe(2));
    const scale = (replicas: number) =>
      apps.patchNamespacedDeploymentScale(
        { name: 'web', namespace: 'default', body: { spec: { replicas } } },
        merge,
      );

    await scale(5);
    await eventually(read, (d) => expect(d.status?.readyReplicas).toBe(5));
    expect(await pods()).toHaveLength(5);

    await scale(1);
    await eventually(read, (d) => expect(d.status?.replicas).toBe(1));
    expect(await pods()).toHaveLength(1);

    await scale(0);
    const zero = await eventually(read, (d) => {
      expect(d.status?.replicas).toBeUndefined();
      expect(d.status?.observedGeneration).toBe(d.metadata?.generation);
    });
    expect(await pods()).toHaveLength(0);
    expect(zero.status?.availableReplicas).toBeUndefined();
    expect(condition(zero, 'Available')?.status).toBe('True');
    expect(condition(zero, 'Progressing')?.reason).toBe('NewReplicaSetAvailable');
    const replicaSets = (await apps.listNamespacedReplicaSet({ namespace: 'default' })).items;
    expect(replicaSets.map((rs) => rs.spec?.replicas)).toEqual([0]);

    await scale(1);
    await eventually(read, (d) => expect(d.status?.availableReplicas).toBe(1));
  });

  it('rolls a template change out within maxSurge/maxUnavailable, and an informer sees it', async () => {
    const { kc, core, apps } = await cluster({ readyDelayMs: 100 });
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('web', 4, 'web:1'),
    });
    const read = () => apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
    await eventually(read, (d) => expect(d.status?.availableReplicas).toBe(4));

    const informer = makeInformer<V1Pod>(kc, '/api/v1/namespaces/default/pods', () =>
      core.listNamespacedPod({ namespace: 'default' }),
    );
    const live = new Map<string, V1Pod>();
    const added: string[] = [];
    const deleted: string[] = [];
    let maxPods = 0;
    let minReady = Number.POSITIVE_INFINITY;
    const observe = () => {
      maxPods = Math.max(maxPods, live.size);
      const ready = [...live.values()].filter((p) =>
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length;
      minReady = Math.min(minReady, ready);
    };
    informer.on('add', (p) => {
      live.set(p.metadata?.name ?? '', p);
      added.push(p.metadata?.name ?? '');
      observe();
    });
    informer.on('update', (p) => {
      live.set(p.metadata?.name ?? '', p);
      observe();
    });
    informer.on('delete', (p) => {
      live.delete(p.metadata?.name ?? '');
      deleted.push(p.metadata?.name ?? '');
      observe();
    });
    await informer.start();
    try {
      await eventually(
        async () => live.size,
        (n) => expect(n).toBe(4),
      );
      const oldPods = [...live.keys()];
      added.length = 0;
      maxPods = live.size;
      minReady = Number.POSITIVE_INFINITY;
      await apps.patchNamespacedDeployment(
        {
          name: 'web',
          namespace: 'default',
          body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'web:2' }] } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      const done = await eventually(read, (d) => {
        expect(d.status?.updatedReplicas).toBe(4);
        expect(d.status?.replicas).toBe(4);
        expect(d.status?.availableReplicas).toBe(4);
        expect(condition(d, 'Progressing')?.reason).toBe('NewReplicaSetAvailable');
      });
      expect(done.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
      expect(done.status?.observedGeneration).toBe(done.metadata?.generation);

      const replicaSets = (await apps.listNamespacedReplicaSet({ namespace: 'default' })).items;
      const byRevision = new Map(
        replicaSets.map((rs) => [
          rs.metadata?.annotations?.['deployment.kubernetes.io/revision'],
          rs,
        ]),
      );
      expect(byRevision.get('1')?.spec?.replicas).toBe(0);
      expect(byRevision.get('2')?.spec?.replicas).toBe(4);
      const newHash = byRevision.get('2')?.metadata?.labels?.['pod-template-hash'];

      await eventually(
        async () => [...live.values()],
        (pods) => {
          expect(pods).toHaveLength(4);
          for (const p of pods) expect(p.metadata?.labels?.['pod-template-hash']).toBe(newHash);
        },
      );
      expect(deleted.sort()).toEqual(oldPods.sort());
      expect(added).toHaveLength(4);
      // 4 replicas at 25%/25%: at most 5 Pods, at least 3 Ready at any time.
      expect(maxPods).toBe(5);
      expect(minReady).toBe(3);
    } finally {
      await informer.stop();
    }
  });

  it('reports ProgressDeadlineExceeded for a version that never becomes ready, keeping the old one', async () => {
    const { core, apps } = await cluster();
    const body = deployment('web', 2, 'web:1');
    if (body.spec) body.spec.progressDeadlineSeconds = 2;
    await apps.createNamespacedDeployment({ namespace: 'default', body });
    const read = () => apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
    await eventually(read, (d) => expect(d.status?.availableReplicas).toBe(2));

    await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: {
          spec: {
            template: {
              metadata: { annotations: { 'sim.aviary.dev/never-ready': 'true' } },
              spec: { containers: [{ name: 'app', image: 'web:2' }] },
            },
          },
        },
      },
      merge,
    );
    const progressing = await eventually(read, (d) =>
      expect(condition(d, 'Progressing')?.reason).toBe('ReplicaSetUpdated'),
    );
    expect(condition(progressing, 'Progressing')?.status).toBe('True');
    const failed = await eventually(
      read,
      (d) => expect(condition(d, 'Progressing')?.reason).toBe('ProgressDeadlineExceeded'),
      6000,
    );
    expect(condition(failed, 'Progressing')).toMatchObject({
      status: 'False',
      message: expect.stringMatching(/^ReplicaSet "web-[a-z0-9]+" has timed out progressing\.$/),
    });
    // maxUnavailable 25% of 2 rounds down to 0: the old Pods stay, one new Pod surges.
    expect(failed.status).toMatchObject({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 });
    expect(condition(failed, 'Available')?.status).toBe('True');
    const pods = (await core.listNamespacedPod({ namespace: 'default' })).items;
    const unready = pods.filter((p) => p.metadata?.annotations?.['sim.aviary.dev/never-ready']);
    expect(unready).toHaveLength(1);
    expect(unready[0]?.status?.phase).toBe('Running');
    expect(unready[0]?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
    });
  });

  it('crash-loops a crashing version with a growing restartCount, and honours ready-after', async () => {
    const { core, apps } = await cluster({ crashRestartIntervalMs: 150 });
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('crashy', 1, 'crashy:1', { 'sim.aviary.dev/crash': 'true' }),
    });
    const crashy = () =>
      core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=crashy' });
    const first = await eventually(crashy, (l) =>
      expect(l.items[0]?.status?.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1),
    );
    const status = first.items[0]?.status?.containerStatuses?.[0];
    expect(status?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(status?.lastState?.terminated?.exitCode).toBe(1);
    expect(status?.ready).toBe(false);
    const restarts = status?.restartCount ?? 0;
    await eventually(crashy, (l) =>
      expect(l.items[0]?.status?.containerStatuses?.[0]?.restartCount).toBeGreaterThan(restarts),
    );
    const d = await apps.readNamespacedDeployment({ name: 'crashy', namespace: 'default' });
    expect(d.status?.readyReplicas).toBeUndefined();
    expect(condition(d, 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });

    const started = Date.now();
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('slow', 1, 'slow:1', { 'sim.aviary.dev/ready-after': '1s' }),
    });
    await eventually(
      () => apps.readNamespacedDeployment({ name: 'slow', namespace: 'default' }),
      (s) => expect(s.status?.readyReplicas).toBe(1),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('holds a paused Deployment and rolls out once resumed', async () => {
    const { apps } = await cluster();
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('web', 1, 'web:1'),
    });
    const read = () => apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
    await eventually(read, (d) => expect(d.status?.availableReplicas).toBe(1));
    await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: {
          spec: {
            paused: true,
            template: { spec: { containers: [{ name: 'app', image: 'web:2' }] } },
          },
        },
      },
      merge,
    );
    const paused = await eventually(read, (d) =>
      expect(condition(d, 'Progressing')?.reason).toBe('DeploymentPaused'),
    );
    expect(condition(paused, 'Progressing')?.status).toBe('Unknown');
    expect(paused.status?.observedGeneration).toBe(paused.metadata?.generation);
    expect((await apps.listNamespacedReplicaSet({ namespace: 'default' })).items).toHaveLength(1);

    await apps.patchNamespacedDeployment(
      { name: 'web', namespace: 'default', body: { spec: { paused: false } } },
      merge,
    );
    await eventually(read, (d) => {
      expect(d.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
      expect(d.status?.updatedReplicas).toBe(1);
      expect(d.status?.replicas).toBe(1);
      expect(condition(d, 'Progressing')?.reason).toBe('NewReplicaSetAvailable');
    });
  });

  it('replaces a deleted Pod, and deleting a Deployment deletes its ReplicaSets and Pods', async () => {
    const { core, apps } = await cluster();
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('web', 2, 'web:1'),
    });
    const read = () => apps.readNamespacedDeployment({ name: 'web', namespace: 'default' });
    const pods = () => core.listNamespacedPod({ namespace: 'default' });
    await eventually(read, (d) => expect(d.status?.availableReplicas).toBe(2));
    const [victim] = (await pods()).items;
    await core.deleteNamespacedPod({ name: victim?.metadata?.name ?? '', namespace: 'default' });
    await eventually(pods, (l) => {
      expect(l.items).toHaveLength(2);
      expect(l.items.map((p) => p.metadata?.name)).not.toContain(victim?.metadata?.name);
    });

    await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'default' });
    await eventually(
      async () => [
        (await apps.listNamespacedReplicaSet({ namespace: 'default' })).items.length,
        (await pods()).items.length,
      ],
      (counts) => expect(counts).toEqual([0, 0]),
    );
  });
});
