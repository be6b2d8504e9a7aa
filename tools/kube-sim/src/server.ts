import type { IncomingMessage, ServerResponse } from 'node:http';
import { coreVersions, group, groupList, resourceList, SERVER_VERSION } from './discovery.ts';
import {
  badRequest,
  conflict,
  expired,
  invalid,
  KubeApiError,
  methodNotAllowed,
  notFound,
  StatusReason,
  successStatus,
  unsupportedMediaType,
} from './errors.ts';
import { openApiGroupVersion, openApiRoot } from './openapi.ts';
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  isObject,
  type Json,
  type JsonObject,
  PatchError,
} from './patch.ts';
import { apiVersionOf, findResource, type ResourceType } from './resources.ts';
import {
  COMMON_SELECTABLE_FIELDS,
  type FieldRequirement,
  type LabelRequirement,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';
import { type ClusterStore, metadataOf, type StoredEvent } from './store.ts';

/**
 * The HTTP side of one simulated cluster: routes Kubernetes API paths to the store, encodes
 * answers and errors as the real server does (`Status` objects), and streams watches.
 */
export interface ApiHandlerOptions {
  /** `host:port` reported by `/api`. */
  readonly serverAddress: string;
  /** How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK. */
  readonly bookmarkIntervalMs: number;
}

export interface ApiHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every open watch stream (as an API server restart would). */
  closeWatches(): void;
  /**
   * Holds back every change from the open watch streams (no events, no bookmarks) until
   * `expireWatches`: the watches fall behind, as behind an API server whose watch cache lags.
   */
  holdWatches(): void;
  /**
   * Ends every open watch stream with a `410 Expired` ERROR event, as an API server does when the
   * version a watch stands at has been compacted away; releases `holdWatches`. With the store's
   * history compacted first, clients that re-watch from their last version get 410 too and must
   * relist.
   */
  expireWatches(): void;
}

interface ResourceRoute {
  readonly type: ResourceType;
  /** `undefined`: across all namespaces (or a cluster-scoped type). */
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
  readonly watch: boolean;
}

const EXTRA_SELECTABLE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  pods: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'status.phase',
    'status.podIP',
  ],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  secrets: ['type'],
  namespaces: ['status.phase'],
};

export const PatchType = {
  Json: 'application/json-patch+json',
  Merge: 'application/merge-patch+json',
  StrategicMerge: 'application/strategic-merge-patch+json',
  Apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = (typeof PatchType)[keyof typeof PatchType];

function notFoundPath(): KubeApiError {
  return new KubeApiError(
    StatusReason.NotFound,
    404,
    'the server could not find the requested resource',
    {},
  );
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-cache, private',
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown): void {
  const apiError =
    error instanceof KubeApiError
      ? error
      : new KubeApiError(StatusReason.InternalError, 500, `internal error: ${String(error)}`);
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, apiError.code, apiError.toStatus());
}

/** True when the client accepts plain JSON (not only aggregated discovery or a Table). */
function acceptsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((entry) => {
    const [mediaType = '', ...params] = entry.split(';').map((p) => p.trim());
    if (!['application/json', 'application/*', '*/*'].includes(mediaType)) return false;
    return !params.some((p) => p.startsWith('g=') || p.startsWith('as='));
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string, what: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw badRequest(`error decoding ${what}: ${(error as Error).message}`);
  }
}

/** Bodies of create and update must be JSON; protobuf (which kubectl tries first) is a 415. */
function requireJsonBody(req: IncomingMessage): void {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (contentType !== '' && contentType !== 'application/json' && contentType !== '*/*') {
    throw new KubeApiError(
      StatusReason.UnsupportedMediaType,
      415,
      `the body of the request was in an unknown format - accepted media types include: application/json (got ${JSON.stringify(contentType)})`,
    );
  }
}

function parseObject(text: string, what: string): JsonObject {
  const value = parseJson(text, what);
  if (!isObject(value)) throw badRequest(`error decoding ${what}: expected a JSON object`);
  return value;
}

function str(value: Json | undefined): string {
  return typeof value === 'string' ? value : '';
}

function parseRoute(
  groupName: string,
  version: string,
  rest: readonly string[],
): ResourceRoute | undefined {
  let segments = [...rest];
  let watch = false;
  if (segments[0] === 'watch') {
    watch = true;
    segments = segments.slice(1);
  }
  let namespace: string | undefined;
  if (
    segments[0] === 'namespaces' &&
    segments.length >= 3 &&
    segments[2] !== 'status' &&
    segments[2] !== 'finalize'
  ) {
    namespace = segments[1];
    segments = segments.slice(2);
  }
  const [resource, name, subresource, ...extra] = segments;
  if (resource === undefined || extra.length > 0) return undefined;
  const type = findResource(groupName, version, resource);
  if (type === undefined) return undefined;
  if (namespace !== undefined && !type.namespaced) return undefined;
  if (namespace === undefined && type.namespaced && name !== undefined) return undefined;
  return { type, namespace, name, subresource, watch };
}

interface Selectors {
  readonly labels: readonly LabelRequirement[];
  readonly fields: readonly FieldRequirement[];
}

function selectorsOf(type: ResourceType, query: URLSearchParams, name?: string): Selectors {
  const allowed = [...COMMON_SELECTABLE_FIELDS, ...(EXTRA_SELECTABLE_FIELDS[type.resource] ?? [])];
  const fields = parseFieldSelector(query.get('fieldSelector') ?? '', allowed);
  return {
    labels: parseLabelSelector(query.get('labelSelector') ?? ''),
    fields:
      name === undefined ? fields : [...fields, { field: 'metadata.name', op: 'eq', value: name }],
  };
}

function matches(selectors: Selectors, object: JsonObject): boolean {
  const labels = metadataOf(object).labels;
  return (
    matchesLabels(selectors.labels, isObject(labels) ? (labels as Record<string, string>) : {}) &&
    matchesFields(selectors.fields, object)
  );
}

/** The `autoscaling/v1` Scale of an object with `spec.replicas`. */
function toScale(object: JsonObject): JsonObject {
  const meta = metadataOf(object);
  const spec = isObject(object.spec) ? object.spec : {};
  const status = isObject(object.status) ? object.status : {};
  const selector = isObject(spec.selector) ? spec.selector : {};
  const matchLabels = isObject(selector.matchLabels) ? selector.matchLabels : {};
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: meta.name ?? null,
      namespace: meta.namespace ?? null,
      uid: meta.uid ?? null,
      resourceVersion: meta.resourceVersion ?? null,
      creationTimestamp: meta.creationTimestamp ?? null,
    },
    spec: { replicas: typeof spec.replicas === 'number' ? spec.replicas : 0 },
    status: {
      replicas: typeof status.replicas === 'number' ? status.replicas : 0,
      selector: Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
    },
  };
}

function applyPatch(
  type: ResourceType,
  contentType: string,
  current: JsonObject,
  text: string,
): JsonObject {
  try {
    let result: Json;
    switch (contentType) {
      case PatchType.Json:
        result = applyJsonPatch(current, parseJson(text, 'JSON patch'));
        break;
      case PatchType.Merge:
        result = applyMergePatch(current, parseObject(text, 'merge patch'));
        break;
      case PatchType.StrategicMerge:
        if (type.custom) {
          throw new KubeApiError(
            StatusReason.UnsupportedMediaType,
            415,
            'strategic merge patch is not supported for custom resources; use application/merge-patch+json or application/json-patch+json',
          );
        }
        result = applyStrategicMergePatch(current, parseObject(text, 'strategic merge patch'));
        break;
      default:
        throw unsupportedMediaType(contentType);
    }
    if (!isObject(result)) throw badRequest('the patch did not produce an object');
    return result;
  } catch (error) {
    if (error instanceof PatchError) {
      if (error.kind === 'malformed') throw badRequest(error.message);
      throw new KubeApiError(StatusReason.Invalid, 422, error.message);
    }
    throw error;
  }
}

export function createApiHandler(store: ClusterStore, options: ApiHandlerOptions): ApiHandler {
  /** Each open watch: how to end it, and how to end it with a 410 Expired ERROR event. */
  const openWatches = new Map<() => void, () => void>();
  let held = false;

  function checkBody(route: ResourceRoute, body: JsonObject, name: string | undefined): void {
    if (body.kind !== undefined && body.kind !== route.type.kind) {
      throw badRequest(
        `the kind of the object (${String(body.kind)}) does not match ${route.type.kind}`,
      );
    }
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(route.type)) {
      throw badRequest(
        `the API version of the object (${String(body.apiVersion)}) does not match ${apiVersionOf(route.type)}`,
      );
    }
    const meta = metadataOf(body);
    const bodyNamespace = str(meta.namespace);
    if (route.type.namespaced && bodyNamespace !== '' && bodyNamespace !== route.namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    if (name !== undefined && str(meta.name) !== '' && str(meta.name) !== name) {
      throw badRequest(
        `the name of the object (${str(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
  }

  function list(route: ResourceRoute, query: URLSearchParams, res: ServerResponse): void {
    const selectors = selectorsOf(route.type, query);
    let items = store.list(route.type, route.namespace).filter((o) => matches(selectors, o));
    const metadata: JsonObject = { resourceVersion: store.resourceVersion };
    const token = query.get('continue');
    if (token) {
      let start: string;
      try {
        start = str(
          (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as JsonObject).start,
        );
      } catch {
        throw badRequest('continue key is not valid');
      }
      items = items.filter((o) => keyOf(o) > start);
    }
    const limit = Number(query.get('limit') ?? '0');
    if (limit > 0 && items.length > limit) {
      const page = items.slice(0, limit);
      const last = page.at(-1);
      metadata.continue = Buffer.from(
        JSON.stringify({ start: last ? keyOf(last) : '' }),
        'utf8',
      ).toString('base64url');
      metadata.remainingItemCount = items.length - limit;
      items = page;
    }
    send(res, 200, {
      kind: route.type.listKind,
      apiVersion: apiVersionOf(route.type),
      metadata,
      items,
    });
  }

  function keyOf(object: JsonObject): string {
    const meta = metadataOf(object);
    return `${str(meta.namespace)}/${str(meta.name)}`;
  }

  function watch(
    route: ResourceRoute,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const selectors = selectorsOf(route.type, query, route.name);
    const fromParam = query.get('resourceVersion') ?? '';
    if (fromParam !== '' && !/^[0-9]+$/.test(fromParam)) {
      throw badRequest(`invalid resource version: ${fromParam}`);
    }
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    const bookmarks =
      query.get('allowWatchBookmarks') === 'true' || query.get('allowWatchBookmarks') === '1';
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-cache, private',
      'transfer-encoding': 'chunked',
    });
    res.flushHeaders();
    const write = (type: string, object: Json): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const deliver = (event: StoredEvent): void => {
      if (held) return;
      if (event.resource !== route.type) return;
      if (route.namespace !== undefined && event.namespace !== route.namespace) return;
      const now = matches(selectors, event.object);
      const before = event.previous !== undefined && matches(selectors, event.previous);
      if (event.type === 'ADDED' && now) write('ADDED', event.object);
      if (event.type === 'DELETED' && before) write('DELETED', event.object);
      if (event.type === 'MODIFIED') {
        if (before && now) write('MODIFIED', event.object);
        else if (now) write('ADDED', event.object);
        else if (before) write('DELETED', event.object);
      }
    };

    if (fromParam === '' || fromParam === '0') {
      for (const object of store.list(route.type, route.namespace)) {
        if (matches(selectors, object)) write('ADDED', object);
      }
    } else {
      let changes: StoredEvent[];
      try {
        changes = store.changesSince(Number(fromParam));
      } catch (error) {
        if (error instanceof KubeApiError) {
          write('ERROR', error.toStatus() as unknown as JsonObject);
          res.end();
          return;
        }
        throw error;
      }
      for (const change of changes) deliver(change);
    }

    const unsubscribe = store.subscribe(deliver);
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks) {
      timers.push(
        setInterval(() => {
          // A bookmark would move the client past the changes held back from it.
          if (held) return;
          write('BOOKMARK', {
            kind: route.type.kind,
            apiVersion: apiVersionOf(route.type),
            metadata: { resourceVersion: store.resourceVersion },
          });
        }, options.bookmarkIntervalMs),
      );
    }
    const stop = (): void => {
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      openWatches.delete(stop);
      if (!res.writableEnded) res.end();
    };
    if (timeoutSeconds > 0) timers.push(setTimeout(stop, timeoutSeconds * 1000));
    openWatches.set(stop, () => {
      write(
        'ERROR',
        expired(
          `too old resource version: ${fromParam || '0'} (${store.compactedVersion})`,
        ).toStatus() as unknown as JsonObject,
      );
      stop();
    });
    req.on('close', stop);
    res.on('close', stop);
  }

  function dryRunOf(query: URLSearchParams): boolean {
    return query.getAll('dryRun').includes('All');
  }

  async function serveResource(
    route: ResourceRoute,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const { type, name, subresource } = route;
    const namespace = route.namespace ?? '';
    const dryRun = dryRunOf(query);
    if (
      subresource !== undefined &&
      !(
        (subresource === 'status' && type.statusSubresource) ||
        (subresource === 'scale' && type.scaleSubresource)
      )
    ) {
      throw notFoundPath();
    }
    const method = req.method ?? 'GET';
    if (name === undefined) {
      switch (method) {
        case 'GET':
          if (route.watch || query.get('watch') === 'true' || query.get('watch') === '1') {
            watch(route, query, req, res);
          } else {
            list(route, query, res);
          }
          return;
        case 'POST': {
          if (type.namespaced && route.namespace === undefined)
            throw methodNotAllowed('create needs a namespace');
          requireJsonBody(req);
          const body = parseObject(await readBody(req), 'object');
          checkBody(route, body, undefined);
          send(res, 201, store.create(type, namespace, body, { dryRun }));
          return;
        }
        case 'DELETE': {
          const selectors = selectorsOf(type, query);
          const deleted = store
            .list(type, route.namespace)
            .filter((o) => matches(selectors, o))
            .map((o) =>
              store.delete(
                type,
                str(metadataOf(o).namespace),
                str(metadataOf(o).name),
                {},
                { dryRun },
              ),
            );
          send(res, 200, {
            kind: type.listKind,
            apiVersion: apiVersionOf(type),
            metadata: { resourceVersion: store.resourceVersion },
            items: deleted,
          });
          return;
        }
        default:
          throw methodNotAllowed(`the server does not allow this method on the requested resource`);
      }
    }
    if (
      route.watch ||
      ((query.get('watch') === 'true' || query.get('watch') === '1') && method === 'GET')
    ) {
      watch(route, query, req, res);
      return;
    }
    switch (method) {
      case 'GET': {
        const object = store.get(type, namespace, name);
        send(res, 200, subresource === 'scale' ? toScale(object) : object);
        return;
      }
      case 'PUT': {
        requireJsonBody(req);
        const body = parseObject(await readBody(req), 'object');
        if (subresource === 'scale') {
          send(res, 200, scaleTo(route, namespace, name, body, dryRun));
          return;
        }
        checkBody(route, body, name);
        const updated = store.update(type, namespace, name, body, {
          dryRun,
          ...(subresource === 'status' ? { subresource: 'status' as const } : {}),
        });
        send(res, 200, updated);
        return;
      }
      case 'PATCH': {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
        const text = await readBody(req);
        if (contentType === PatchType.Apply) {
          const [code, object] = serverSideApply(route, namespace, name, text, query);
          send(res, code, object);
          return;
        }
        const current = store.get(type, namespace, name);
        if (subresource === 'scale') {
          const patched = applyPatch(type, contentType, toScale(current), text);
          send(res, 200, scaleTo(route, namespace, name, patched, dryRun));
          return;
        }
        const patched = applyPatch(type, contentType, current, text);
        checkBody(route, patched, name);
        const updated = store.update(type, namespace, name, patched, {
          dryRun,
          ...(subresource === 'status' ? { subresource: 'status' as const } : {}),
        });
        send(res, 200, updated);
        return;
      }
      case 'DELETE': {
        const text = await readBody(req);
        const options = text.trim() === '' ? {} : parseObject(text, 'DeleteOptions');
        const pre = isObject(options.preconditions) ? options.preconditions : {};
        const deleteDryRun =
          dryRun || (Array.isArray(options.dryRun) && options.dryRun.includes('All'));
        const deleted = store.delete(
          type,
          namespace,
          name,
          {
            ...(typeof pre.uid === 'string' ? { uid: pre.uid } : {}),
            ...(typeof pre.resourceVersion === 'string'
              ? { resourceVersion: pre.resourceVersion }
              : {}),
          },
          { dryRun: deleteDryRun },
        );
        const meta = metadataOf(deleted);
        send(
          res,
          200,
          type.deleteReturnsObject
            ? deleted
            : successStatus({ name, group: type.group, kind: type.resource, uid: str(meta.uid) }),
        );
        return;
      }
      default:
        throw methodNotAllowed('the server does not allow this method on the requested resource');
    }
  }

  /** Writes a Scale's `spec.replicas` into the object; its resourceVersion is a precondition. */
  function scaleTo(
    route: ResourceRoute,
    namespace: string,
    name: string,
    scale: JsonObject,
    dryRun: boolean,
  ): JsonObject {
    const current = store.get(route.type, namespace, name);
    const scaleMeta = metadataOf(scale);
    const expected = str(scaleMeta.resourceVersion);
    if (expected !== '' && expected !== metadataOf(current).resourceVersion)
      throw conflict(route.type, name);
    const spec = isObject(scale.spec) ? scale.spec : {};
    const replicas = spec.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid('Scale', 'autoscaling', name, [
        {
          field: 'spec.replicas',
          message: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`,
        },
      ]);
    }
    const next: JsonObject = {
      ...current,
      spec: { ...(isObject(current.spec) ? current.spec : {}), replicas },
    };
    return toScale(store.update(route.type, namespace, name, next, { dryRun }));
  }

  /**
   * Server-side apply, simplified: creates the object if missing, otherwise merges the applied
   * configuration into it with strategic-merge rules. Field ownership is not tracked, so there
   * are no conflicts and fields dropped from a later apply are not removed.
   */
  function serverSideApply(
    route: ResourceRoute,
    namespace: string,
    name: string,
    text: string,
    query: URLSearchParams,
  ): [number, JsonObject] {
    if ((query.get('fieldManager') ?? '') === '') {
      throw invalid('PatchOptions', 'meta.k8s.io', '', [
        { field: 'fieldManager', message: 'Required value: is required for apply patch' },
      ]);
    }
    if (route.subresource === 'scale') {
      throw unsupportedMediaType(PatchType.Apply);
    }
    const applied = parseObject(
      text,
      'apply configuration (kube-sim accepts JSON, the YAML flow form)',
    );
    checkBody(route, applied, name);
    if (applied.apiVersion === undefined || applied.kind === undefined) {
      throw badRequest('apiVersion and kind are required in an apply configuration');
    }
    const dryRun = dryRunOf(query);
    const current = store.find(route.type, namespace, name);
    if (current === undefined) {
      if (route.subresource !== undefined) throw notFound(route.type, name);
      const meta = metadataOf(applied);
      return [
        201,
        store.create(
          route.type,
          namespace,
          { ...applied, metadata: { ...meta, name } },
          { dryRun },
        ),
      ];
    }
    const merged = applyStrategicMergePatch(current, applied) as JsonObject;
    const updated = store.update(route.type, namespace, name, merged, {
      dryRun,
      ...(route.subresource === 'status' ? { subresource: 'status' as const } : {}),
    });
    return [200, updated];
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kube-sim');
    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    const isGet = (req.method ?? 'GET') === 'GET';
    const [root, second, third, ...rest] = segments;
    if (isGet && (root === 'healthz' || root === 'livez' || root === 'readyz')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (isGet && root === 'version' && second === undefined) {
      send(res, 200, SERVER_VERSION);
      return;
    }
    if (root === 'api') {
      if (second === undefined) {
        if (!acceptsJson(req))
          throw new KubeApiError(
            StatusReason.NotAcceptable,
            406,
            'only application/json is served',
          );
        send(res, 200, coreVersions(options.serverAddress));
        return;
      }
      if (third === undefined) {
        const document = resourceList('', second);
        if (!document) throw notFoundPath();
        send(res, 200, document);
        return;
      }
      const resourceRoute = parseRoute('', second, [third, ...rest]);
      if (!resourceRoute) throw notFoundPath();
      await serveResource(resourceRoute, url.searchParams, req, res);
      return;
    }
    if (root === 'apis') {
      if (second === undefined) {
        if (!acceptsJson(req))
          throw new KubeApiError(
            StatusReason.NotAcceptable,
            406,
            'only application/json is served',
          );
        send(res, 200, groupList());
        return;
      }
      if (third === undefined) {
        const document = group(second);
        if (!document) throw notFoundPath();
        send(res, 200, document);
        return;
      }
      if (rest.length === 0) {
        const document = resourceList(second, third);
        if (!document) throw notFoundPath();
        send(res, 200, document);
        return;
      }
      const resourceRoute = parseRoute(second, third, rest);
      if (!resourceRoute) throw notFoundPath();
      await serveResource(resourceRoute, url.searchParams, req, res);
      return;
    }
    if (isGet && root === 'openapi' && second === 'v3') {
      const document =
        third === undefined
          ? openApiRoot()
          : third === 'api' && rest.length === 1
            ? openApiGroupVersion('', rest[0] ?? '')
            : third === 'apis' && rest.length === 2
              ? openApiGroupVersion(rest[0] ?? '', rest[1] ?? '')
              : undefined;
      if (!document) throw notFoundPath();
      send(res, 200, document);
      return;
    }
    throw notFoundPath();
  }

  return {
    handle(req, res) {
      route(req, res).catch((error: unknown) => sendError(res, error));
    },
    closeWatches() {
      for (const stop of [...openWatches.keys()]) stop();
    },
    holdWatches() {
      held = true;
    },
    expireWatches() {
      held = false;
      for (const expire of [...openWatches.values()]) expire();
    },
  };
}
