/**
 * Optimistic updates: read, change a copy, replace with the read `resourceVersion`; on a conflict
 * (someone wrote in between) read again and retry, as client-go's `RetryOnConflict` does.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { KubeClient, KubeKind, KubeObjects } from './kube-client.ts';

export type UpdateOutcome<T> =
  | { readonly outcome: 'updated'; readonly object: T }
  | { readonly outcome: 'unchanged'; readonly object: T }
  | { readonly outcome: 'not-found' };

/** Default attempts, as client-go's `retry.DefaultRetry` (5 steps). */
export const DEFAULT_UPDATE_ATTEMPTS = 5;

/**
 * Applies `mutate` to a fresh copy of the object until the replace succeeds. `mutate` returns the
 * new object, or `undefined` to leave it as it is (no write). Throws `CONCURRENCY` after
 * `attempts` conflicts in a row.
 */
export async function updateWithRetry<K extends KubeKind>(
  kube: KubeClient,
  kind: K,
  namespace: string,
  name: string,
  mutate: (current: KubeObjects[K]) => KubeObjects[K] | undefined,
  signal: AbortSignal,
  attempts = DEFAULT_UPDATE_ATTEMPTS,
): Promise<UpdateOutcome<KubeObjects[K]>> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const current = await kube.get(kind, namespace, name, signal);
    if (current === undefined) return { outcome: 'not-found' };
    const next = mutate(structuredClone(current));
    if (next === undefined) return { outcome: 'unchanged', object: current };
    const result = await kube.replace(kind, namespace, next, signal);
    if (result.outcome === 'replaced') return { outcome: 'updated', object: result.object };
    if (result.outcome === 'not-found') return { outcome: 'not-found' };
  }
  throw new AviaryError(
    ErrorCode.Concurrency,
    `${kind} ${namespace}/${name}: still conflicting after ${attempts} attempts`,
  );
}
