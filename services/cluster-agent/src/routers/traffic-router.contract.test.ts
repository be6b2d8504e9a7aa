import type { KubeSim } from '@aviary/kube-sim';
import type { V1Ingress } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubeClient } from '../kube/kube-client.ts';
import { isOwned } from '../ownership.ts';
import { NS, simulatedCluster } from '../testing.ts';
import { createRouter } from './create-router.ts';
import {
  ALL_TO_PRIMARY,
  type RouterTarget,
  type RouteSplit,
  TrafficRouterKind,
} from './traffic-router.ts';

const target: RouterTarget = {
  namespace: NS,
  targetName: 'podinfo',
  serviceName: 'podinfo',
  port: 80,
  hosts: [],
  gateways: [],
  gatewayRefs: [{ name: 'public', namespace: 'gateways' }],
};
const split: RouteSplit = { ...ALL_TO_PRIMARY, primaryWeightPercent: 70, canaryWeightPercent: 30 };

/** What each router reads back after `setRoutes(split)`: `none` has no object to hold weights. */
const readBack: Record<TrafficRouterKind, RouteSplit> = {
  istio: split,
  'gateway-api': split,
  nginx: split,
  smi: split,
  none: ALL_TO_PRIMARY,
};

/** What exists before the agent comes: NGINX copies the user's apex Ingress. */
const apexIngress: V1Ingress = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'podinfo', namespace: NS, labels: { team: 'web' } },
  spec: {
    ingressClassName: 'nginx',
    rules: [
      {
        host: 'podinfo.example.com',
        http: {
          paths: [
            {
              path: '/',
              pathType: 'Prefix',
              backend: { service: { name: 'podinfo', port: { number: 80 } } },
            },
          ],
        },
      },
    ],
  },
};

let sim: KubeSim;
let kube: KubeClient;
const signal = new AbortController().signal;
beforeEach(async () => {
  ({ sim, kube } = await simulatedCluster());
});
afterEach(async () => {
  await sim.close();
});

describe.each(Object.values(TrafficRouterKind))('TrafficRouter contract: %s', (kind) => {
  it('starts all-primary, is idempotent, reads back its routes, and finalizes cleanly', async () => {
    await kube.create('Ingress', NS, apexIngress, signal);
    const apexBefore = await kube.get('Ingress', NS, 'podinfo', signal);
    const router = createRouter(kind, kube);
    expect(router.kind).toBe(kind);
    await router.reconcile(target, signal);
    await router.reconcile(target, signal);
    expect(await router.getRoutes(target, signal)).toEqual(ALL_TO_PRIMARY);
    await router.setRoutes(target, split, signal);
    // Reconcile keeps the weights it finds.
    await router.reconcile(target, signal);
    expect(await router.getRoutes(target, signal)).toEqual(readBack[kind]);
    await router.finalize(target, signal);
    await router.finalize(target, signal);
    // Nothing the agent owns is left, and the user's apex Ingress was never changed.
    for (const k of [
      'VirtualService',
      'DestinationRule',
      'HTTPRoute',
      'TrafficSplit',
      'Ingress',
    ] as const) {
      for (const name of ['podinfo', 'podinfo-primary', 'podinfo-canary']) {
        expect(isOwned(await kube.get(k, NS, name, signal)), `${k} ${name}`).toBe(false);
      }
    }
    expect(await kube.get('Ingress', NS, 'podinfo', signal)).toEqual(apexBefore);
  });
});
