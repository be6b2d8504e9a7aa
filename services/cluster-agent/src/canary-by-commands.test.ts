/**
 * The proof "a full canary by commands (weights 10 → 50, promotion, scale-down) for each
 * router; rollback", through the command handler against the simulator, for every router with a
 * routing object (`agent.test.ts` has the Istio one in detail; `none` is the contract test's).
 */
import type { KubeSim } from '@aviary/kube-sim';
import { CommandOutcome } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler, type HandledCommand } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import { REVISION_ANNOTATION } from './ownership.ts';
import { computeRevision } from './revision.ts';
import { createRouter } from './routers/create-router.ts';
import type { TrafficRouterKind } from './routers/traffic-router.ts';
import { command, NS, simulatedTarget, sleep } from './testing.ts';

let sim: KubeSim;
let kube: KubeClient;
const signal = new AbortController().signal;

beforeEach(async () => {
  ({ sim, kube } = await simulatedTarget());
  // NGINX copies the user's apex Ingress.
  await kube.create(
    'Ingress',
    NS,
    {
      metadata: { name: 'podinfo' },
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
    },
    signal,
  );
});

afterEach(async () => {
  await sim.close();
});

const ROUTERS = [
  ['istio', 'ROUTER_KIND_ISTIO'],
  ['gateway-api', 'ROUTER_KIND_GATEWAY_API'],
  ['nginx', 'ROUTER_KIND_NGINX'],
  ['smi', 'ROUTER_KIND_SMI'],
] as const;

async function untilDone(
  h: ReturnType<typeof createCommandHandler>,
  cmd: unknown,
): Promise<HandledCommand> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const handled = await h.handle(cmd, signal);
    if (handled.result.outcome !== CommandOutcome.FAILED || Date.now() > deadline) return handled;
    await sleep(50);
  }
}

/** Initializes, rolls out `podinfo:2` and shifts 10 → 50; answers the handler and the revisions. */
async function canaryAt50(kind: TrafficRouterKind, router: (typeof ROUTERS)[number][1]) {
  const h = createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });
  const service = { port: 80, gatewayRefs: [{ name: 'public', namespace: 'gateways' }] };
  expect(
    (await untilDone(h, command({ initializeTarget: { router, service } }))).result,
  ).toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
  const before = (await kube.get('Deployment', NS, 'podinfo-primary', signal))?.metadata
    ?.annotations?.[REVISION_ANNOTATION];
  await updateWithRetry(
    kube,
    'Deployment',
    NS,
    'podinfo',
    (d) => {
      const container = d.spec?.template?.spec?.containers[0];
      if (container !== undefined) container.image = 'podinfo:2';
      return d;
    },
    signal,
  );
  const revision = await computeRevision(
    kube,
    (await kube.get('Deployment', NS, 'podinfo', signal)) ?? {},
    signal,
  );
  expect((await untilDone(h, command({ scaleCanary: {} }))).result.outcome).toBe(
    CommandOutcome.SUCCEEDED,
  );
  expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(2);
  const target = {
    namespace: NS,
    targetName: 'podinfo',
    serviceName: 'podinfo',
    port: 0,
    hosts: [],
    gateways: [],
  };
  const readBack = () => createRouter(kind, kube).getRoutes(target, signal);
  const setWeight = async (canaryWeightPercent: number) => {
    const routes = { primaryWeightPercent: 100 - canaryWeightPercent, canaryWeightPercent };
    const set = await h.handle(
      command({ setRoutes: { router, serviceName: 'podinfo', routes } }),
      signal,
    );
    expect(set.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(set.routesApplied?.routes).toMatchObject(routes);
    // What the routing object says, read afresh.
    expect(await readBack()).toMatchObject(routes);
  };
  for (const weight of [10, 50]) await setWeight(weight);
  return { h, before, revision, setWeight };
}

describe.each(ROUTERS)('a canary by commands with the %s router', (kind, router) => {
  it('shifts 10 → 50, promotes, routes back to the primary and scales the canary down', async () => {
    const { h, revision, setWeight } = await canaryAt50(kind, router);
    const promoted = await h.handle(
      command({ promoteCanary: { revisionId: revision.id } }),
      signal,
    );
    expect(promoted.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primary?.spec?.template?.spec?.containers[0]?.image).toBe('podinfo:2');
    expect(primary?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(revision.id);
    await setWeight(0);
    expect((await h.handle(command({ scaleCanaryToZero: {} }), signal)).result.outcome).toBe(
      CommandOutcome.SUCCEEDED,
    );
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(0);
  });

  it('rolls back: traffic to the primary, canary scaled down, the primary still on its revision', async () => {
    const { h, before, setWeight } = await canaryAt50(kind, router);
    await setWeight(0);
    expect((await h.handle(command({ scaleCanaryToZero: {} }), signal)).result.outcome).toBe(
      CommandOutcome.SUCCEEDED,
    );
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(0);
    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primary?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(before);
    expect(primary?.spec?.template?.spec?.containers[0]?.image).toBe('podinfo:1');
  });
});
