/**
 * Halt-and-revert in a (simulated) cluster: a promotion saves the primary's template, and
 * `revertPrimary` puts it back, idempotently, against the Kubernetes simulator.
 */
import type { KubeSim } from '@aviary/kube-sim';
import { CommandOutcome } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandHandler, type HandledCommand } from './commands.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import { REVISION_ANNOTATION } from './ownership.ts';
import { deploymentReadiness } from './readiness.ts';
import { PREVIOUS_TEMPLATE_ANNOTATION, savedPrimaryOf } from './revert.ts';
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

const handler = () => createCommandHandler({ kube, cluster: 'eu-1', nowMs: () => Date.now() });

async function untilDone(h: ReturnType<typeof handler>, cmd: unknown): Promise<HandledCommand> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const handled = await h.handle(cmd, signal);
    if (handled.result.outcome !== CommandOutcome.FAILED || Date.now() > deadline) return handled;
    await sleep(50);
  }
}

const primary = async () => kube.get('Deployment', NS, 'podinfo-primary', signal);
const targetRevision = async () =>
  (await computeRevision(kube, (await kube.get('Deployment', NS, 'podinfo', signal)) ?? {}, signal))
    .id;

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

/** Bootstrapped on podinfo:1, then podinfo:2 promoted; returns both revisions. */
async function promotedOnce(h: ReturnType<typeof handler>) {
  const init = command({
    initializeTarget: { router: 'ROUTER_KIND_NONE', service: { port: 80, targetPort: 'http' } },
  });
  expect((await untilDone(h, init)).result.outcome).toBe(CommandOutcome.SUCCEEDED);
  const v1 = (await primary())?.metadata?.annotations?.[REVISION_ANNOTATION] ?? '';
  expect(v1).toBe(await targetRevision());
  await setImage('podinfo:2');
  const v2 = await targetRevision();
  const promoted = await h.handle(command({ promoteCanary: { revisionId: v2 } }), signal);
  expect(promoted.result.outcome).toBe(CommandOutcome.SUCCEEDED);
  return { v1, v2 };
}

describe('revertPrimary', () => {
  it('a promotion saves the replaced template; the revert restores it and the primary runs it', async () => {
    const h = handler();
    const { v1, v2 } = await promotedOnce(h);
    const after = await primary();
    expect(after?.spec?.template?.spec?.containers[0]?.image).toBe('podinfo:2');
    expect(after?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(v2);
    const saved = after === undefined ? undefined : savedPrimaryOf(after);
    expect(saved?.revision).toBe(v1);
    expect(saved?.template.spec?.containers[0]?.image).toBe('podinfo:1');

    // The same promotion applied again (another id: a re-sent decision after a restart) keeps
    // the saved template of v1, not the promoted one.
    const again = await h.handle(command({ promoteCanary: { revisionId: v2 } }), signal);
    expect(again.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const kept = await primary();
    expect(kept === undefined ? undefined : savedPrimaryOf(kept)?.revision).toBe(v1);

    const revert = command({ revertPrimary: { revisionId: v1 } });
    const reverted = await h.handle(revert, signal);
    expect(reverted.result.outcome).toBe(CommandOutcome.SUCCEEDED);
    const back = await primary();
    expect(back?.spec?.template?.spec?.containers[0]?.image).toBe('podinfo:1');
    expect(back?.spec?.template?.metadata?.labels).toEqual({ app: 'podinfo-primary' });
    expect(back?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(v1);
    expect(back?.metadata?.annotations?.[PREVIOUS_TEMPLATE_ANNOTATION]).toBeUndefined();
    expect(reverted.result.observedGeneration).toBe(BigInt(back?.metadata?.generation ?? -1));
    // The simulator's controllers roll the primary back: it becomes ready on podinfo:1.
    await expect
      .poll(
        async () => {
          const d = await primary();
          return d === undefined ? false : deploymentReadiness(d, { nowMs: Date.now() }).ready;
        },
        { timeout: 10_000, interval: 50 },
      )
      .toBe(true);

    // Delivered twice: the stored result, nothing changed.
    const duplicate = await h.handle(revert, signal);
    expect(duplicate.duplicate).toBe(true);
    expect((await primary())?.metadata?.generation).toBe(back?.metadata?.generation);
  });

  it('is idempotent under a new id: a primary already on the revision is left as it is', async () => {
    const h = handler();
    const { v1 } = await promotedOnce(h);
    expect(
      (await h.handle(command({ revertPrimary: { revisionId: v1 } }), signal)).result.outcome,
    ).toBe(CommandOutcome.SUCCEEDED);
    const generation = (await primary())?.metadata?.generation;
    const again = await h.handle(command({ revertPrimary: { revisionId: v1 } }), signal);
    expect(again).toMatchObject({
      duplicate: false,
      result: { outcome: CommandOutcome.SUCCEEDED },
    });
    expect((await primary())?.metadata?.generation).toBe(generation);
  });

  it('rejects a revision it has no saved template of, and a target never bootstrapped', async () => {
    const h = handler();
    const { v2 } = await promotedOnce(h);
    const unknown = await h.handle(
      command({ revertPrimary: { revisionId: 'rev-elsewhere' } }),
      signal,
    );
    expect(unknown.result).toMatchObject({
      outcome: CommandOutcome.REJECTED,
      reason: 'NoPreviousRevision',
    });
    expect((await primary())?.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(v2);
    const none = await h.handle(
      command(
        { revertPrimary: { revisionId: 'rev-1' } },
        { workload: { namespace: NS, name: 'absent', kind: 'WORKLOAD_KIND_DEPLOYMENT' } },
      ),
      signal,
    );
    expect(none.result).toMatchObject({ outcome: CommandOutcome.REJECTED, reason: 'NotFound' });
  });
});
