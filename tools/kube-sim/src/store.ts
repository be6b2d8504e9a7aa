import { randomUUID } from 'node:crypto';
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  KubeApiError,
  notFound,
  StatusReason,
} from './errors.ts';
import { deepEqual, isObject, type Json, type JsonObject } from './patch.ts';
import { apiVersionOf, RESOURCES, type ResourceType, resourceKey } from './resources.ts';

/**
 * One cluster's objects, kept in memory: a cluster-wide resourceVersion (a counter, sent as a
 * string) bumped on every write, a bounded history of changes for watches to resume from, and the
 * metadata the real server maintains (`uid`, `creationTimestamp`, `generation`). Deletes are
 * immediate (no `deletionTimestamp`, no finalizers, no garbage collection of dependents, except
 * that deleting a namespace deletes what it holds).
 */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  readonly type: WatchEventType;
  readonly resourceVersion: number;
  readonly resource: ResourceType;
  readonly namespace: string;
  /** The object after the change; for DELETED, the object as deleted, with the deletion's version. */
  readonly object: JsonObject;
  /** The object before the change, for watches whose selector it may have entered or left. */
  readonly previous: JsonObject | undefined;
}

export interface WriteOptions {
  /** `dryRun=All`: validate and answer as if written, change nothing. */
  readonly dryRun?: boolean;
}

export interface StoreOptions {
  /** How many changes a watch can resume across; older versions answer 410 Expired. */
  readonly historyLimit?: number;
  /** Clock for `creationTimestamp`; tests may fix it. */
  readonly now?: () => Date;
}

export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

const NAMESPACES = RESOURCES.find((r) => r.resource === 'namespaces' && r.group === '');
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function metadataOf(object: JsonObject): JsonObject {
  const metadata = object.metadata;
  return isObject(metadata) ? metadata : {};
}

function str(value: Json | undefined): string {
  return typeof value === 'string' ? value : '';
}

function timestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Everything but `metadata` (and `status` when it has its own endpoint): what bumps generation. */
function specPart(type: ResourceType, object: JsonObject): JsonObject {
  const { metadata: _metadata, status: _status, ...rest } = object;
  if (!type.statusSubresource && _status !== undefined) rest.status = _status;
  return rest;
}

export class ClusterStore {
  readonly #objects = new Map<string, Map<string, JsonObject>>();
  readonly #history: StoredEvent[] = [];
  readonly #listeners = new Set<(event: StoredEvent) => void>();
  readonly #historyLimit: number;
  readonly #now: () => Date;
  #resourceVersion = 0;
  /** Changes up to this version are no longer in the history. */
  #compactedVersion = 0;

  constructor(options: StoreOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 1000;
    this.#now = options.now ?? (() => new Date());
    if (NAMESPACES === undefined) throw new Error('namespaces missing from the resource registry');
    for (const name of DEFAULT_NAMESPACES) {
      this.create(NAMESPACES, '', { metadata: { name } });
    }
  }

  /** The cluster's current resourceVersion, as lists and bookmarks report it. */
  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  /** The oldest version a watch can still resume from. */
  get compactedVersion(): number {
    return this.#compactedVersion;
  }

  /** Forgets the history, so any watch from an earlier version answers 410 Expired. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedVersion = this.#resourceVersion;
  }

  subscribe(listener: (event: StoredEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The changes after `resourceVersion`; throws 410 Expired when some are no longer kept. */
  changesSince(resourceVersion: number): StoredEvent[] {
    if (resourceVersion < this.#compactedVersion) {
      throw expired(`too old resource version: ${resourceVersion} (${this.#compactedVersion})`);
    }
    return this.#history.filter((e) => e.resourceVersion > resourceVersion);
  }

  get(type: ResourceType, namespace: string, name: string): JsonObject {
    const object = this.#table(type).get(this.#id(type, namespace, name));
    if (object === undefined) throw notFound(type, name);
    return structuredClone(object);
  }

  find(type: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const object = this.#table(type).get(this.#id(type, namespace, name));
    return object === undefined ? undefined : structuredClone(object);
  }

  /** Objects of a type, in one namespace or all (`undefined`), ordered by namespace then name. */
  list(type: ResourceType, namespace: string | undefined): JsonObject[] {
    const items: JsonObject[] = [];
    for (const [id, object] of this.#table(type)) {
      if (namespace !== undefined && type.namespaced && !id.startsWith(`${namespace}/`)) continue;
      items.push(structuredClone(object));
    }
    return items.sort((a, b) => {
      const ka = `${str(metadataOf(a).namespace)}/${str(metadataOf(a).name)}`;
      const kb = `${str(metadataOf(b).namespace)}/${str(metadataOf(b).name)}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  create(
    type: ResourceType,
    namespace: string,
    body: JsonObject,
    options: WriteOptions = {},
  ): JsonObject {
    const input = structuredClone(body);
    const metadata = metadataOf(input);
    let name = str(metadata.name);
    if (name === '' && str(metadata.generateName) !== '') {
      name = str(metadata.generateName) + this.#randomSuffix();
    }
    if (name === '') {
      throw invalid(type.kind, type.group, '', [
        { field: 'metadata.name', message: 'Required value: name or generateName is required' },
      ]);
    }
    if (type.namespaced) this.#requireNamespace(namespace);
    if (this.#table(type).has(this.#id(type, namespace, name))) throw alreadyExists(type, name);
    const object: JsonObject = {
      ...input,
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: {
        ...metadata,
        name,
        ...(type.namespaced ? { namespace } : {}),
        uid: randomUUID(),
        resourceVersion: '',
        generation: 1,
        creationTimestamp: timestamp(this.#now()),
      },
    };
    if (!type.namespaced) delete (object.metadata as JsonObject).namespace;
    delete (object.metadata as JsonObject).managedFields;
    if (type.statusSubresource) delete object.status;
    applyDefaults(type, object);
    validate(type, object);
    if (options.dryRun) return object;
    return this.#commit('ADDED', type, namespace, name, object, undefined);
  }

  /**
   * Replaces an object (PUT). A non-empty `metadata.resourceVersion` must be the current one or
   * it is a 409 Conflict. `subresource: 'status'` changes only `status`; otherwise `status` is
   * kept for types with a status endpoint. A write that changes nothing keeps the version.
   */
  update(
    type: ResourceType,
    namespace: string,
    name: string,
    body: JsonObject,
    options: WriteOptions & { readonly subresource?: 'status' } = {},
  ): JsonObject {
    const current = this.get(type, namespace, name);
    const currentMeta = metadataOf(current);
    const meta = metadataOf(body);
    const expectedVersion = str(meta.resourceVersion);
    if (expectedVersion !== '' && expectedVersion !== currentMeta.resourceVersion) {
      throw conflict(type, name);
    }
    let next: JsonObject;
    if (options.subresource === 'status') {
      next = { ...current };
      if (body.status === undefined) delete next.status;
      else next.status = structuredClone(body.status);
    } else {
      next = {
        ...structuredClone(body),
        apiVersion: apiVersionOf(type),
        kind: type.kind,
        metadata: {
          ...structuredClone(meta),
          name,
          ...(type.namespaced ? { namespace } : {}),
          uid: currentMeta.uid ?? null,
          creationTimestamp: currentMeta.creationTimestamp ?? null,
          generation: currentMeta.generation ?? 1,
          resourceVersion: currentMeta.resourceVersion ?? '',
        },
      };
      if (!type.namespaced) delete (next.metadata as JsonObject).namespace;
      delete (next.metadata as JsonObject).managedFields;
      if (type.statusSubresource) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
      applyDefaults(type, next);
      if (!deepEqual(specPart(type, current), specPart(type, next))) {
        const generation = currentMeta.generation;
        (next.metadata as JsonObject).generation =
          (typeof generation === 'number' ? generation : 0) + 1;
      }
    }
    validate(type, next);
    if (deepEqual(current, next) || options.dryRun) return next;
    return this.#commit('MODIFIED', type, namespace, name, next, current);
  }

  delete(
    type: ResourceType,
    namespace: string,
    name: string,
    preconditions: { readonly uid?: string; readonly resourceVersion?: string } = {},
    options: WriteOptions = {},
  ): JsonObject {
    const current = this.get(type, namespace, name);
    const meta = metadataOf(current);
    if (
      (preconditions.uid !== undefined && preconditions.uid !== meta.uid) ||
      (preconditions.resourceVersion !== undefined &&
        preconditions.resourceVersion !== meta.resourceVersion)
    ) {
      throw new KubeApiError(
        StatusReason.Conflict,
        409,
        `Operation cannot be fulfilled on ${type.resource} "${name}": the precondition did not match`,
        { name, group: type.group, kind: type.resource },
      );
    }
    if (options.dryRun) return current;
    if (type === NAMESPACES) {
      for (const other of RESOURCES) {
        if (!other.namespaced) continue;
        for (const object of this.list(other, name)) {
          this.delete(other, name, str(metadataOf(object).name));
        }
      }
    }
    this.#table(type).delete(this.#id(type, namespace, name));
    return this.#commit('DELETED', type, namespace, name, current, current);
  }

  #commit(
    type: WatchEventType,
    resource: ResourceType,
    namespace: string,
    name: string,
    object: JsonObject,
    previous: JsonObject | undefined,
  ): JsonObject {
    this.#resourceVersion += 1;
    const stored: JsonObject = {
      ...object,
      metadata: { ...metadataOf(object), resourceVersion: String(this.#resourceVersion) },
    };
    if (type !== 'DELETED') this.#table(resource).set(this.#id(resource, namespace, name), stored);
    const event: StoredEvent = {
      type,
      resourceVersion: this.#resourceVersion,
      resource,
      namespace: resource.namespaced ? namespace : '',
      object: stored,
      previous,
    };
    this.#history.push(event);
    while (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.shift();
      if (dropped) this.#compactedVersion = dropped.resourceVersion;
    }
    for (const listener of this.#listeners) listener(event);
    return structuredClone(stored);
  }

  #requireNamespace(namespace: string): void {
    if (namespace === '') throw badRequest('the namespace of the object is required');
    if (NAMESPACES && !this.#table(NAMESPACES).has(namespace)) {
      throw notFound(NAMESPACES, namespace);
    }
  }

  #table(type: ResourceType): Map<string, JsonObject> {
    const key = resourceKey(type);
    let table = this.#objects.get(key);
    if (table === undefined) {
      table = new Map();
      this.#objects.set(key, table);
    }
    return table;
  }

  #id(type: ResourceType, namespace: string, name: string): string {
    return type.namespaced ? `${namespace}/${name}` : name;
  }

  #randomSuffix(): string {
    let suffix = '';
    for (let i = 0; i < 5; i++) {
      suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
    }
    return suffix;
  }
}

/** The few defaults the real server fills in that clients read back. */
function applyDefaults(type: ResourceType, object: JsonObject): void {
  const spec = isObject(object.spec) ? object.spec : undefined;
  if (type.group === '' && type.resource === 'namespaces') {
    object.spec = { finalizers: ['kubernetes'], ...(spec ?? {}) };
    if (!isObject(object.status)) object.status = { phase: 'Active' };
    const labels = isObject(metadataOf(object).labels)
      ? (metadataOf(object).labels as JsonObject)
      : {};
    (object.metadata as JsonObject).labels = {
      ...labels,
      'kubernetes.io/metadata.name': str(metadataOf(object).name),
    };
  }
  if (type.group === '' && type.resource === 'pods' && !isObject(object.status)) {
    object.status = { phase: 'Pending' };
  }
  if (type.group === '' && type.resource === 'services' && spec) {
    spec.type ??= 'ClusterIP';
    if (spec.type !== 'ExternalName' && spec.clusterIP === undefined) {
      const n = Math.floor(Math.random() * 65_000) + 2;
      spec.clusterIP = `10.96.${Math.floor(n / 256)}.${n % 256}`;
      spec.clusterIPs = [spec.clusterIP];
    }
  }
  if (type.group === 'apps' && spec) {
    spec.replicas ??= 1;
    if (type.resource === 'deployments') {
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      spec.strategy ??= {
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
      };
    }
  }
}

/** The validation the real server does that clients of Aviary can trip on: a 422 Invalid. */
function validate(type: ResourceType, object: JsonObject): void {
  const name = str(metadataOf(object).name);
  const causes: { field: string; message: string }[] = [];
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    causes.push({
      field: 'metadata.name',
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
    });
  }
  const spec = isObject(object.spec) ? object.spec : undefined;
  if (
    type.group === 'apps' &&
    (type.resource === 'deployments' || type.resource === 'replicasets')
  ) {
    const replicas = spec?.replicas;
    if (typeof replicas === 'number' && (replicas < 0 || !Number.isInteger(replicas))) {
      causes.push({
        field: 'spec.replicas',
        message: `Invalid value: ${replicas}: must be greater than or equal to 0`,
      });
    }
    const selector = spec && isObject(spec.selector) ? spec.selector : undefined;
    const matchLabels = selector && isObject(selector.matchLabels) ? selector.matchLabels : {};
    const template = spec && isObject(spec.template) ? spec.template : {};
    const templateMeta = isObject(template.metadata) ? template.metadata : {};
    const templateLabels = isObject(templateMeta.labels) ? templateMeta.labels : {};
    if (selector === undefined) {
      causes.push({ field: 'spec.selector', message: 'Required value' });
    } else if (
      Object.keys(matchLabels).length === 0 ||
      !Object.entries(matchLabels).every(([k, v]) => templateLabels[k] === v)
    ) {
      causes.push({
        field: 'spec.template.metadata.labels',
        message: 'Invalid value: `selector` does not match template `labels`',
      });
    }
  }
  if (causes.length > 0) throw invalid(type.kind, type.group, name, causes);
}
