/**
 * The patch formats the API server accepts, over plain JSON values:
 * - `applyJsonPatch`: RFC 6902 (`application/json-patch+json`);
 * - `applyMergePatch`: RFC 7386 (`application/merge-patch+json`);
 * - `applyStrategicMergePatch`: Kubernetes strategic merge (`application/strategic-merge-patch+json`),
 *   lists merged by the merge key the Go types declare for the fields Aviary's workloads use.
 * Each returns a new value and never mutates its inputs. A malformed patch throws `PatchError`
 * with `kind: 'malformed'`; a well-formed one that cannot apply (a failed `test`, a missing path)
 * throws with `kind: 'conflict'`.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  override name = 'PatchError';
  readonly kind: 'malformed' | 'conflict';

  constructor(kind: 'malformed' | 'conflict', message: string) {
    super(message);
    this.kind = kind;
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/'))
    throw new PatchError('malformed', `invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function arrayIndex(token: string, length: number, forInsert: boolean, pointer: string): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new PatchError('conflict', `invalid array index "${token}" in "${pointer}"`);
  }
  const index = Number(token);
  if (index > length || (!forInsert && index === length)) {
    throw new PatchError('conflict', `array index ${index} out of bounds in "${pointer}"`);
  }
  return index;
}

function getAt(doc: Json, tokens: readonly string[], pointer: string): Json {
  let current: Json = doc;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      current = current[arrayIndex(token, current.length, false, pointer)] as Json;
    } else if (isObject(current) && Object.hasOwn(current, token)) {
      current = current[token] as Json;
    } else {
      throw new PatchError('conflict', `path "${pointer}" does not exist`);
    }
  }
  return current;
}

/** Returns the document with `value` added at `pointer` (the root may be replaced). */
function addAt(doc: Json, pointer: string, value: Json): Json {
  const tokens = parsePointer(pointer);
  const last = tokens.pop();
  if (last === undefined) return value;
  const parent = getAt(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(last, parent.length, true, pointer), 0, value);
  } else if (isObject(parent)) {
    parent[last] = value;
  } else {
    throw new PatchError('conflict', `cannot add at "${pointer}": parent is not a container`);
  }
  return doc;
}

function removeAt(doc: Json, pointer: string): Json {
  const tokens = parsePointer(pointer);
  const last = tokens.pop();
  if (last === undefined) throw new PatchError('conflict', 'cannot remove the whole document');
  const parent = getAt(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(last, parent.length, false, pointer), 1);
  } else if (isObject(parent) && Object.hasOwn(parent, last)) {
    delete parent[last];
  } else {
    throw new PatchError('conflict', `path "${pointer}" does not exist`);
  }
  return doc;
}

function stringField(op: JsonObject, name: string): string {
  const value = op[name];
  if (typeof value !== 'string') {
    throw new PatchError('malformed', `JSON patch operation is missing "${name}"`);
  }
  return value;
}

function valueField(op: JsonObject): Json {
  if (!Object.hasOwn(op, 'value')) {
    throw new PatchError('malformed', `JSON patch operation "${String(op.op)}" is missing "value"`);
  }
  return clone(op.value as Json);
}

export function applyJsonPatch(document: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw new PatchError('malformed', 'a JSON patch must be an array');
  let doc = clone(document);
  for (const op of patch) {
    if (!isObject(op))
      throw new PatchError('malformed', 'a JSON patch operation must be an object');
    const path = stringField(op, 'path');
    switch (op.op) {
      case 'add':
        doc = addAt(doc, path, valueField(op));
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        getAt(doc, parsePointer(path), path);
        doc = path === '' ? valueField(op) : addAt(removeAt(doc, path), path, valueField(op));
        break;
      case 'move': {
        const from = stringField(op, 'from');
        if (path.startsWith(`${from}/`)) {
          throw new PatchError('conflict', `cannot move "${from}" into its own child "${path}"`);
        }
        const value = getAt(doc, parsePointer(from), from);
        doc = addAt(removeAt(doc, from), path, value);
        break;
      }
      case 'copy': {
        const from = stringField(op, 'from');
        doc = addAt(doc, path, clone(getAt(doc, parsePointer(from), from)));
        break;
      }
      case 'test':
        if (!deepEqual(getAt(doc, parsePointer(path), path), valueField(op))) {
          throw new PatchError('conflict', `testing value at "${path}" failed`);
        }
        break;
      default:
        throw new PatchError('malformed', `unknown JSON patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386

export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = applyMergePatch(result[key], value);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

/**
 * Merge keys by field name, as the Go types declare them (`patchMergeKey`) for the fields Aviary's
 * workloads use. A list field not named here is replaced as a whole, as atomic lists are.
 * `ports` merges by `containerPort` in containers and by `port` in Services, so it is resolved
 * from the elements.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
  topologySpreadConstraints: 'topologyKey',
};

/** Primitive lists merged as sets (`patchStrategy:"merge"` on a list of strings). */
const MERGED_PRIMITIVE_LISTS: ReadonlySet<string> = new Set(['finalizers']);

function mergeKeyFor(
  field: string,
  patchList: readonly Json[],
  original: readonly Json[],
): string | undefined {
  if (field === 'ports') {
    const sample = [...patchList, ...original].find(isObject);
    if (sample && Object.hasOwn(sample, 'containerPort')) return 'containerPort';
    return 'port';
  }
  return MERGE_KEYS[field];
}

function mergeList(field: string, original: Json | undefined, patch: Json[]): Json[] {
  const base = Array.isArray(original) ? original : [];
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const result = [...base];
    for (const item of patch) if (!result.some((v) => deepEqual(v, item))) result.push(item);
    return result;
  }
  const key = mergeKeyFor(field, patch, base);
  if (key === undefined) return patch.map((v) => stripDirectives(v));
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return patch
      .filter((item) => !(isObject(item) && item.$patch === 'replace'))
      .map((v) => stripDirectives(v));
  }
  const result = base.map((v) => clone(v));
  for (const item of patch) {
    if (!isObject(item)) {
      throw new PatchError(
        'malformed',
        `list "${field}" merges by "${key}" but has a non-object element`,
      );
    }
    const id = item[key];
    const index = result.findIndex(
      (existing) => isObject(existing) && deepEqual(existing[key], id),
    );
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      result[index] = strategicMerge(result[index], item);
    } else {
      result.push(stripDirectives(item));
    }
  }
  return result;
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map((v) => stripDirectives(v));
  if (!isObject(value)) return value;
  const result: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('$')) continue;
    result[k] = stripDirectives(v);
  }
  return result;
}

function strategicMerge(original: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return null;
  const result: JsonObject = isObject(original) ? clone(original) : {};
  const retainKeys = patch.$retainKeys;
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) {
      // $setElementOrder/… and $deleteFromPrimitiveList/… directives.
      const deleteFrom = /^\$deleteFromPrimitiveList\/(.+)$/.exec(key)?.[1];
      if (deleteFrom !== undefined && Array.isArray(value) && Array.isArray(result[deleteFrom])) {
        result[deleteFrom] = (result[deleteFrom] as Json[]).filter(
          (v) => !value.some((d) => deepEqual(d, v)),
        );
      }
      continue;
    }
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      result[key] = mergeList(key, result[key], value);
    } else if (isObject(value)) {
      const merged = strategicMerge(result[key], value);
      if (merged === null) delete result[key];
      else result[key] = merged;
    } else {
      result[key] = value;
    }
  }
  if (Array.isArray(retainKeys)) {
    for (const key of Object.keys(result)) {
      if (!retainKeys.includes(key)) delete result[key];
    }
  }
  return result;
}

export function applyStrategicMergePatch(original: Json, patch: Json): Json {
  if (!isObject(patch))
    throw new PatchError('malformed', 'a strategic merge patch must be an object');
  const result = strategicMerge(original, patch);
  return result === null ? {} : result;
}
