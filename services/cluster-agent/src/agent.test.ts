import type { KubeSim } from '@aviary/kube-sim';
import { CommandOutcome } from '@aviary/proto';
import type { V1Deployment } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CommandResultStore,
  createConfigMapResultStore,
  resultsConfigMapName,
} from './command-results.ts';
import {
  type CommandHandlerOptions,
  createCommandHandler,
  type HandledCommand,
} from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import { MANAGED_BY_LABEL, REVISION_ANNOTATION } from './ownership.ts';
import { deploymentReadiness } from './readiness.ts';
import { computeRevision } from './revision.ts';
import { command, NS, simulatedTarget, sleep } from './testing.ts';

let sim: KubeSim;
let kube: KubeClient;
const signal = new AbortController().signal;

beforeEach(async () => {
  ({ sim, kube } = await simulatedTarget());
});

afterEach(async () => {
  await sim.close();
});

async function setImage(image: string) {
  await updateWithRetry(
    kube,
    'Deployment',
    NS,
    'podinfo',
    (d) => {
      const container = d.spec?.template?.spec?.containers[0];
      if (container !== undefined) container.image = image;
      return d;
    },
    signal,
  );
}

function handler(options: Partial<CommandHandlerOptions> = {}) {
  return createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now(), ...options });
}

/** Gives the target's pods (and so the primary's, a copy of its template) a sim behaviour. */
async function setPodBehaviour(annotations: Record<string, string>) {
  await kube.mergePatch(
    'Deployment',
    NS,
    'podinfo',
    { spec: { template: { metadata: { annotations } } } },
    signal,
  );
}

/** Sends a command until it no longer fails retriably (the primary or canary becoming ready). */
async function untilDone(
  h: ReturnType<typeof handler>,
  cmd: unknown,
  timeoutMs = 10_000,
): Promise<HandledCommand> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const handled = await h.handle(cmd, signal);
    if (handled.result.outcome !== CommandOutcome.FAILED || Date.now() > deadline) return handled;
    await sleep(50);
  }
}

const initialize = (router = 'ROUTER_KIND_ISTIO') =>
  command({
    initializeTarget: {
      router: router as 'ROUTER_KIND_ISTIO',
      service: { port: 80, targetPort: 'http', hosts: ['podinfo.example.com'] },
    },
  });

const setRoutes = (routes: Record<string, unknown>) =>
  command({ setRoutes: { router: 'ROUTER_KIND_ISTIO', serviceName: 'podinfo', routes } });

async function names(kind: 'Deployment' | 'Service' | 'ConfigMap' | 'Secret') {
  const plural = {
    Deployment: 'deployments',
    Service: 'services',
    ConfigMap: 'configmaps',
    Secret: 'secrets',
  }[kind];
  const url = `${sim.cluster('eu-1').url}/${kind === 'Deployment' ? 'apis/apps/v1' : 'api/v1'}/namespaces/${NS}/${plural}`;
  const list = (await (await fetch(url)).json()) as { items: { metadata: { name: string } }[] };
  return list.items.map((i) => i.metadata.name).sort();
}

describe('bootstrap', () => {
  it('creates exactly Flagger’s objects, scales the canary to zero, and is idempotent', async () => {
    const h = handler();
    const first = await untilDone(h, initialize());
    expect(first.result.outcome).toBe(CommandOutcome.SUCCEEDED);

    expect(await names('Deployment')).toEqual(['podinfo', 'podinfo-primary']);
    expect(await names('Service')).toEqual(['podinfo', 'podinfo-canary', 'podinfo-primary']);
    expect(await names('ConfigMap')).toEqual([
      'podinfo-env',
      'podinfo-env-primary',
      'podinfo-files',
      'podinfo-files-primary',
    ]);
    expect(await names('Secret')).toEqual(['podinfo-token', 'podinfo-token-primary']);

    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primary?.metadata?.labels).toMatchObject({
      app: 'podinfo-primary',
      team: 'web',
      [MANAGED_BY_LABEL]: 'aviary',
    });
    expect(primary?.spec?.selector?.matchLabels).toEqual({ app: 'podinfo-primary' });
    expect(primary?.spec?.replicas).toBe(2);
    const pod = primary?.spec?.template;
    expect(pod?.metadata?.labels).toEqual({ app: 'podinfo-primary' });
    expect(pod?.spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name).toBe('podinfo-env-primary');
    expect(pod?.spec?.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name).toBe(
      'podinfo-token-primary',
    );
    // The optional, missing reference is left as it is.
    expect(pod?.spec?.containers[0]?.env?.[1]?.valueFrom?.configMapKeyRef?.name).toBe('absent');
    expect(pod?.spec?.volumes?.[0]?.configMap?.name).toBe('podinfo-files-primary');

    const target = await kube.get('Deployment', NS, 'podinfo', signal);
    expect(target?.spec?.replicas).toBe(0);
    const revision = await computeRevision(kube, target ?? {}, signal);
    expect(primary?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(revision.id);

    const selector = async (name: string) =>
      (await kube.get('Service', NS, name, signal))?.spec?.selector;
    expect(await selector('podinfo')).toEqual({ app: 'podinfo-primary' });
    expect(await selector('podinfo-primary')).toEqual({ app: 'podinfo-primary' });
    expect(await selector('podinfo-canary')).toEqual({ app: 'podinfo' });
    const apex = await kube.get('Service', NS, 'podinfo', signal);
    expect(apex?.spec?.ports).toEqual([
      expect.objectContaining({ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }),
    ]);

    // Again, as a new command: nothing changes.
    const versions = async () =>
      Promise.all(
        (['podinfo', 'podinfo-primary'] as const).map(
          async (n) => (await kube.get('Deployment', NS, n, signal))?.metadata?.resourceVersion,
        ),
      );
    const before = [await versions(), await selector('podinfo')];
    const again = await h.handle(initialize(), signal);
    expect(again.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect([await versions(), await selector('podinfo')]).toEqual(before);
  });

  it('routes nothing to the primary before it is ready: Services and routing object after, the target scaled to zero last', async () => {
    await setPodBehaviour({ 'sim.aviary.dev/ready-after': '1500ms' });
    // Every change the API server makes, in order, with whether the primary was ready then.
    const timeline: { event: string; primaryReady: boolean }[] = [];
    let primary: V1Deployment | undefined;
    const unsubscribe = sim.cluster('eu-1').store.subscribe((e) => {
      const meta = e.object.metadata as { name: string };
      if (e.resource.kind === 'Deployment' && meta.name === 'podinfo-primary')
        primary = e.object as V1Deployment;
      const replicas = (e.object as V1Deployment).spec?.replicas;
      timeline.push({
        event: `${e.type} ${e.resource.kind}/${meta.name}${e.resource.kind === 'Deployment' ? ` replicas=${replicas}` : ''}`,
        primaryReady:
          primary !== undefined && deploymentReadiness(primary, { nowMs: Date.now() }).ready,
      });
    });
    try {
      const h = handler({ primaryReadyWaitMs: 0 });
      const first = await h.handle(initialize(), signal);
      expect(first.result).toMatchObject({
        outcome: CommandOutcome.FAILED,
        reason: 'PrimaryNotReady',
        retriable: true,
      });
      // The primary and its configs exist; nothing that would send it traffic does.
      expect(await names('Deployment')).toEqual(['podinfo', 'podinfo-primary']);
      expect(await names('Service')).toEqual([]);
      expect(await kube.get('VirtualService', NS, 'podinfo', signal)).toBeUndefined();
      expect(await kube.get('DestinationRule', NS, 'podinfo-primary', signal)).toBeUndefined();
      expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(2);
      // Sent again while the primary is still starting: still nothing routed.
      const second = await h.handle(initialize(), signal);
      expect(second.result.reason).toBe('PrimaryNotReady');
      expect(await names('Service')).toEqual([]);

      expect((await untilDone(h, initialize())).result.outcome).toBe(CommandOutcome.SUCCEEDED);
    } finally {
      unsubscribe();
    }
    const added = (kind: string, name: string) =>
      timeline.findIndex((t) => t.event.startsWith(`ADDED ${kind}/${name}`));
    const routed = [
      added('Service', 'podinfo'),
      added('Service', 'podinfo-primary'),
      added('Service', 'podinfo-canary'),
      added('DestinationRule', 'podinfo-primary'),
      added('DestinationRule', 'podinfo-canary'),
      added('VirtualService', 'podinfo'),
    ];
    expect(routed.every((i) => i >= 0)).toBe(true);
    for (const i of routed)
      expect(timeline[i], timeline[i]?.event).toMatchObject({ primaryReady: true });
    const scaledToZero = timeline.findIndex((t) =>
      t.event.startsWith('MODIFIED Deployment/podinfo replicas=0'),
    );
    expect(scaledToZero).toBeGreaterThan(Math.max(...routed));
  });

  it('waits a short, bounded time for the primary within one delivery', async () => {
    await setPodBehaviour({ 'sim.aviary.dev/ready-after': '500ms' });
    const once = await handler().handle(initialize(), signal);
    expect(once.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(await names('Service')).toEqual(['podinfo', 'podinfo-canary', 'podinfo-primary']);

    // A primary that does not become ready in time: answered after the wait, nothing routed.
    await kube.create(
      'Deployment',
      NS,
      {
        metadata: { name: 'shop' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'shop' } },
          template: {
            metadata: {
              labels: { app: 'shop' },
              annotations: { 'sim.aviary.dev/never-ready': 'true' },
            },
            spec: { containers: [{ name: 'app', image: 'shop:1' }] },
          },
        },
      },
      signal,
    );
    const startedAt = Date.now();
    const late = await handler({ primaryReadyWaitMs: 300 }).handle(
      command(
        { initializeTarget: { router: 'ROUTER_KIND_ISTIO', service: { port: 80 } } },
        { workload: { namespace: NS, name: 'shop', kind: 'WORKLOAD_KIND_DEPLOYMENT' } },
      ),
      signal,
    );
    const tookMs = Date.now() - startedAt;
    expect(late.result).toMatchObject({
      outcome: CommandOutcome.FAILED,
      reason: 'PrimaryNotReady',
    });
    expect(tookMs).toBeGreaterThanOrEqual(300);
    expect(tookMs).toBeLessThan(2000);
    expect(await kube.get('Service', NS, 'shop', signal)).toBeUndefined();
    expect(await kube.get('VirtualService', NS, 'shop', signal)).toBeUndefined();
  });

  it('never modifies an object it does not own', async () => {
    await kube.create(
      'Service',
      NS,
      {
        metadata: { name: 'podinfo-canary', labels: { owner: 'someone' } },
        spec: { selector: { app: 'other' }, ports: [{ port: 81 }] },
      },
      signal,
    );
    const before = await kube.get('Service', NS, 'podinfo-canary', signal);
    const handled = await untilDone(handler(), initialize());
    expect(handled.result).toMatchObject({ outcome: CommandOutcome.REJECTED, reason: 'NotOwned' });
    const after = await kube.get('Service', NS, 'podinfo-canary', signal);
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(after?.spec?.selector).toEqual({ app: 'other' });
  });

  it('refuses to take over a VirtualService it does not own', async () => {
    await kube.create(
      'VirtualService',
      NS,
      {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'podinfo' },
        spec: { hosts: ['podinfo'], http: [{ route: [{ destination: { host: 'elsewhere' } }] }] },
      },
      signal,
    );
    const handled = await untilDone(handler(), initialize());
    expect(handled.result).toMatchObject({ outcome: CommandOutcome.REJECTED, reason: 'NotOwned' });
    const vs = await kube.get('VirtualService', NS, 'podinfo', signal);
    expect(vs?.spec?.http).toEqual([{ route: [{ destination: { host: 'elsewhere' } }] }]);
    const routes = await handler().handle(
      setRoutes({ primaryWeightPercent: 50, canaryWeightPercent: 50 }),
      signal,
    );
    expect(routes.result).toMatchObject({ outcome: CommandOutcome.REJECTED, reason: 'NotOwned' });
  });
});

describe('revision', () => {
  it('changes with the pod template or a tracked config, not otherwise', async () => {
    const revision = async () =>
      computeRevision(kube, (await kube.get('Deployment', NS, 'podinfo', signal)) ?? {}, signal);
    const r1 = await revision();
    expect(Object.keys(r1.configChecksums).sort()).toEqual([
      'configmap/podinfo-env',
      'configmap/podinfo-files',
      'secret/podinfo-token',
    ]);
    // Replicas and unrelated objects are not part of the revision.
    await kube.mergePatch('Deployment', NS, 'podinfo', { spec: { replicas: 5 } }, signal);
    await kube.create(
      'ConfigMap',
      NS,
      { metadata: { name: 'unrelated' }, data: { a: 'b' } },
      signal,
    );
    expect((await revision()).id).toBe(r1.id);

    await kube.mergePatch('ConfigMap', NS, 'podinfo-env', { data: { A: '2' } }, signal);
    const r2 = await revision();
    expect(r2.id).not.toBe(r1.id);
    expect(r2.podTemplateHash).toBe(r1.podTemplateHash);

    await setImage('podinfo:2');
    const r3 = await revision();
    expect(r3.podTemplateHash).not.toBe(r2.podTemplateHash);

    // Opted-out configs are not tracked.
    await kube.mergePatch(
      'ConfigMap',
      NS,
      'podinfo-files',
      { metadata: { annotations: { 'flagger.app/config-tracking': 'disabled' } } },
      signal,
    );
    expect(Object.keys((await revision()).configChecksums)).not.toContain(
      'configmap/podinfo-files',
    );
  });
});

describe('a canary by commands with the Istio router', () => {
  it('shifts 10 → 50, promotes, scales down, and writes Flagger’s VirtualService', async () => {
    const h = handler();
    expect((await untilDone(h, initialize())).result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const vs = async () => (await kube.get('VirtualService', NS, 'podinfo', signal))?.spec;
    expect(await vs()).toEqual({
      hosts: ['podinfo', 'podinfo.example.com'],
      http: [
        {
          route: [
            { destination: { host: 'podinfo-primary' }, weight: 100 },
            { destination: { host: 'podinfo-canary' }, weight: 0 },
          ],
        },
      ],
    });
    expect((await kube.get('DestinationRule', NS, 'podinfo-canary', signal))?.spec).toEqual({
      host: 'podinfo-canary',
    });

    // A new revision arrives in the target.
    await setImage('podinfo:2');
    await kube.mergePatch('ConfigMap', NS, 'podinfo-env', { data: { A: 'two' } }, signal);
    const revision = await computeRevision(
      kube,
      (await kube.get('Deployment', NS, 'podinfo', signal)) ?? {},
      signal,
    );

    const scaled = await h.handle(command({ scaleCanary: {} }), signal);
    expect(scaled.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(2);

    for (const weight of [10, 50]) {
      const set = await h.handle(
        setRoutes({ primaryWeightPercent: 100 - weight, canaryWeightPercent: weight }),
        signal,
      );
      expect(set.result.outcome).toBe(CommandOutcome.SUCCEEDED);
      expect(set.routesApplied?.routes).toMatchObject({
        primaryWeightPercent: 100 - weight,
        canaryWeightPercent: weight,
        mirror: false,
      });
      expect((await vs())?.http).toEqual([
        {
          route: [
            { destination: { host: 'podinfo-primary' }, weight: 100 - weight },
            { destination: { host: 'podinfo-canary' }, weight },
          ],
        },
      ]);
    }

    const stale = await h.handle(command({ promoteCanary: { revisionId: 'nope' } }), signal);
    expect(stale.result).toMatchObject({
      outcome: CommandOutcome.REJECTED,
      reason: 'StaleRevision',
    });

    const promoted = await h.handle(
      command({ promoteCanary: { revisionId: revision.id } }),
      signal,
    );
    expect(promoted.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primary?.spec?.template?.spec?.containers[0]?.image).toBe('podinfo:2');
    expect(primary?.spec?.template?.metadata?.labels).toEqual({ app: 'podinfo-primary' });
    expect(primary?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(revision.id);
    expect((await kube.get('ConfigMap', NS, 'podinfo-env-primary', signal))?.data).toEqual({
      A: 'two',
    });
    expect(promoted.result.observedGeneration).toBe(BigInt(primary?.metadata?.generation ?? -1));

    await h.handle(setRoutes({ primaryWeightPercent: 100, canaryWeightPercent: 0 }), signal);
    const down = await h.handle(command({ scaleCanaryToZero: {} }), signal);
    expect(down.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(0);
    expect(((await vs())?.http as unknown[] | undefined)?.[0]).toEqual({
      route: [
        { destination: { host: 'podinfo-primary' }, weight: 100 },
        { destination: { host: 'podinfo-canary' }, weight: 0 },
      ],
    });
  });

  it('routes matching requests by the weights for A/B, everything else to the primary', async () => {
    const h = handler();
    await untilDone(h, initialize());
    const set = await h.handle(
      setRoutes({
        primaryWeightPercent: 0,
        canaryWeightPercent: 100,
        matches: [
          { headers: { 'x-canary': { exact: 'insider' } } },
          { cookies: { canary: { exact: 'always' } } },
        ],
      }),
      signal,
    );
    expect(set.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect((await kube.get('VirtualService', NS, 'podinfo', signal))?.spec?.http).toEqual([
      {
        match: [
          { headers: { 'x-canary': { exact: 'insider' } } },
          { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
        ],
        route: [
          { destination: { host: 'podinfo-primary' }, weight: 0 },
          { destination: { host: 'podinfo-canary' }, weight: 100 },
        ],
      },
      { route: [{ destination: { host: 'podinfo-primary' }, weight: 100 }] },
    ]);
    expect(set.routesApplied?.routes.matches).toEqual([
      { headers: { 'x-canary': { exact: 'insider' } }, cookies: {} },
      { headers: {}, cookies: { canary: { exact: 'always' } } },
    ]);
  });

  it('mirrors a share of the traffic to the canary', async () => {
    const h = handler();
    await untilDone(h, initialize());
    const set = await h.handle(
      setRoutes({
        primaryWeightPercent: 100,
        canaryWeightPercent: 0,
        mirror: true,
        mirrorWeightPercent: 25,
      }),
      signal,
    );
    expect((await kube.get('VirtualService', NS, 'podinfo', signal))?.spec?.http).toEqual([
      {
        route: [
          { destination: { host: 'podinfo-primary' }, weight: 100 },
          { destination: { host: 'podinfo-canary' }, weight: 0 },
        ],
        mirror: { host: 'podinfo-canary' },
        mirrorPercentage: { value: 25 },
      },
    ]);
    expect(set.routesApplied?.routes).toMatchObject({ mirror: true, mirrorWeightPercent: 25 });
  });
});

describe('commands', () => {
  it('applies a command delivered twice once', async () => {
    const h = handler();
    await untilDone(h, initialize());
    const cmd = setRoutes({ primaryWeightPercent: 90, canaryWeightPercent: 10 });
    const first = await h.handle(cmd, signal);
    const version = (await kube.get('VirtualService', NS, 'podinfo', signal))?.metadata
      ?.resourceVersion;
    // Someone else changes the weights; the re-delivered command must not undo it.
    await h.handle(setRoutes({ primaryWeightPercent: 80, canaryWeightPercent: 20 }), signal);
    const changed = (await kube.get('VirtualService', NS, 'podinfo', signal))?.metadata
      ?.resourceVersion;
    expect(changed).not.toBe(version);
    const second = await h.handle(JSON.stringify(cmd), signal);
    expect(second.duplicate).toBe(true);
    expect(second.result).toEqual(first.result);
    expect(
      (await kube.get('VirtualService', NS, 'podinfo', signal))?.metadata?.resourceVersion,
    ).toBe(changed);
  });

  it('answers a command re-delivered after a restart from the result stored in the cluster, touching nothing', async () => {
    const h = handler();
    await untilDone(h, initialize());
    const scale = command({ scaleCanary: { replicas: 3 } });
    const routes = setRoutes({ primaryWeightPercent: 90, canaryWeightPercent: 10 });
    const stale = command({ promoteCanary: { revisionId: 'nope' } });
    const firsts = [];
    for (const cmd of [scale, routes, stale]) firsts.push((await h.handle(cmd, signal)).result);
    expect(firsts.map((r) => r.outcome)).toEqual([
      CommandOutcome.SUCCEEDED,
      CommandOutcome.SUCCEEDED,
      CommandOutcome.REJECTED,
    ]);
    // Others change the workload since: a re-applied command would undo it.
    await kube.mergePatch('Deployment', NS, 'podinfo', { spec: { replicas: 1 } }, signal);
    await h.handle(setRoutes({ primaryWeightPercent: 80, canaryWeightPercent: 20 }), signal);
    // Deployments' generations (their controllers keep updating their status, hence their
    // resourceVersion) and the VirtualService's resourceVersion (nothing else writes it).
    const versions = async () =>
      Promise.all([
        kube.get('Deployment', NS, 'podinfo', signal).then((o) => o?.metadata?.generation),
        kube.get('Deployment', NS, 'podinfo-primary', signal).then((o) => o?.metadata?.generation),
        kube.get('VirtualService', NS, 'podinfo', signal).then((o) => o?.metadata?.resourceVersion),
      ]);
    const before = await versions();

    // The agent restarts: a new handler, nothing in memory, the same cluster.
    const restarted = handler();
    for (const [i, cmd] of [scale, routes, stale].entries()) {
      const again = await restarted.handle(JSON.stringify(cmd), signal);
      expect(again.duplicate).toBe(true);
      expect(again.result).toEqual(firsts[i]);
    }
    expect(await versions()).toEqual(before);
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(1);
    const stored = await kube.get(
      'ConfigMap',
      'aviary-system',
      resultsConfigMapName('eu-1'),
      signal,
    );
    expect(stored?.data?.['results.jsonl']).toContain(`"commandId":"${scale.commandId}"`);
  });

  it('stores a result before answering it: one that cannot be stored is FAILED and applied again', async () => {
    const durable = createConfigMapResultStore({ kube, cluster: 'eu-1' });
    let outage = true;
    const flaky: CommandResultStore = {
      ...durable,
      put: (result, s) =>
        outage ? Promise.reject(new Error('etcd is unavailable')) : durable.put(result, s),
    };
    const h = handler({ results: flaky });
    const scale = command({ scaleCanary: { replicas: 3 } });
    const first = await h.handle(scale, signal);
    expect(first.result).toMatchObject({
      outcome: CommandOutcome.FAILED,
      reason: 'ResultsUnavailable',
      retriable: true,
    });
    expect(first.result.message).toMatch(/etcd is unavailable/);
    // Applied, not stored: the re-delivery applies it again (the same replicas: convergent).
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(3);
    outage = false;
    const second = await h.handle(scale, signal);
    expect(second).toMatchObject({
      duplicate: false,
      result: { outcome: CommandOutcome.SUCCEEDED },
    });
    expect((await handler().handle(scale, signal)).duplicate).toBe(true);
  });

  it('rejects malformed and unknown commands with a reason, and keeps working', async () => {
    const h = handler();
    const cases: [unknown, string][] = [
      ['{not json', 'Malformed'],
      [{ commandId: 'x', cluster: 'eu-1', explode: true }, 'Malformed'],
      [
        { commandId: 'x', cluster: 'eu-1', workload: { namespace: NS, name: 'podinfo' } },
        'Invalid',
      ],
      [command({ scaleCanary: {} }, { cluster: 'us-1' }), 'WrongCluster'],
      [
        command({
          setRoutes: { router: 'ROUTER_KIND_UNSPECIFIED', serviceName: 'podinfo', routes: {} },
        }),
        'UnsupportedRouter',
      ],
      [setRoutes({ primaryWeightPercent: 70, canaryWeightPercent: 70 }), 'Invalid'],
      [command({ scaleCanary: {} }, { workload: { namespace: NS, name: 'ghost' } }), 'NotFound'],
      [42, 'Malformed'],
    ];
    for (const [input, reason] of cases) {
      const handled = await h.handle(input, signal);
      expect(handled.result, JSON.stringify(input)).toMatchObject({
        outcome: CommandOutcome.REJECTED,
        reason,
      });
      expect(handled.result.message).not.toBe('');
    }
    expect((await untilDone(h, initialize())).result.outcome).toBe(CommandOutcome.SUCCEEDED);
  });
});
