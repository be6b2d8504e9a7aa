import type { ClusterStore } from '../store.ts';

/** What the controllers of one cluster share: the store, the clock and the work queue. */
export const QueueKind = {
  deployment: 'deployment',
  replicaSet: 'replicaset',
  pod: 'pod',
  /** Dependents of a deleted owner; the key is `<namespace>/<owner uid>`. */
  orphans: 'orphans',
} as const;

export type QueueKind = (typeof QueueKind)[keyof typeof QueueKind];

export interface ControllerContext {
  readonly store: ClusterStore;
  now(): number;
  /** Syncs `key` (`<namespace>/<name>`) soon, once however often it is asked. */
  enqueue(kind: QueueKind, key: string): void;
  /** Syncs `key` at `atMs` (or earlier, if asked for an earlier time too). */
  enqueueAt(kind: QueueKind, key: string, atMs: number): void;
}

export function splitKey(key: string): [namespace: string, name: string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
