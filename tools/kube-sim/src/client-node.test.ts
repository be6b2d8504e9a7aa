import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Deployment,
  Watch,
} from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createKubeSim, type KubeSim } from './kube-sim.ts';

let sim: KubeSim | undefined;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function cluster(options: { historyLimit?: number; bookmarkIntervalMs?: number } = {}) {
  sim = await createKubeSim({ clusters: ['eu-1'], ...options });
  const kc = new KubeConfig();
  kc.loadFromString(sim.kubeconfig());
  return {
    kc,
    sim,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
}

/** The `Status` a failed call got, or fails the test if the call succeeded. */
async function statusOf(call: Promise<unknown>): Promise<{ code: number; reason: string }> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiException);
    const body = (error as ApiException<unknown>).body;
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as {
      kind: string;
      code: number;
      reason: string;
    };
    expect(status.kind).toBe('Status');
    expect(status.code).toBe((error as ApiException<unknown>).code);
    return { code: status.code, reason: status.reason };
  }
  throw new Error('expected the call to fail');
}

function deployment(name: string, labels: Record<string, string> = {}): V1Deployment {
  return {
    metadata: { name, labels: { app: name, ...labels } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'app:1',
              ports: [{ containerPort: 8080 }],
              env: [{ name: 'A', value: '1' }],
            },
          ],
        },
      },
    },
  };
}

function configMap(name: string, labels: Record<string, string>): V1ConfigMap {
  return { metadata: { name, labels }, data: { k: 'v' } };
}

/** Collects watch events until `count` arrived, then aborts the watch. */
async function collect(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  count: number,
): Promise<
  {
    type: string;
    object: {
      metadata?: { name?: string; resourceVersion?: string };
      code?: number;
      reason?: string;
    };
  }[]
> {
  const events: { type: string; object: never }[] = [];
  let controller: AbortController | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${events.length} of ${count} events`)),
      5000,
    );
    new Watch(kc)
      .watch(
        path,
        query,
        (type, object) => {
          events.push({ type, object: object as never });
          if (events.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
        () => {
          clearTimeout(timer);
          resolve();
        },
      )
      .then((c) => {
        controller = c;
      }, reject);
  });
  await done;
  controller?.abort();
  return events;
}

describe('kube-sim with the real @kubernetes/client-node', () => {
  it('creates, gets, lists by label and field selectors, and rejects duplicates', async () => {
    const { core } = await cluster();
    await core.createNamespace({ body: { metadata: { name: 'team' } } });
    const created = await core.createNamespacedConfigMap({
      namespace: 'team',
      body: configMap('a', { tier: 'web', track: 'stable' }),
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
    await core.createNamespacedConfigMap({
      namespace: 'team',
      body: configMap('b', { tier: 'web', track: 'canary' }),
    });
    await core.createNamespacedConfigMap({
      namespace: 'team',
      body: configMap('c', { tier: 'db' }),
    });

    const got = await core.readNamespacedConfigMap({ name: 'a', namespace: 'team' });
    expect(got.data).toEqual({ k: 'v' });

    const names = async (labelSelector: string, fieldSelector?: string) =>
      (
        await core.listNamespacedConfigMap({
          namespace: 'team',
          labelSelector,
          ...(fieldSelector === undefined ? {} : { fieldSelector }),
        })
      ).items.map((i) => i.metadata?.name);
    expect(await names('tier=web')).toEqual(['a', 'b']);
    expect(await names('tier!=web')).toEqual(['c']);
    expect(await names('track in (canary,x)')).toEqual(['b']);
    expect(await names('track notin (canary)')).toEqual(['a', 'c']);
    expect(await names('track')).toEqual(['a', 'b']);
    expect(await names('!track')).toEqual(['c']);
    expect(await names('tier=web,track=stable')).toEqual(['a']);
    expect(await names('', 'metadata.name=b')).toEqual(['b']);
    expect(await names('', 'metadata.name!=b')).toEqual(['a', 'c']);
    expect(await statusOf(names('', 'spec.nope=1'))).toEqual({ code: 400, reason: 'BadRequest' });

    const all = await core.listConfigMapForAllNamespaces({
      fieldSelector: 'metadata.namespace=team',
    });
    expect(all.items).toHaveLength(3);

    const page = await core.listNamespacedConfigMap({ namespace: 'team', limit: 2 });
    expect(page.items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);
    const rest = await core.listNamespacedConfigMap({
      namespace: 'team',
      limit: 2,
      _continue: page.metadata?._continue ?? '',
    });
    expect(rest.items.map((i) => i.metadata?.name)).toEqual(['c']);

    expect(
      await statusOf(
        core.createNamespacedConfigMap({ namespace: 'team', body: configMap('a', {}) }),
      ),
    ).toEqual({ code: 409, reason: 'AlreadyExists' });
    expect(await statusOf(core.readNamespacedConfigMap({ name: 'zz', namespace: 'team' }))).toEqual(
      {
        code: 404,
        reason: 'NotFound',
      },
    );
    expect(
      await statusOf(
        core.createNamespacedConfigMap({ namespace: 'nowhere', body: configMap('a', {}) }),
      ),
    ).toEqual({ code: 404, reason: 'NotFound' });
    expect(
      await statusOf(
        core.createNamespacedConfigMap({ namespace: 'team', body: configMap('Bad_Name', {}) }),
      ),
    ).toEqual({ code: 422, reason: 'Invalid' });
  });

  it('updates with optimistic concurrency: a stale resourceVersion is a 409 Conflict', async () => {
    const { core } = await cluster();
    const first = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: configMap('cfg', {}),
    });
    const updated = await core.replaceNamespacedConfigMap({
      name: 'cfg',
      namespace: 'default',
      body: { ...first, data: { k: 'v2' } },
    });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(
      Number(first.metadata?.resourceVersion),
    );
    expect(
      await statusOf(
        core.replaceNamespacedConfigMap({
          name: 'cfg',
          namespace: 'default',
          body: { ...first, data: { k: 'v3' } },
        }),
      ),
    ).toEqual({ code: 409, reason: 'Conflict' });
    expect(
      (await core.readNamespacedConfigMap({ name: 'cfg', namespace: 'default' })).data,
    ).toEqual({ k: 'v2' });
  });

  it('bumps generation on spec changes only, keeps status out of the main endpoint, and serves /status', async () => {
    const { apps } = await cluster();
    const created = await apps.createNamespacedDeployment({
      namespace: 'default',
      body: deployment('web'),
    });
    expect(created.metadata?.generation).toBe(1);
    const labelled = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: { metadata: { labels: { extra: 'yes' } }, status: { replicas: 9 } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(labelled.metadata?.generation).toBe(1);
    expect(labelled.status?.replicas).toBeUndefined();
    const withStatus = await apps.patchNamespacedDeploymentStatus(
      {
        name: 'web',
        namespace: 'default',
        body: { status: { replicas: 2, observedGeneration: 1 } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(withStatus.status?.replicas).toBe(2);
    expect(withStatus.metadata?.generation).toBe(1);
    const respec = await apps.patchNamespacedDeployment(
      { name: 'web', namespace: 'default', body: { spec: { minReadySeconds: 5 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(respec.metadata?.generation).toBe(2);
    expect(respec.status?.replicas).toBe(2);
  });

  it('patches with JSON patch, merge patch, strategic merge patch and server-side apply', async () => {
    const { apps, custom } = await cluster();
    await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') });

    const jsonPatched = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: [
          { op: 'test', path: '/spec/replicas', value: 2 },
          { op: 'replace', path: '/spec/replicas', value: 3 },
          { op: 'add', path: '/metadata/annotations', value: { 'a/b': 'c' } },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jsonPatched.spec?.replicas).toBe(3);
    expect(jsonPatched.metadata?.annotations).toEqual({ 'a/b': 'c' });
    expect(
      await statusOf(
        apps.patchNamespacedDeployment(
          {
            name: 'web',
            namespace: 'default',
            body: [{ op: 'test', path: '/spec/replicas', value: 2 }],
          },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
        ),
      ),
    ).toEqual({ code: 422, reason: 'Invalid' });

    const merged = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: { metadata: { annotations: { 'a/b': null, x: 'y' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.annotations).toEqual({ x: 'y' });

    const strategic = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        body: {
          spec: {
            template: {
              spec: {
                containers: [
                  {
                    name: 'app',
                    image: 'app:2',
                    env: [{ name: 'B', value: '2' }],
                    ports: [{ containerPort: 9090 }],
                  },
                  { name: 'sidecar', image: 'proxy:1' },
                ],
              },
            },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const containers = strategic.spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => [c.name, c.image])).toEqual([
      ['app', 'app:2'],
      ['sidecar', 'proxy:1'],
    ]);
    expect(containers[0]?.env?.map((e) => e.name)).toEqual(['A', 'B']);
    expect(containers[0]?.ports?.map((p) => p.containerPort)).toEqual([8080, 9090]);

    const stale = await apps
      .patchNamespacedDeployment(
        {
          name: 'web',
          namespace: 'default',
          body: { metadata: { resourceVersion: '1' }, spec: { replicas: 1 } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((e: unknown) => e);
    expect((stale as ApiException<unknown>).code).toBe(409);

    const applied = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'default',
        fieldManager: 'aviary',
        force: true,
        body: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web' },
          spec: { replicas: 4 },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    expect(applied.spec?.replicas).toBe(4);
    expect(applied.spec?.template.spec?.containers).toHaveLength(2);

    const route = {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name: 'web' },
      spec: {
        hosts: ['web'],
        http: [{ route: [{ destination: { host: 'web-primary' }, weight: 100 }] }],
      },
    };
    const target = {
      group: 'networking.istio.io',
      version: 'v1beta1',
      namespace: 'default',
      plural: 'virtualservices',
    };
    const created = (await custom.patchNamespacedCustomObject(
      { ...target, name: 'web', body: route, fieldManager: 'aviary' },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as typeof route;
    expect(created.spec.hosts).toEqual(['web']);
    const reweighted = (await custom.patchNamespacedCustomObject(
      {
        ...target,
        name: 'web',
        body: [{ op: 'replace', path: '/spec/http/0/route/0/weight', value: 90 }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )) as typeof route;
    expect(reweighted.spec.http[0]?.route[0]?.weight).toBe(90);
    expect(
      await statusOf(
        custom.patchNamespacedCustomObject(
          { ...target, name: 'web', body: { spec: { hosts: ['x'] } } },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        ),
      ),
    ).toEqual({ code: 415, reason: 'UnsupportedMediaType' });
    const listed = (await custom.listNamespacedCustomObject(target)) as { items: unknown[] };
    expect(listed.items).toHaveLength(1);
  });

  it('maps the scale subresource onto spec.replicas', async () => {
    const { apps } = await cluster();
    await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web') });
    const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace: 'default' });
    expect(scale.spec?.replicas).toBe(2);
    expect(scale.status?.selector).toBe('app=web');
    await apps.replaceNamespacedDeploymentScale({
      name: 'web',
      namespace: 'default',
      body: { ...scale, spec: { replicas: 5 } },
    });
    expect(
      (await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' })).spec?.replicas,
    ).toBe(5);
    const patched = await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace: 'default', body: { spec: { replicas: 0 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.spec?.replicas).toBe(0);
    expect(
      await statusOf(
        apps.replaceNamespacedDeploymentScale({
          name: 'web',
          namespace: 'default',
          body: { ...scale, spec: { replicas: 1 } },
        }),
      ),
    ).toEqual({ code: 409, reason: 'Conflict' });
  });

  it('deletes, answering with the object or a Status, and cascades namespaces', async () => {
    const { core, apps } = await cluster();
    await core.createNamespace({ body: { metadata: { name: 'gone' } } });
    await core.createNamespacedConfigMap({ namespace: 'gone', body: configMap('cfg', {}) });
    await apps.createNamespacedDeployment({ namespace: 'gone', body: deployment('web') });
    const status = await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'gone' });
    expect(status.status).toBe('Success');
    expect(
      await statusOf(apps.readNamespacedDeployment({ name: 'web', namespace: 'gone' })),
    ).toEqual({
      code: 404,
      reason: 'NotFound',
    });
    await core.deleteNamespace({ name: 'gone' });
    expect(
      await statusOf(core.readNamespacedConfigMap({ name: 'cfg', namespace: 'gone' })),
    ).toEqual({
      code: 404,
      reason: 'NotFound',
    });
  });

  it('watches from a resourceVersion and receives exactly the later events', async () => {
    const { core, kc } = await cluster();
    await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('before', {}) });
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const from = list.metadata?.resourceVersion ?? '';
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: configMap('one', { w: 'x' }),
    });
    await core.patchNamespacedConfigMap(
      { name: 'one', namespace: 'default', body: { data: { k: 'changed' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ name: 'before', namespace: 'default' });
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'other' } },
    });

    const events = await collect(
      kc,
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: from },
      3,
    );
    expect(events.map((e) => [e.type, e.object.metadata?.name])).toEqual([
      ['ADDED', 'one'],
      ['MODIFIED', 'one'],
      ['DELETED', 'before'],
    ]);
    const versions = events.map((e) => Number(e.object.metadata?.resourceVersion));
    expect(
      versions.every((v, i) => v > Number(from) && (i === 0 || v > (versions[i - 1] ?? 0))),
    ).toBe(true);

    const live = collect(
      kc,
      '/api/v1/namespaces/default/configmaps',
      {
        resourceVersion: String(versions.at(-1)),
        labelSelector: 'w=x',
      },
      2,
    );
    await new Promise((r) => setTimeout(r, 100));
    await core.patchNamespacedConfigMap(
      { name: 'one', namespace: 'default', body: { metadata: { labels: { w: 'y' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: configMap('two', { w: 'x' }),
    });
    // Leaving the selector is a DELETED for that watch, entering it an ADDED.
    expect((await live).map((e) => [e.type, e.object.metadata?.name])).toEqual([
      ['DELETED', 'one'],
      ['ADDED', 'two'],
    ]);
  });

  it('answers a too-old resourceVersion with a 410 Expired ERROR event, and sends bookmarks', async () => {
    const { core, kc, sim: s } = await cluster({ historyLimit: 2, bookmarkIntervalMs: 50 });
    const first = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: configMap('a', {}),
    });
    for (const name of ['b', 'c', 'd']) {
      await core.createNamespacedConfigMap({ namespace: 'default', body: configMap(name, {}) });
    }
    const [error] = await collect(
      kc,
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: first.metadata?.resourceVersion ?? '' },
      1,
    );
    expect(error?.type).toBe('ERROR');
    expect(error?.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });

    s.cluster('eu-1').store.compact();
    const [bookmark] = await collect(
      kc,
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: s.cluster('eu-1').store.resourceVersion, allowWatchBookmarks: 'true' },
      1,
    );
    expect(bookmark?.type).toBe('BOOKMARK');
    expect(bookmark?.object.metadata?.resourceVersion).toBe(
      s.cluster('eu-1').store.resourceVersion,
    );
  });

  it('ends a watch after timeoutSeconds', async () => {
    const { kc } = await cluster();
    const started = Date.now();
    const events = await collect(
      kc,
      '/api/v1/namespaces/default/pods',
      { timeoutSeconds: '1', resourceVersion: '1' },
      99,
    );
    expect(events).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('feeds an informer that lists, watches, and relists after the watch expires', async () => {
    const { core, kc, sim: s } = await cluster();
    await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('listed', {}) });
    const informer = makeInformer(kc, '/api/v1/namespaces/default/configmaps', () =>
      core.listNamespacedConfigMap({ namespace: 'default' }),
    );
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${o.data?.k}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      const until = async (entry: string) => {
        for (let i = 0; i < 100 && !seen.includes(entry); i++)
          await new Promise((r) => setTimeout(r, 20));
        expect(seen).toContain(entry);
      };
      await until('add listed');
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: configMap('watched', {}),
      });
      await until('add watched');
      await core.patchNamespacedConfigMap(
        { name: 'watched', namespace: 'default', body: { data: { k: 'v2' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await until('update watched v2');
      await core.deleteNamespacedConfigMap({ name: 'listed', namespace: 'default' });
      await until('delete listed');

      // The API "restarts": open watches end and history is gone; the informer relists.
      s.cluster('eu-1').store.compact();
      s.cluster('eu-1').dropWatches();
      await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('after', {}) });
      await until('add after');
      expect(
        informer
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
      ).toEqual(['after', 'watched']);
    } finally {
      await informer.stop();
    }
  });

  it('ends held-back watches with 410 Expired, so that an informer relists what it missed', async () => {
    const { core, kc, sim: s } = await cluster();
    await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('kept', {}) });
    await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('gone', {}) });
    const informer = makeInformer(kc, '/api/v1/namespaces/default/configmaps', () =>
      core.listNamespacedConfigMap({ namespace: 'default' }),
    );
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${o.data?.k}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      expect([...seen].sort()).toEqual(['add gone', 'add kept']);
      // Changes the watch never delivers…
      s.cluster('eu-1').holdWatches();
      await core.patchNamespacedConfigMap(
        { name: 'kept', namespace: 'default', body: { data: { k: 'v2' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ name: 'gone', namespace: 'default' });
      await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('new', {}) });
      await new Promise((r) => setTimeout(r, 100));
      expect([...seen].sort()).toEqual(['add gone', 'add kept']);
      // …until the watch expires: the informer relists and reports each difference once.
      s.cluster('eu-1').expireWatches();
      await expect.poll(() => seen.length).toBe(5);
      expect(seen.slice(2).sort()).toEqual(['add new', 'delete gone', 'update kept v2']);
      expect(
        informer
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
      ).toEqual(['kept', 'new']);
    } finally {
      await informer.stop();
    }
  });

  it('serves discovery documents and the version', async () => {
    const { sim: s } = await cluster();
    const url = s.cluster('eu-1').url;
    const get = async (path: string, accept = 'application/json') =>
      (await fetch(`${url}${path}`, { headers: { accept } })) as Response;
    expect(((await (await get('/api')).json()) as { versions: string[] }).versions).toEqual(['v1']);
    const groups = (await (await get('/apis')).json()) as { groups: { name: string }[] };
    expect(groups.groups.map((g) => g.name)).toEqual([
      'apps',
      'autoscaling',
      'networking.k8s.io',
      'gateway.networking.k8s.io',
      'networking.istio.io',
      'split.smi-spec.io',
    ]);
    const appsV1 = (await (await get('/apis/apps/v1')).json()) as {
      resources: { name: string; kind: string; shortNames?: string[] }[];
    };
    expect(appsV1.resources.map((r) => r.name)).toEqual([
      'deployments',
      'deployments/status',
      'deployments/scale',
      'replicasets',
      'replicasets/status',
      'replicasets/scale',
    ]);
    expect(appsV1.resources[0]?.shortNames).toEqual(['deploy']);
    expect(
      (await get('/apis', 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'))
        .status,
    ).toBe(406);
    expect(((await (await get('/version')).json()) as { major: string }).major).toBe('1');
    expect((await get('/apis/nope/v1')).status).toBe(404);
  });

  it('runs several clusters with separate state', async () => {
    sim = await createKubeSim({ clusters: ['eu-1', 'us-1'] });
    const clients = sim.clusters.map((c) => {
      const kc = new KubeConfig();
      kc.loadFromString(c.kubeconfig());
      return kc.makeApiClient(CoreV1Api);
    });
    await clients[0]?.createNamespacedConfigMap({
      namespace: 'default',
      body: configMap('only-eu', {}),
    });
    const [eu, us] = await Promise.all(
      clients.map((c) => c.listNamespacedConfigMap({ namespace: 'default' })),
    );
    expect(eu?.items).toHaveLength(1);
    expect(us?.items).toHaveLength(0);
    expect(sim.cluster('us-1').url).not.toBe(sim.cluster('eu-1').url);
  });
});
