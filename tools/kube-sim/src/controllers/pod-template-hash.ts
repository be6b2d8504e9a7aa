import type { Json } from '../patch.ts';

/** The label Kubernetes puts on a Deployment's ReplicaSets and Pods. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** Kubernetes' `rand.SafeEncodeString` alphabet: no vowels, no look-alikes. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function canonical(value: Json | undefined): string {
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * The `pod-template-hash` of a pod template, as `controller.ComputeHash` shapes it: FNV-32a, its
 * decimal digits mapped through the safe alphabet (so `"5f56684589"`-like, up to 10 characters).
 * Kubernetes hashes a Go dump of the template; this hashes canonical JSON (sorted keys), so the
 * value is stable across runs but not equal to a real cluster's.
 */
export function podTemplateHash(template: Json | undefined, collisionCount = 0): string {
  const digits = String(fnv32a(`${canonical(template)}#${collisionCount}`));
  let out = '';
  for (const char of digits) out += SAFE_ALPHABET[char.charCodeAt(0) % SAFE_ALPHABET.length];
  return out;
}
