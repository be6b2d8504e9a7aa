import { createKubeSim, type KubeSim, type TrafficSimulator } from '@aviary/kube-sim';
import { CommandOutcome } from '@aviary/proto';
import { KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler } from '../commands.ts';
import { createClientNodeKubeClient } from '../kube/client-node-kube-client.ts';
import type { CustomObject, KubeClient } from '../kube/kube-client.ts';
import { NotOwnedError } from '../ownership.ts';
import { command, NS, sleep } from '../testing.ts';
import { createGatewayApiRouter } from './gateway-api.ts';
import { ALL_TO_PRIMARY, type RouterTarget, type RouteSplit } from './traffic-router.ts';

const target: RouterTarget = {
  namespace: NS,
  targetName: 'podinfo',
  serviceName: 'podinfo',
  port: 9898,
  hosts: ['podinfo.example.com'],
  gateways: [],
  gatewayRefs: [{ name: 'public', namespace: 'gateways', sectionName: 'https' }],
};
const signal = new AbortController().signal;
const ref = (name: string, weight: number) => ({
  group: '',
  kind: 'Service',
  name,
  port: 9898,
  weight,
});
const ALL_PATHS = { path: { type: 'PathPrefix', value: '/' } };

let sim: KubeSim;
let kube: KubeClient;
let traffic: TrafficSimulator;
beforeEach(async () => {
  // A quarter of the simulated requests carry `x-canary: insider` and `cookie: canary=always`.
  sim = await createKubeSim({
    clusters: ['eu-1'],
    controllers: { readyDelayMs: 10 },
    traffic: { testFraction: 0.25, seed: 7 },
  });
  const kc = new KubeConfig();
  kc.loadFromString(sim.cluster('eu-1').kubeconfig());
  kube = createClientNodeKubeClient(kc);
  traffic = sim.cluster('eu-1').traffic;
  traffic.addService({ namespace: NS, service: 'podinfo', rps: 1000 });
});
afterEach(async () => {
  await sim.close();
});

/** Runs 20 s of simulated traffic (20 000 requests); the canary's share and the router used. */
function simulate() {
  traffic.resetStats();
  traffic.advance(20_000);
  const stats = traffic.stats(NS, 'podinfo');
  const canary = stats?.backends.get('podinfo-canary');
  return {
    router: stats?.router,
    canaryShare: (canary?.requests ?? 0) / (stats?.requests ?? 1),
    mirrored: canary?.mirrored ?? 0,
    unrouted: stats?.unrouted,
  };
}

const spec = async () => (await kube.get('HTTPRoute', NS, 'podinfo', signal))?.spec;

describe('gateway-api router', () => {
  it('writes HTTPRoute <svc> with the parents, hostnames and weighted backendRefs', async () => {
    const router = createGatewayApiRouter(kube);
    await router.reconcile(target, signal);
    const route = await kube.get('HTTPRoute', NS, 'podinfo', signal);
    expect(route?.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route?.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'aviary' });
    expect(route?.metadata?.annotations).toEqual({ 'aviary.dev/target': 'podinfo' });
    expect(route?.spec).toEqual({
      parentRefs: [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          name: 'public',
          namespace: 'gateways',
          sectionName: 'https',
        },
      ],
      hostnames: ['podinfo.example.com'],
      rules: [
        {
          matches: [ALL_PATHS],
          backendRefs: [ref('podinfo-primary', 100), ref('podinfo-canary', 0)],
        },
      ],
    });
    expect(simulate()).toMatchObject({ router: 'gatewayapi', canaryShare: 0, unrouted: 0 });

    await router.setRoutes(
      target,
      { ...ALL_TO_PRIMARY, primaryWeightPercent: 70, canaryWeightPercent: 30 },
      signal,
    );
    expect((await spec())?.rules).toEqual([
      {
        matches: [ALL_PATHS],
        backendRefs: [ref('podinfo-primary', 70), ref('podinfo-canary', 30)],
      },
    ]);
    const { canaryShare } = simulate();
    expect(canaryShare).toBeGreaterThan(0.28);
    expect(canaryShare).toBeLessThan(0.32);

    // A second reconcile (a restarted agent) keeps the weights.
    await router.reconcile(target, signal);
    expect((await router.getRoutes(target, signal)).canaryWeightPercent).toBe(30);
  });

  it('sends matching requests to the canary (A/B) and everything else to the primary', async () => {
    const router = createGatewayApiRouter(kube);
    await router.reconcile(target, signal);
    const ab: RouteSplit = {
      ...ALL_TO_PRIMARY,
      primaryWeightPercent: 0,
      canaryWeightPercent: 100,
      matches: [{ headers: { 'x-canary': { exact: 'insider' } }, cookies: {} }],
    };
    await router.setRoutes(target, ab, signal);
    expect((await spec())?.rules).toEqual([
      {
        matches: [
          { ...ALL_PATHS, headers: [{ type: 'Exact', name: 'x-canary', value: 'insider' }] },
        ],
        backendRefs: [ref('podinfo-primary', 0), ref('podinfo-canary', 100)],
      },
      { matches: [ALL_PATHS], backendRefs: [ref('podinfo-primary', 100)] },
    ]);
    expect(await router.getRoutes(target, signal)).toEqual(ab);
    // 25% of the requests carry the header.
    const share = simulate().canaryShare;
    expect(share).toBeGreaterThan(0.23);
    expect(share).toBeLessThan(0.27);

    // A header value nobody sends: nothing reaches the canary.
    await router.setRoutes(
      target,
      { ...ab, matches: [{ headers: { 'x-canary': { exact: 'nobody' } }, cookies: {} }] },
      signal,
    );
    expect(simulate().canaryShare).toBe(0);

    // A cookie, as a regex on the cookie header; read back as the cookie it came from.
    const byCookie: RouteSplit = {
      ...ab,
      matches: [{ headers: {}, cookies: { canary: { exact: 'always' } } }],
    };
    await router.setRoutes(target, byCookie, signal);
    expect((await spec())?.rules).toMatchObject([
      {
        matches: [
          {
            headers: [
              {
                type: 'RegularExpression',
                name: 'cookie',
                value: '^(.*?;\\s*)?(canary=always)(;.*)?$',
              },
            ],
          },
        ],
      },
      {},
    ]);
    expect(await router.getRoutes(target, signal)).toEqual(byCookie);
    expect(simulate().canaryShare).toBeGreaterThan(0.23);

    // Prefix and suffix matches become regexes and read back as written.
    const affixes: RouteSplit = {
      ...ab,
      matches: [
        { headers: { 'x-canary': { prefix: 'ins' }, 'x-user': { suffix: '.test' } }, cookies: {} },
      ],
    };
    await router.setRoutes(target, affixes, signal);
    expect(await router.getRoutes(target, signal)).toEqual(affixes);
  });

  it('refuses two cookie conditions in one match, before writing', async () => {
    const router = createGatewayApiRouter(kube);
    await router.reconcile(target, signal);
    const before = await kube.get('HTTPRoute', NS, 'podinfo', signal);
    await expect(
      router.setRoutes(
        target,
        {
          ...ALL_TO_PRIMARY,
          matches: [{ headers: {}, cookies: { a: { exact: '1' }, b: { exact: '2' } } }],
        },
        signal,
      ),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
    expect(await kube.get('HTTPRoute', NS, 'podinfo', signal)).toEqual(before);
  });

  it('requires gateway refs, as Flagger does', async () => {
    const router = createGatewayApiRouter(kube);
    await expect(router.reconcile({ ...target, gatewayRefs: [] }, signal)).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    expect(await kube.get('HTTPRoute', NS, 'podinfo', signal)).toBeUndefined();
  });

  it('never changes or deletes an HTTPRoute it does not own', async () => {
    const foreign: CustomObject = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'podinfo', namespace: NS },
      spec: { rules: [{ backendRefs: [{ name: 'podinfo', port: 80 }] }] },
    };
    await kube.create('HTTPRoute', NS, foreign, signal);
    const before = await kube.get('HTTPRoute', NS, 'podinfo', signal);
    const router = createGatewayApiRouter(kube);
    await expect(router.reconcile(target, signal)).rejects.toBeInstanceOf(NotOwnedError);
    await expect(router.setRoutes(target, ALL_TO_PRIMARY, signal)).rejects.toBeInstanceOf(
      NotOwnedError,
    );
    await router.finalize(target, signal);
    expect(await kube.get('HTTPRoute', NS, 'podinfo', signal)).toEqual(before);
  });

  it('is driven by commands: parentRefs from gatewayRefs, weights, mirroring to Ready canary pods', async () => {
    await kube.create('Deployment', NS, plainDeployment('podinfo'), signal);
    const h = createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });
    const until = async (cmd: unknown) => {
      for (let i = 0; i < 200; i++) {
        const handled = await h.handle(cmd, signal);
        if (handled.result.outcome !== CommandOutcome.FAILED) return handled;
        await sleep(25);
      }
      throw new Error('command never finished');
    };
    const init = await until(
      command({
        initializeTarget: {
          router: 'ROUTER_KIND_GATEWAY_API',
          service: {
            port: 80,
            targetPort: '9898',
            hosts: ['podinfo.example.com'],
            gatewayRefs: [{ name: 'public', namespace: 'gateways' }],
          },
        },
      }),
    );
    expect(init.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect((await spec())?.parentRefs).toEqual([
      {
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        name: 'public',
        namespace: 'gateways',
      },
    ]);
    expect((await until(command({ scaleCanary: { replicas: 1 } }))).result.outcome).toBe(
      CommandOutcome.SUCCEEDED,
    );

    const set = await h.handle(
      command({
        setRoutes: {
          router: 'ROUTER_KIND_GATEWAY_API',
          serviceName: 'podinfo',
          routes: {
            primaryWeightPercent: 100,
            canaryWeightPercent: 0,
            mirror: true,
            mirrorWeightPercent: 50,
          },
        },
      }),
      signal,
    );
    expect(set.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(set.routesApplied?.routes).toEqual({
      ...ALL_TO_PRIMARY,
      mirror: true,
      mirrorWeightPercent: 50,
    });
    expect((await spec())?.rules).toEqual([
      {
        matches: [ALL_PATHS],
        backendRefs: [
          { group: '', kind: 'Service', name: 'podinfo-primary', port: 80, weight: 100 },
          { group: '', kind: 'Service', name: 'podinfo-canary', port: 80, weight: 0 },
        ],
        filters: [
          {
            type: 'RequestMirror',
            requestMirror: {
              backendRef: { group: '', kind: 'Service', name: 'podinfo-canary', port: 80 },
              percent: 50,
            },
          },
        ],
      },
    ]);
    // The canary pod becomes Ready; then about half the requests are mirrored to it.
    await expect
      .poll(
        async () => {
          await sleep(20);
          return simulate().mirrored;
        },
        { timeout: 5000 },
      )
      .toBeGreaterThan(0);
    const { mirrored, canaryShare } = simulate();
    expect(canaryShare).toBe(0);
    expect(mirrored / 20_000).toBeGreaterThan(0.47);
    expect(mirrored / 20_000).toBeLessThan(0.53);
  });
});

function plainDeployment(name: string): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'podinfo:1' }] },
      },
    },
  };
}
