import type { KubeSim } from '@aviary/kube-sim';
import { CommandOutcome } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler, type HandledCommand } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { HPA_ANNOTATION, ROUTER_ANNOTATION, SERVICE_ANNOTATION } from './ownership.ts';
import {
  command,
  createTrackedConfigs,
  NS,
  simulatedCluster,
  sleep,
  targetDeployment,
} from './testing.ts';

let sim: KubeSim;
let kube: KubeClient;
const signal = new AbortController().signal;

beforeEach(async () => {
  ({ sim, kube } = await simulatedCluster());
  await createTrackedConfigs(kube, signal);
});

afterEach(async () => {
  await sim.close();
});

const handler = (primaryReadyWaitMs = 2000) =>
  createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now(), primaryReadyWaitMs });

/** Sends a command until it no longer fails retriably. */
async function untilFinal(
  h: ReturnType<typeof handler>,
  cmd: unknown,
  timeoutMs = 15_000,
): Promise<HandledCommand[]> {
  const deadline = Date.now() + timeoutMs;
  const answers: HandledCommand[] = [];
  for (;;) {
    const handled = await h.handle(cmd, signal);
    answers.push(handled);
    const { outcome, retriable } = handled.result;
    if (outcome !== CommandOutcome.FAILED || !retriable || Date.now() > deadline) return answers;
    await sleep(50);
  }
}

describe('finalizeTarget', () => {
  it('deletes the primary’s HPA copy with the other generated objects, and leaves the target’s', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await kube.create(
      'HorizontalPodAutoscaler',
      NS,
      {
        metadata: { name: 'podinfo-hpa' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
          minReplicas: 2,
          maxReplicas: 4,
        },
      },
      signal,
    );
    const h = handler();
    const service = { port: 80, targetPort: 'http' };
    const init = await untilFinal(
      h,
      command({
        initializeTarget: { router: 'ROUTER_KIND_ISTIO', service, hpaName: 'podinfo-hpa' },
      }),
    );
    expect(init.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const copy = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal);
    expect(copy?.spec?.scaleTargetRef.name).toBe('podinfo-primary');
    // The primary remembers what finalizeTarget (which does not carry them) needs.
    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primary?.metadata?.annotations).toMatchObject({
      [HPA_ANNOTATION]: 'podinfo-hpa',
      [ROUTER_ANNOTATION]: 'istio',
      [SERVICE_ANNOTATION]: 'podinfo',
    });

    const finalize = await untilFinal(
      h,
      command({ finalizeTarget: { router: 'ROUTER_KIND_ISTIO', service } }),
    );
    expect(finalize.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(
      await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal),
    ).toBeUndefined();
    expect(await kube.get('Deployment', NS, 'podinfo-primary', signal)).toBeUndefined();
    // The user's HPA still scales the target.
    const own = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa', signal);
    expect(own?.spec?.scaleTargetRef.name).toBe('podinfo');
  });

  it('leaves an HPA named like the copy alone when the agent does not own it', async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    const h = handler();
    const service = { port: 80, targetPort: 'http' };
    const init = await untilFinal(
      h,
      command({ initializeTarget: { router: 'ROUTER_KIND_NONE', service } }),
    );
    expect(init.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    // Someone else's HPA, and a primary claiming it (an annotation set by hand).
    await kube.create(
      'HorizontalPodAutoscaler',
      NS,
      {
        metadata: { name: 'other-primary' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'other' },
          maxReplicas: 2,
        },
      },
      signal,
    );
    await kube.mergePatch(
      'Deployment',
      NS,
      'podinfo-primary',
      { metadata: { annotations: { [HPA_ANNOTATION]: 'other' } } },
      signal,
    );
    const finalize = await untilFinal(
      h,
      command({ finalizeTarget: { router: 'ROUTER_KIND_NONE', service } }),
    );
    expect(finalize.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(await kube.get('HorizontalPodAutoscaler', NS, 'other-primary', signal)).toBeDefined();
  });

  /** Initializes `podinfo` with an HPA named `hpaName`, then drops `aviary.dev/hpa` (an old primary). */
  async function legacyPrimaryWithHpa(h: ReturnType<typeof handler>, hpaName: string) {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await kube.create(
      'HorizontalPodAutoscaler',
      NS,
      {
        metadata: { name: hpaName },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
          maxReplicas: 4,
        },
      },
      signal,
    );
    const init = await untilFinal(
      h,
      command({ initializeTarget: { router: 'ROUTER_KIND_NONE', service: { port: 80 }, hpaName } }),
    );
    expect(init.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    await kube.mergePatch(
      'Deployment',
      NS,
      'podinfo-primary',
      { metadata: { annotations: { [HPA_ANNOTATION]: null } } },
      signal,
    );
    const primary = await kube.get('Deployment', NS, 'podinfo-primary', signal);
    expect(primary?.metadata?.annotations?.[HPA_ANNOTATION]).toBeUndefined();
  }

  it('finds the HPA copy of a primary bootstrapped before `aviary.dev/hpa` (HPA named after the target)', async () => {
    const h = handler();
    await legacyPrimaryWithHpa(h, 'podinfo');
    expect(await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-primary', signal)).toBeDefined();
    const finalize = await untilFinal(
      h,
      command({ finalizeTarget: { router: 'ROUTER_KIND_NONE', service: { port: 80 } } }),
    );
    expect(finalize.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(
      await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-primary', signal),
    ).toBeUndefined();
    expect(await kube.get('Deployment', NS, 'podinfo-primary', signal)).toBeUndefined();
    const own = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo', signal);
    expect(own?.spec?.scaleTargetRef.name).toBe('podinfo');
  });

  it('without `aviary.dev/hpa`, leaves an owned HPA of that name that does not scale the primary', async () => {
    const h = handler();
    await legacyPrimaryWithHpa(h, 'podinfo');
    // The copy now scales something else (edited by hand): not the primary's scaler any more.
    await kube.mergePatch(
      'HorizontalPodAutoscaler',
      NS,
      'podinfo-primary',
      { spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'other' } } },
      signal,
    );
    const finalize = await untilFinal(
      h,
      command({ finalizeTarget: { router: 'ROUTER_KIND_NONE', service: { port: 80 } } }),
    );
    expect(finalize.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect(await kube.get('Deployment', NS, 'podinfo-primary', signal)).toBeUndefined();
    expect(await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-primary', signal)).toBeDefined();
  });
});

describe('initializeTarget with a primary that never becomes ready', () => {
  it('fails retriably until the progress deadline, then for good, having routed nothing', async () => {
    const target = targetDeployment('podinfo');
    if (target.spec !== undefined) target.spec.progressDeadlineSeconds = 1;
    const template = target.spec?.template;
    if (template?.metadata !== undefined) {
      template.metadata.annotations = {
        ...template.metadata.annotations,
        'sim.aviary.dev/never-ready': 'true',
      };
    }
    await kube.create('Deployment', NS, target, signal);
    const h = handler(0);
    const answers = await untilFinal(
      h,
      command({ initializeTarget: { router: 'ROUTER_KIND_ISTIO', service: { port: 80 } } }),
    );
    const first = answers[0]?.result;
    const last = answers.at(-1)?.result;
    expect(first).toMatchObject({
      outcome: CommandOutcome.FAILED,
      reason: 'PrimaryNotReady',
      retriable: true,
    });
    expect(last).toMatchObject({
      outcome: CommandOutcome.FAILED,
      reason: 'PrimaryNotReady',
      retriable: false,
    });
    expect(last?.message).toContain('podinfo-primary.default not ready');
    expect(answers.length).toBeGreaterThan(1);
    // Nothing that routes traffic was created, and the target still runs.
    expect(await kube.get('Service', NS, 'podinfo', signal)).toBeUndefined();
    expect(await kube.get('VirtualService', NS, 'podinfo', signal)).toBeUndefined();
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(2);
    // A final FAILED is not stored: the same command asked again answers the same.
    const again = await h.handle(
      command({ initializeTarget: { router: 'ROUTER_KIND_ISTIO', service: { port: 80 } } }),
      signal,
    );
    expect(again.result).toMatchObject({ reason: 'PrimaryNotReady', retriable: false });
  });
});

/** The user's HPA of `podinfo` (min 2, max 4, one CPU metric). */
async function createTargetHpa(minReplicas?: number) {
  await kube.create(
    'HorizontalPodAutoscaler',
    NS,
    {
      metadata: { name: 'podinfo-hpa' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
        ...(minReplicas !== undefined ? { minReplicas } : {}),
        maxReplicas: 4,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
          },
        ],
      },
    },
    signal,
  );
}

const initWithHpa = (bounds: { primaryMinReplicas?: number; primaryMaxReplicas?: number } = {}) =>
  command({
    initializeTarget: {
      router: 'ROUTER_KIND_NONE',
      service: { port: 80 },
      hpaName: 'podinfo-hpa',
      ...bounds,
    },
  });

describe('initializeTarget: the `<hpa>-primary` copy and primaryScalerReplicas', () => {
  beforeEach(async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await createTargetHpa(2);
  });

  it('copies the target’s bounds when no override is given', async () => {
    const init = await untilFinal(handler(), initWithHpa());
    expect(init.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const copy = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal);
    expect(copy?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });
    expect(copy?.spec?.scaleTargetRef.name).toBe('podinfo-primary');
  });

  it('applies the overrides to the copy only, and a new initializeTarget changes nothing', async () => {
    const h = handler();
    const init = await untilFinal(
      h,
      initWithHpa({ primaryMinReplicas: 3, primaryMaxReplicas: 10 }),
    );
    expect(init.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const copy = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal);
    expect(copy?.spec).toMatchObject({
      minReplicas: 3,
      maxReplicas: 10,
      scaleTargetRef: { name: 'podinfo-primary' },
      metrics: [{ type: 'Resource', resource: { name: 'cpu' } }],
    });
    const own = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa', signal);
    expect(own?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });

    // Re-bootstrapping (a new command, e.g. the next release) keeps the overrides untouched.
    const again = await untilFinal(
      h,
      initWithHpa({ primaryMinReplicas: 3, primaryMaxReplicas: 10 }),
    );
    expect(again.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const after = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal);
    expect(after?.metadata?.resourceVersion).toBe(copy?.metadata?.resourceVersion);
    expect(after?.spec).toMatchObject({ minReplicas: 3, maxReplicas: 10 });
  });

  it('puts a drifted copy back, and takes new overrides from a later initializeTarget', async () => {
    const h = handler();
    expect(
      (await untilFinal(h, initWithHpa({ primaryMinReplicas: 3 }))).at(-1)?.result.outcome,
    ).toBe(CommandOutcome.SUCCEEDED);
    // Edited by hand: the next bootstrap restores the desired bounds.
    await kube.mergePatch(
      'HorizontalPodAutoscaler',
      NS,
      'podinfo-hpa-primary',
      { spec: { minReplicas: 1, maxReplicas: 2 } },
      signal,
    );
    expect(
      (await untilFinal(h, initWithHpa({ primaryMinReplicas: 3 }))).at(-1)?.result.outcome,
    ).toBe(CommandOutcome.SUCCEEDED);
    const copy = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal);
    expect(copy?.spec).toMatchObject({ minReplicas: 3, maxReplicas: 4 });
    // A release with other bounds.
    expect(
      (await untilFinal(h, initWithHpa({ primaryMaxReplicas: 6 }))).at(-1)?.result.outcome,
    ).toBe(CommandOutcome.SUCCEEDED);
    const next = await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal);
    expect(next?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 6 });
  });

  it('rejects bounds that cross the target HPA’s, before creating anything', async () => {
    // min 5 over the target's max 4.
    const init = await untilFinal(handler(), initWithHpa({ primaryMinReplicas: 5 }));
    expect(init.at(-1)?.result).toMatchObject({
      outcome: CommandOutcome.REJECTED,
      reason: 'Invalid',
    });
    expect(init.at(-1)?.result.message).toContain('minReplicas 5 exceeds maxReplicas 4');
    expect(await kube.get('Deployment', NS, 'podinfo-primary', signal)).toBeUndefined();
    expect(
      await kube.get('HorizontalPodAutoscaler', NS, 'podinfo-hpa-primary', signal),
    ).toBeUndefined();
  });

  it('rejects bounds without an HPA to override', async () => {
    const init = await untilFinal(
      handler(),
      command({
        initializeTarget: {
          router: 'ROUTER_KIND_NONE',
          service: { port: 80 },
          primaryMinReplicas: 2,
        },
      }),
    );
    expect(init.at(-1)?.result).toMatchObject({
      outcome: CommandOutcome.REJECTED,
      reason: 'Invalid',
    });
    expect(await kube.get('Deployment', NS, 'podinfo-primary', signal)).toBeUndefined();
  });
});

describe('scaleCanary without replicas: Flagger’s scale-from-zero rule', () => {
  async function bootstrap(hpaName?: string) {
    const init = await untilFinal(
      handler(),
      command({
        initializeTarget: {
          router: 'ROUTER_KIND_NONE',
          service: { port: 80 },
          ...(hpaName !== undefined ? { hpaName } : {}),
        },
      }),
    );
    expect(init.at(-1)?.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    expect((await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas).toBe(0);
  }
  async function scaleFromZero(): Promise<number | undefined> {
    const scaled = await handler().handle(command({ scaleCanary: {} }), signal);
    expect(scaled.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    return (await kube.get('Deployment', NS, 'podinfo', signal))?.spec?.replicas;
  }
  const setReplicas = (name: string, replicas: number) =>
    kube.mergePatch('Deployment', NS, name, { spec: { replicas } }, signal);

  beforeEach(async () => {
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
  });

  it('keeps the target’s own replicas when it has some', async () => {
    await bootstrap();
    await setReplicas('podinfo', 4);
    expect(await scaleFromZero()).toBe(4);
  });

  it('without an autoscaler, takes the primary’s replicas', async () => {
    await bootstrap();
    await setReplicas('podinfo-primary', 3);
    expect(await scaleFromZero()).toBe(3);
  });

  it('with an autoscaler, takes the target HPA’s minReplicas (> 1), not the primary’s replicas', async () => {
    await createTargetHpa(3);
    await bootstrap('podinfo-hpa');
    await setReplicas('podinfo-primary', 4);
    expect(await scaleFromZero()).toBe(3);
  });

  it('with an autoscaler whose minReplicas is 1 or unset, scales to 1', async () => {
    await createTargetHpa();
    await bootstrap('podinfo-hpa');
    await setReplicas('podinfo-primary', 4);
    expect(await scaleFromZero()).toBe(1);
  });
});
