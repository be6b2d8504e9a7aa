/**
 * Halt-and-revert in the cluster: put `<name>-primary` back on the revision it ran before the last
 * promotion (`RevertPrimary`).
 *
 * - **Saving.** A promotion replaces the primary's pod template with the canary's. Right before it
 *   does, `previousTemplateAnnotations` gives the annotation to write in the same update:
 *   `aviary.dev/previous-template`, the JSON of the replaced template with its revision (and the
 *   `minReadySeconds` / `strategy` the promotion also copies). A promotion applied again (same
 *   revision: a re-delivery, a restart) keeps what was saved, so the saved state is always the
 *   revision before the promoted one, never the promoted one itself.
 * - **Restoring.** `revertPrimary` writes the saved template back, sets `aviary.dev/revision` to the
 *   saved revision and drops the saved annotation, in one update. It is idempotent: a primary that
 *   already runs the requested revision is left alone (success). Nothing saved for that revision
 *   is a refusal (`NoPreviousRevision`): the agent cannot know that template.
 * - **Not restored:** the `-primary` copies of tracked ConfigMaps/Secrets (a promotion overwrites
 *   them; saving their data in an annotation would not fit the 256 KiB annotation budget). A
 *   release that changed only tracked config is reverted to the old template reading the new
 *   config; the readiness the agent reports then names the old revision. See docs/decider.md.
 */
import type {
  V1Deployment,
  V1DeploymentStrategy,
  V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { primaryName } from './bootstrap.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import { isOwned, NotOwnedError, REVISION_ANNOTATION } from './ownership.ts';

/** On `<name>-primary`: the pod template a promotion replaced, with its revision (JSON). */
export const PREVIOUS_TEMPLATE_ANNOTATION = 'aviary.dev/previous-template';

interface SavedPrimary {
  readonly revision: string;
  readonly template: V1PodTemplateSpec;
  readonly minReadySeconds?: number;
  readonly strategy?: V1DeploymentStrategy;
}

/** Why a revert cannot be applied; the command handler answers it as a `REJECTED` result. */
export class RevertRefusedError extends Error {
  override name = 'RevertRefusedError';
  readonly reason: 'NoPreviousRevision' | 'NotFound';
  constructor(reason: RevertRefusedError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * The annotations a promotion to `promoting` adds to the primary it is about to change: the
 * current template saved, unless the primary already runs `promoting` (a promotion applied again)
 * or has no known revision.
 */
export function previousTemplateAnnotations(
  primary: V1Deployment,
  promoting: string,
): Record<string, string> {
  const current = primary.metadata?.annotations?.[REVISION_ANNOTATION] ?? '';
  const template = primary.spec?.template;
  if (current === '' || current === promoting || template === undefined) return {};
  const saved: SavedPrimary = {
    revision: current,
    template,
    ...(primary.spec?.minReadySeconds !== undefined
      ? { minReadySeconds: primary.spec.minReadySeconds }
      : {}),
    ...(primary.spec?.strategy !== undefined ? { strategy: primary.spec.strategy } : {}),
  };
  return { [PREVIOUS_TEMPLATE_ANNOTATION]: JSON.stringify(saved) };
}

/** The saved primary, if the annotation holds one. */
export function savedPrimaryOf(primary: V1Deployment): SavedPrimary | undefined {
  const raw = primary.metadata?.annotations?.[PREVIOUS_TEMPLATE_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as Partial<SavedPrimary>;
    if (typeof parsed.revision !== 'string' || typeof parsed.template !== 'object')
      return undefined;
    return parsed as SavedPrimary;
  } catch {
    return undefined;
  }
}

/**
 * Puts `<name>-primary` back on `revisionId` from the saved template (see the module comment).
 * Returns the primary's generation after the update (or as it was, when nothing had to change).
 */
export async function revertPrimary(
  kube: KubeClient,
  namespace: string,
  name: string,
  revisionId: string,
  signal: AbortSignal,
): Promise<{ generation: number }> {
  if (revisionId === '') {
    throw new RevertRefusedError('NoPreviousRevision', 'revertPrimary.revisionId is required');
  }
  const primaryDeployment = primaryName(name);
  const result = await updateWithRetry(
    kube,
    'Deployment',
    namespace,
    primaryDeployment,
    (primary) => {
      if (!isOwned(primary)) throw new NotOwnedError('Deployment', namespace, primaryDeployment);
      const annotations = { ...primary.metadata?.annotations };
      if (annotations[REVISION_ANNOTATION] === revisionId) return undefined; // already there
      const saved = savedPrimaryOf(primary);
      if (saved === undefined || saved.revision !== revisionId) {
        throw new RevertRefusedError(
          'NoPreviousRevision',
          `${primaryDeployment}.${namespace} runs revision ${annotations[REVISION_ANNOTATION] ?? '(unknown)'} and has ${saved === undefined ? 'no saved template' : `a saved template of revision ${saved.revision}`}, not one of ${revisionId}`,
        );
      }
      delete annotations[PREVIOUS_TEMPLATE_ANNOTATION];
      annotations[REVISION_ANNOTATION] = saved.revision;
      const {
        minReadySeconds: _m,
        strategy: _s,
        ...spec
      } = primary.spec ?? {
        selector: { matchLabels: {} },
        template: {},
      };
      return {
        ...primary,
        metadata: { ...primary.metadata, annotations },
        spec: {
          ...spec,
          selector: primary.spec?.selector ?? { matchLabels: {} },
          template: saved.template,
          ...(saved.minReadySeconds !== undefined
            ? { minReadySeconds: saved.minReadySeconds }
            : {}),
          ...(saved.strategy !== undefined ? { strategy: saved.strategy } : {}),
        },
      };
    },
    signal,
  );
  if (result.outcome === 'not-found') {
    throw new RevertRefusedError(
      'NotFound',
      `${primaryDeployment} does not exist: nothing to revert`,
    );
  }
  return { generation: result.object.metadata?.generation ?? 0 };
}
