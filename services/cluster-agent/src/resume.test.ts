import type { KubeSim } from '@aviary/kube-sim';
import { messagingNamespace } from '@aviary/messaging';
import { CommandOutcome, type Observation, RouterKind } from '@aviary/proto';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { createLease } from './lease.ts';
import { createObserver, type Observer } from './observer.ts';
import { ROUTER_ANNOTATION } from './ownership.ts';
import { createRouteResumer, type ResumeContext } from './resume.ts';
import { createRouter } from './routers/create-router.ts';
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

let sim: KubeSim;
let kube: KubeClient;
let kc: KubeConfig;
let observer: Observer;

beforeEach(async () => {
  ({ sim, kube, kc } = await simulatedCluster());
  await createTrackedConfigs(kube, signal);
  observer = createObserver({
    kc,
    kube,
    cluster: 'eu-1',
    messagingNamespace: messagingNamespace('resume_test'),
    publish: async () => {},
    nowMs: () => Date.now(),
    logger: quiet,
  });
});

afterEach(async () => {
  await observer.stop();
  await sim.close();
});

async function untilFinal(cmd: unknown) {
  const h = createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });
  for (;;) {
    const { result } = await h.handle(cmd, signal);
    if (result.outcome !== CommandOutcome.FAILED || !result.retriable) return result;
    await sleep(50);
  }
}

/** Resumes once; answers what was published, the lease, the warnings. */
async function resume(now = { ms: 1_000 }) {
  const published: Observation[] = [];
  const warnings: { fields: object; msg: string }[] = [];
  const lease = createLease({
    cluster: 'eu-1',
    leaseMs: 60_000,
    nowMs: () => now.ms,
    routerFor: (kind) => createRouter(kind, kube),
    report: async (o) => {
      published.push(o);
    },
    logger: quiet,
  });
  const context: ResumeContext = {
    serially: (work) => work(),
    publish: async (o) => {
      published.push(o);
    },
    startedAtMs: 1_000,
    signal,
  };
  await createRouteResumer({
    cluster: 'eu-1',
    kube,
    routerFor: (kind) => createRouter(kind, kube),
    lease,
    primaries: (s) => observer.primaries(s),
    nowMs: () => now.ms,
    logger: { ...quiet, warn: (fields: object, msg: string) => warnings.push({ fields, msg }) },
  }).run(context);
  return { published, lease, warnings };
}

describe('resuming routes after a restart', () => {
  it('publishes each target’s split as the routing object has it and re-tracks canaries with traffic', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    const plain = targetDeployment('plain');
    const container = plain.spec?.template?.spec?.containers[0];
    if (container !== undefined) {
      container.env = [];
      container.envFrom = [];
    }
    if (plain.spec?.template?.spec !== undefined) plain.spec.template.spec.volumes = [];
    await kube.create('Deployment', NS, plain, signal);
    const service = { port: 80 };
    expect(
      await untilFinal(command({ initializeTarget: { router: 'ROUTER_KIND_ISTIO', service } })),
    ).toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    const routes = { primaryWeightPercent: 80, canaryWeightPercent: 20 };
    expect(
      await untilFinal(
        command({ setRoutes: { router: 'ROUTER_KIND_ISTIO', serviceName: 'podinfo', routes } }),
      ),
    ).toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    expect(
      await untilFinal(
        command(
          { initializeTarget: { router: 'ROUTER_KIND_NONE', service } },
          { workload: { namespace: NS, name: 'plain', kind: 'WORKLOAD_KIND_DEPLOYMENT' } },
        ),
      ),
    ).toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    await observer.start();

    const now = { ms: 1_000 };
    const { published, lease } = await resume(now);
    const byName = new Map(
      published.flatMap((o) =>
        o.kind.case === 'routesApplied' ? [[o.kind.value.workload?.name, o]] : [],
      ),
    );
    expect([...byName.keys()].sort()).toEqual(['plain', 'podinfo']);
    expect(byName.get('podinfo')).toMatchObject({
      observationId: 'eu-1:routes-resumed:default/podinfo:1000',
      kind: {
        value: {
          router: RouterKind.ISTIO,
          commandId: '',
          routes: { primaryWeightPercent: 80, canaryWeightPercent: 20 },
        },
      },
    });
    expect(byName.get('plain')?.kind.value).toMatchObject({
      router: RouterKind.NONE,
      routes: { primaryWeightPercent: 100, canaryWeightPercent: 0 },
    });
    // Only the canary with traffic is leased; when the lease lapses it goes back to the primary.
    expect(lease.canaries()).toEqual([
      { namespace: NS, name: 'podinfo', serviceName: 'podinfo', router: RouterKind.ISTIO },
    ]);
    now.ms += 60_000;
    expect(await lease.check(signal)).toHaveLength(1);
    const vs = await kube.get('VirtualService', NS, 'podinfo', signal);
    const http = vs?.spec?.http as { route: { weight: number }[] }[];
    expect(http[0]?.route.map((r) => r.weight)).toEqual([100, 0]);
  });

  it('skips, with a warning, a primary that does not say which router it has', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    expect(
      await untilFinal(
        command({ initializeTarget: { router: 'ROUTER_KIND_ISTIO', service: { port: 80 } } }),
      ),
    ).toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
    await kube.mergePatch(
      'Deployment',
      NS,
      'podinfo-primary',
      { metadata: { annotations: { [ROUTER_ANNOTATION]: null } } },
      signal,
    );
    await observer.start();
    // The informer may hold the primary from before the patch for a moment.
    await expect
      .poll(async () =>
        (await observer.primaries(signal)).some(
          (p) => p.metadata?.annotations?.[ROUTER_ANNOTATION] === undefined,
        ),
      )
      .toBe(true);
    const { published, lease, warnings } = await resume();
    expect(published).toEqual([]);
    expect(lease.canaries()).toEqual([]);
    expect(warnings).toEqual([
      {
        msg: 'cannot resume the routes of a primary; the next command for it will',
        fields: expect.objectContaining({ primary: 'podinfo-primary' }),
      },
    ]);
  });
});
