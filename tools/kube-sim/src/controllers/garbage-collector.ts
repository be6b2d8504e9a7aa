import { type ControllerContext, splitKey } from './context.ts';
import { arrayAt, nameOf, PODS, REPLICA_SETS } from './object.ts';

/** The kinds whose dependents are collected when their owner goes. */
const DEPENDENT_TYPES = [REPLICA_SETS, PODS] as const;

/**
 * Background cascading deletion for ReplicaSets and Pods: once an owner is deleted, every
 * dependent naming its uid in `ownerReferences` is deleted (and, in turn, theirs).
 * `key` is `<namespace>/<owner uid>`.
 */
export function collectOrphans(context: ControllerContext, key: string): void {
  const [namespace, ownerUid] = splitKey(key);
  for (const type of DEPENDENT_TYPES) {
    for (const object of context.store.list(type, namespace)) {
      const owners = arrayAt(object, 'metadata', 'ownerReferences');
      if (owners.some((ref) => ref.uid === ownerUid)) {
        context.store.delete(type, namespace, nameOf(object));
      }
    }
  }
}
