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
