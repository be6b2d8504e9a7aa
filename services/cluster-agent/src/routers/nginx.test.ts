import { createKubeSim, type KubeSim, type TrafficSimulator } from '@aviary/kube-sim';
import { KubeConfig, type V1Ingress } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClientNodeKubeClient } from '../kube/client-node-kube-client.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { NotOwnedError } from '../ownership.ts';
import { NS } from '../testing.ts';
import { createNginxRouter } from './nginx.ts';
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
const P = 'nginx.ingress.kubernetes.io';

const backend = (name: string) => ({ service: { name, port: { number: 80 } } });
const apexIngress: V1Ingress = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: {
    name: 'podinfo',
    namespace: NS,
    labels: { team: 'web' },
    annotations: {
      [`${P}/proxy-body-size`]: '8m',
      [`${P}/canary-weight`]: '99',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    },
  },
  spec: {
    ingressClassName: 'nginx',
    rules: [
      {
        host: 'podinfo.example.com',
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: backend('podinfo') },
            { path: '/static', pathType: 'Prefix', backend: backend('assets') },
          ],
        },
      },
    ],
  },
};

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
  await kube.create('Ingress', NS, apexIngress, signal);
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

const canaryIngress = () => kube.get('Ingress', NS, 'podinfo-canary', signal);
const canaryAnnotations = async () => {
  const a = { ...(await canaryIngress())?.metadata?.annotations };
  delete a['aviary.dev/target'];
  return a;
};

describe('nginx router', () => {
  it('copies the apex Ingress to <ingress>-canary and routes the canary weight to it', async () => {
    const router = createNginxRouter(kube);
    await router.reconcile(target, signal);
    const canary = await canaryIngress();
    expect(canary?.metadata?.labels).toEqual({
      team: 'web',
      'app.kubernetes.io/managed-by': 'aviary',
    });
    expect(canary?.metadata?.annotations).toEqual({
      [`${P}/proxy-body-size`]: '8m',
      [`${P}/canary`]: 'true',
      [`${P}/canary-weight`]: '0',
      'aviary.dev/target': 'podinfo',
    });
    expect(canary?.spec).toEqual({
      ingressClassName: 'nginx',
      rules: [
        {
          host: 'podinfo.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: backend('podinfo-canary') },
              { path: '/static', pathType: 'Prefix', backend: backend('assets') },
            ],
          },
        },
      ],
    });
    expect(simulate()).toEqual({ router: 'nginx', canaryShare: 0 });

    await router.setRoutes(
      target,
      { ...ALL_TO_PRIMARY, primaryWeightPercent: 70, canaryWeightPercent: 30 },
      signal,
    );
    expect(await canaryAnnotations()).toEqual({
      [`${P}/proxy-body-size`]: '8m',
      [`${P}/canary`]: 'true',
      [`${P}/canary-weight`]: '30',
    });
    const { canaryShare } = simulate();
    expect(canaryShare).toBeGreaterThan(0.28);
    expect(canaryShare).toBeLessThan(0.32);
    // Reconcile keeps the weight; the apex was only read.
    await router.reconcile(target, signal);
    expect((await router.getRoutes(target, signal)).canaryWeightPercent).toBe(30);
    expect((await kube.get('Ingress', NS, 'podinfo', signal))?.metadata?.annotations).toEqual(
      apexIngress.metadata?.annotations,
    );

    await router.finalize(target, signal);
    expect(await canaryIngress()).toBeUndefined();
    expect(await kube.get('Ingress', NS, 'podinfo', signal)).toBeDefined();
  });

  it('sends requests with the header or cookie to the canary (A/B)', async () => {
    const router = createNginxRouter(kube);
    await router.reconcile(target, signal);
    const byHeader: RouteSplit = {
      ...ALL_TO_PRIMARY,
      primaryWeightPercent: 0,
      canaryWeightPercent: 100,
      matches: [{ headers: { 'x-canary': { exact: 'insider' } }, cookies: {} }],
    };
    await router.setRoutes(target, byHeader, signal);
    expect(await canaryAnnotations()).toEqual({
      [`${P}/proxy-body-size`]: '8m',
      [`${P}/canary`]: 'true',
      [`${P}/canary-weight`]: '0',
      [`${P}/canary-by-header`]: 'x-canary',
      [`${P}/canary-by-header-value`]: 'insider',
    });
    expect(await router.getRoutes(target, signal)).toEqual(byHeader);
    const share = simulate().canaryShare;
    expect(share).toBeGreaterThan(0.23);
    expect(share).toBeLessThan(0.27);

    await router.setRoutes(
      target,
      { ...byHeader, matches: [{ headers: { 'x-canary': { exact: 'nobody' } }, cookies: {} }] },
      signal,
    );
    expect(simulate().canaryShare).toBe(0);

    const byPatternOrCookie: RouteSplit = {
      ...byHeader,
      matches: [
        { headers: { 'x-canary': { prefix: 'ins' } }, cookies: {} },
        { headers: {}, cookies: { canary: { exact: 'always' } } },
      ],
    };
    await router.setRoutes(target, byPatternOrCookie, signal);
    expect(await canaryAnnotations()).toMatchObject({
      [`${P}/canary-by-header`]: 'x-canary',
      [`${P}/canary-by-header-pattern`]: 'ins.*',
      [`${P}/canary-by-cookie`]: 'canary',
    });
    expect(await router.getRoutes(target, signal)).toEqual(byPatternOrCookie);
    expect(simulate().canaryShare).toBeGreaterThan(0.23);

    // Back to all-primary: the A/B annotations go.
    await router.setRoutes(target, ALL_TO_PRIMARY, signal);
    expect(await canaryAnnotations()).toEqual({
      [`${P}/proxy-body-size`]: '8m',
      [`${P}/canary`]: 'true',
      [`${P}/canary-weight`]: '0',
    });
    expect(simulate().canaryShare).toBe(0);
  });

  it('refuses what ingress-nginx cannot do, with the reason, and writes nothing', async () => {
    const router = createNginxRouter(kube);
    await router.reconcile(target, signal);
    const before = await canaryIngress();
    const header = { headers: { 'x-canary': { exact: 'insider' } }, cookies: {} };
    const cases: [RouteSplit, RegExp][] = [
      [{ ...ALL_TO_PRIMARY, mirror: true }, /cannot mirror/],
      [
        { ...ALL_TO_PRIMARY, primaryWeightPercent: 50, canaryWeightPercent: 50, matches: [header] },
        /must be 0 or 100/,
      ],
      [
        {
          ...ALL_TO_PRIMARY,
          matches: [{ headers: { a: { exact: '1' } }, cookies: { c: { exact: 'always' } } }],
        },
        /exactly one header or cookie/,
      ],
      [{ ...ALL_TO_PRIMARY, matches: [header, header] }, /at most one header/],
      [
        { ...ALL_TO_PRIMARY, matches: [{ headers: {}, cookies: { c: { exact: 'yes' } } }] },
        /"always"/,
      ],
    ];
    for (const [routes, reason] of cases) {
      await expect(router.setRoutes(target, routes, signal)).rejects.toMatchObject({
        code: 'VALIDATION',
        message: expect.stringMatching(reason),
      });
    }
    expect(await canaryIngress()).toEqual(before);
  });

  it('needs the apex Ingress routing to the apex Service', async () => {
    await kube.delete('Ingress', NS, 'podinfo', signal);
    await expect(createNginxRouter(kube).reconcile(target, signal)).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/apex Ingress default\/podinfo must exist/),
    });
  });

  it('never changes or deletes a canary Ingress it does not own', async () => {
    const foreign: V1Ingress = {
      metadata: { name: 'podinfo-canary', namespace: NS, annotations: { [`${P}/canary`]: 'true' } },
      spec: { defaultBackend: backend('elsewhere') },
    };
    await kube.create('Ingress', NS, foreign, signal);
    const before = await canaryIngress();
    const router = createNginxRouter(kube);
    await expect(router.reconcile(target, signal)).rejects.toBeInstanceOf(NotOwnedError);
    await expect(router.setRoutes(target, ALL_TO_PRIMARY, signal)).rejects.toBeInstanceOf(
      NotOwnedError,
    );
    await router.finalize(target, signal);
    expect(await canaryIngress()).toEqual(before);
  });
});
