import { isObject, type Json, type JsonObject } from '../patch.ts';
import { RESOURCES, type ResourceType } from '../resources.ts';

/** Typed reads of the loosely typed objects the store holds, and the bits controllers share. */

function builtIn(group: string, resource: string): ResourceType {
  const type = RESOURCES.find((r) => r.group === group && r.resource === resource);
  if (type === undefined) throw new Error(`${resource} missing from the resource registry`);
  return type;
}

export const DEPLOYMENTS = builtIn('apps', 'deployments');
export const REPLICA_SETS = builtIn('apps', 'replicasets');
export const PODS = builtIn('', 'pods');

export function at(value: Json | undefined, ...path: readonly string[]): Json | undefined {
  let current = value;
  for (const key of path) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

export function objectAt(value: Json | undefined, ...path: readonly string[]): JsonObject {
  const found = at(value, ...path);
  return isObject(found) ? found : {};
}

export function numberAt(value: Json | undefined, ...path: readonly string[]): number | undefined {
  const found = at(value, ...path);
  return typeof found === 'number' ? found : undefined;
}

export function stringAt(value: Json | undefined, ...path: readonly string[]): string {
  const found = at(value, ...path);
  return typeof found === 'string' ? found : '';
}

export function arrayAt(value: Json | undefined, ...path: readonly string[]): JsonObject[] {
  const found = at(value, ...path);
  return Array.isArray(found) ? found.filter(isObject) : [];
}

export function stringMap(value: Json | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

export const nameOf = (o: JsonObject): string => stringAt(o, 'metadata', 'name');
export const uidOf = (o: JsonObject): string => stringAt(o, 'metadata', 'uid');
export const labelsOf = (o: JsonObject): Record<string, string> =>
  stringMap(at(o, 'metadata', 'labels'));
export const annotationsOf = (o: JsonObject): Record<string, string> =>
  stringMap(at(o, 'metadata', 'annotations'));

/** The owner reference marked `controller: true`, if any. */
export function controllerOf(
  o: JsonObject,
): { kind: string; name: string; uid: string } | undefined {
  for (const ref of arrayAt(o, 'metadata', 'ownerReferences')) {
    if (ref.controller === true) {
      return {
        kind: stringAt(ref, 'kind'),
        name: stringAt(ref, 'name'),
        uid: stringAt(ref, 'uid'),
      };
    }
  }
  return undefined;
}

/** The controller owner reference a dependent of `owner` carries. */
export function ownerReference(owner: JsonObject, type: ResourceType): JsonObject {
  return {
    apiVersion: type.group === '' ? type.version : `${type.group}/${type.version}`,
    kind: type.kind,
    name: nameOf(owner),
    uid: uidOf(owner),
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** RFC 3339 with second precision, as `metav1.Time` serializes. */
export function timestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

export function parseTimestamp(value: string): number | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

export function conditionOf(status: Json | undefined, type: string): JsonObject | undefined {
  return arrayAt(status, 'conditions').find((c) => c.type === type);
}

/**
 * `conditions` with `next` in place of the condition of its type. As Kubernetes'
 * `SetDeploymentCondition`: the same status and reason changes nothing; the same status keeps
 * `lastTransitionTime`.
 */
export function withCondition(conditions: readonly JsonObject[], next: JsonObject): JsonObject[] {
  const current = conditions.find((c) => c.type === next.type);
  if (current && current.status === next.status && current.reason === next.reason) {
    return [...conditions];
  }
  const merged =
    current && current.status === next.status
      ? {
          ...next,
          lastTransitionTime: current.lastTransitionTime ?? next.lastTransitionTime ?? null,
        }
      : next;
  const others = conditions.filter((c) => c.type !== next.type);
  return current ? conditions.map((c) => (c.type === next.type ? merged : c)) : [...others, merged];
}

/** A status with zero counters left out, as Go's `omitempty` serializes them. */
export function omitZeros(status: JsonObject, keep: readonly string[] = []): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(status)) {
    if (v === 0 && !keep.includes(k)) continue;
    out[k] = v;
  }
  return out;
}
