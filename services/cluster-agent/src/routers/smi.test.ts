import { createKubeSim, type KubeSim, type TrafficSimulator } from '@aviary/kube-sim';
import { CommandOutcome } from '@aviary/proto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler } from '../commands.ts';
import { createClientNodeKubeClient } from '../kube/client-node-kube-client.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { NotOwnedError } from '../ownership.ts';
import { command, NS } from '../testing.ts';
import { createSmiRouter } from './smi.ts';
import { ALL_TO_PRIMARY, type RouterTarget, type RouteSplit } from './traffic-router.ts';

const target: RouterTarget = {
  namespace: NS,
  targetName: 'podinfo',
  serviceName: 'podinfo',
  port: 80,
  hosts: [],
  gateways: [],
};
const signal = new AbortController().signal;

let sim: KubeSim;
let kube: KubeClient;
let traffic: TrafficSimulator;
beforeEach(async () => {
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
  return { router: stats?.router, canaryShare: (canary?.requests ?? 0) / (stats?.requests ?? 1) };
}

const split = () => kube.get('TrafficSplit', NS, 'podinfo', signal);

describe('smi router', () => {
  it('writes TrafficSplit <svc> with the backends weights, and traffic follows them', async () => {
    const router = createSmiRouter(kube);
    await router.reconcile(target, signal);
    const ts = await split();
    expect(ts?.apiVersion).toBe('split.smi-spec.io/v1alpha2');
    expect(ts?.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'aviary' });
    expect(ts?.spec).toEqual({
      service: 'podinfo',
      backends: [
        { service: 'podinfo-primary', weight: 100 },
        { service: 'podinfo-canary', weight: 0 },
      ],
    });
    expect(simulate()).toEqual({ router: 'smi', canaryShare: 0 });

    // Through the command handler: the SMI kind is accepted and read back.
    const h = createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });
    const set = await h.handle(
      command({
        setRoutes: {
          router: 'ROUTER_KIND_SMI',
          serviceName: 'podinfo',
          routes: { primaryWeightPercent: 70, canaryWeightPercent: 30 },
        },
      }),
      signal,
    );
    expect(set.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(set.routesApplied?.routes).toEqual({
      ...ALL_TO_PRIMARY,
      primaryWeightPercent: 70,
      canaryWeightPercent: 30,
    });
    expect((await split())?.spec?.backends).toEqual([
      { service: 'podinfo-primary', weight: 70 },
      { service: 'podinfo-canary', weight: 30 },
    ]);
    const { canaryShare } = simulate();
    expect(canaryShare).toBeGreaterThan(0.28);
    expect(canaryShare).toBeLessThan(0.32);

    await router.reconcile(target, signal);
    expect((await router.getRoutes(target, signal)).canaryWeightPercent).toBe(30);
  });

  it('refuses A/B matches and mirroring with the reason, and writes nothing', async () => {
    const router = createSmiRouter(kube);
    await router.reconcile(target, signal);
    const before = await split();
    const cases: [RouteSplit, RegExp][] = [
      [
        {
          ...ALL_TO_PRIMARY,
          matches: [{ headers: { 'x-canary': { exact: 'insider' } }, cookies: {} }],
        },
        /matches are not supported/,
      ],
      [{ ...ALL_TO_PRIMARY, mirror: true }, /cannot mirror/],
    ];
    for (const [routes, reason] of cases) {
      await expect(router.setRoutes(target, routes, signal)).rejects.toMatchObject({
        code: 'VALIDATION',
        message: expect.stringMatching(reason),
      });
    }
    expect(await split()).toEqual(before);

    // Through a command: REJECTED with the reason, not retried.
    const h = createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });
    const refused = await h.handle(
      command({
        setRoutes: {
          router: 'ROUTER_KIND_SMI',
          serviceName: 'podinfo',
          routes: { primaryWeightPercent: 100, mirror: true },
        },
      }),
      signal,
    );
    expect(refused.result).toMatchObject({ outcome: CommandOutcome.REJECTED, reason: 'Invalid' });
    expect(refused.result.message).toMatch(/cannot mirror/);
  });

  it('never changes or deletes a TrafficSplit it does not own', async () => {
    await kube.create(
      'TrafficSplit',
      NS,
      {
        apiVersion: 'split.smi-spec.io/v1alpha2',
        kind: 'TrafficSplit',
        metadata: { name: 'podinfo', namespace: NS },
        spec: { service: 'podinfo', backends: [{ service: 'podinfo-v1', weight: 100 }] },
      },
      signal,
    );
    const before = await split();
    const router = createSmiRouter(kube);
    await expect(router.reconcile(target, signal)).rejects.toBeInstanceOf(NotOwnedError);
    await expect(router.setRoutes(target, ALL_TO_PRIMARY, signal)).rejects.toBeInstanceOf(
      NotOwnedError,
    );
    await router.finalize(target, signal);
    expect(await split()).toEqual(before);
  });
});
