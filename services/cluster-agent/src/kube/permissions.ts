/**
 * What the agent may do in its cluster: every (API group, resource, verb) it uses, in one table.
 * The table is the single source of the agent's RBAC:
 *
 * - `guardKubeClient` wraps the `KubeClient` port and refuses (with `NotGrantedError`) any call
 *   whose verb the table does not list for that kind. The command handler and `main.ts` wrap their
 *   port with it, so code that starts using a new verb fails in the tests until the table (and
 *   the manifest) say so.
 * - The informers (`observer.ts`) are not calls through the port: they declare their `list` and
 *   `watch` with `requireGranted` when they are created.
 * - `infra/kubernetes/cluster-agent-rbac.yaml` grants exactly the table's required verbs;
 *   `permissions.test.ts` parses it and compares both ways (everything used is granted, nothing
 *   else is), and drives every command over every router through a recording port to show that
 *   every verb in the table is used.
 *
 * Port methods map to RBAC verbs as the API server does: `get` → get, `create` → create,
 * `replace` → update, `mergePatch` → patch, `delete` → delete.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  CUSTOM_RESOURCES,
  type KubeClient,
  type KubeKind,
  type KubeObjects,
} from './kube-client.ts';
import { tracedKubeCall } from './kube-telemetry.ts';

export type KubeVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface KubeResource {
  /** API group; `''` is the core group. */
  readonly group: string;
  /** The resource (plural) as RBAC names it. */
  readonly resource: string;
  readonly namespaced: boolean;
}

/** The API group and resource of every kind the port knows. */
export const KUBE_RESOURCES: { readonly [K in KubeKind]: KubeResource } = {
  Deployment: { group: 'apps', resource: 'deployments', namespaced: true },
  Service: { group: '', resource: 'services', namespaced: true },
  ConfigMap: { group: '', resource: 'configmaps', namespaced: true },
  Secret: { group: '', resource: 'secrets', namespaced: true },
  HorizontalPodAutoscaler: {
    group: 'autoscaling',
    resource: 'horizontalpodautoscalers',
    namespaced: true,
  },
  Ingress: { group: 'networking.k8s.io', resource: 'ingresses', namespaced: true },
  VirtualService: custom('VirtualService'),
  DestinationRule: custom('DestinationRule'),
  HTTPRoute: custom('HTTPRoute'),
  TrafficSplit: custom('TrafficSplit'),
  Namespace: { group: '', resource: 'namespaces', namespaced: false },
};

function custom(kind: keyof typeof CUSTOM_RESOURCES): KubeResource {
  return {
    group: CUSTOM_RESOURCES[kind].group,
    resource: CUSTOM_RESOURCES[kind].plural,
    namespaced: true,
  };
}

export interface KindPermissions {
  /** Verbs the agent needs; the RBAC manifest must grant exactly these. */
  readonly verbs: readonly KubeVerb[];
  /**
   * Verbs the agent uses only when allowed, and copes without: the manifest does not grant them
   * (they may be granted by an operator who wants the behaviour).
   */
  readonly optional?: readonly KubeVerb[];
}

/** Every kind's verbs, with the code that uses them. */
export const AGENT_PERMISSIONS: { readonly [K in KubeKind]: KindPermissions } = {
  // get/create: bootstrap (target, `<name>-primary`); update: promotion (template copied to the
  // primary); patch: replicas of the target (scale commands, bootstrap's scale to zero,
  // finalize); delete: finalize (the primary); list/watch: the observer's informers.
  Deployment: { verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  // `<svc>`, `<svc>-primary`, `<svc>-canary`: created by the bootstrap, put back when they drift
  // (update), the apex pointed at the target and the others deleted by finalize.
  Service: { verbs: ['get', 'create', 'update', 'delete'] },
  // Tracked ConfigMaps read for revisions and watched by the observer's informers (list,
  // watch: a changed config is a new revision); `-primary` copies created, synced at promotion
  // (update) and deleted by finalize; the command results (`command-results.ts`), one ConfigMap
  // updated with its resourceVersion.
  ConfigMap: { verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
  // Tracked Secrets, the same way as ConfigMaps (Flagger copies them too).
  Secret: { verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
  // The target's HPA read, its `-primary` copy created, put back when it differs from the
  // desired copy (update: bounds, `primaryScalerReplicas`, metrics), and deleted by finalize.
  HorizontalPodAutoscaler: { verbs: ['get', 'create', 'update', 'delete'] },
  // nginx router: the apex Ingress read, `<svc>-canary` created, its annotations set, deleted.
  Ingress: { verbs: ['get', 'create', 'update', 'delete'] },
  // istio router: VirtualService `<svc>`, DestinationRules `<svc>-primary`/`<svc>-canary`.
  VirtualService: { verbs: ['get', 'create', 'update', 'delete'] },
  DestinationRule: { verbs: ['get', 'create', 'update', 'delete'] },
  // gateway-api router: HTTPRoute `<svc>`.
  HTTPRoute: { verbs: ['get', 'create', 'update', 'delete'] },
  // smi router: TrafficSplit `<svc>`.
  TrafficSplit: { verbs: ['get', 'create', 'update', 'delete'] },
  // The results namespace (`AVIARY_AGENT_NAMESPACE`) is created only when it is missing; the
  // manifest creates it, so the agent is not given the right to create namespaces.
  Namespace: { verbs: [], optional: ['create'] },
};

/** One (API group, resource, verb) triple as RBAC grants it. */
export interface Grant {
  readonly group: string;
  readonly resource: string;
  readonly verb: KubeVerb;
  /** True when the agent copes without it (see `KindPermissions.optional`). */
  readonly optional: boolean;
}

/** The table as RBAC triples, required and optional. */
export function agentGrants(
  permissions: { readonly [K in KubeKind]: KindPermissions } = AGENT_PERMISSIONS,
): Grant[] {
  const grants: Grant[] = [];
  for (const kind of Object.keys(permissions) as KubeKind[]) {
    const { group, resource } = KUBE_RESOURCES[kind];
    const entry = permissions[kind];
    for (const verb of entry.verbs) grants.push({ group, resource, verb, optional: false });
    for (const verb of entry.optional ?? []) grants.push({ group, resource, verb, optional: true });
  }
  return grants;
}

export function isGranted(kind: KubeKind, verb: KubeVerb): boolean {
  const entry = AGENT_PERMISSIONS[kind];
  return entry.verbs.includes(verb) || (entry.optional ?? []).includes(verb);
}

/** A call the permission table does not allow: the table (and the manifest) must list it first. */
export class NotGrantedError extends AviaryError {
  override name = 'NotGrantedError';
  readonly kind: KubeKind;
  readonly verb: KubeVerb;

  constructor(kind: KubeKind, verb: KubeVerb) {
    const { group, resource } = KUBE_RESOURCES[kind];
    super(
      ErrorCode.Refused,
      `the agent's permission table (kube/permissions.ts) does not grant ${verb} on ${resource}${group === '' ? '' : `.${group}`}: add it there and to infra/kubernetes/cluster-agent-rbac.yaml`,
    );
    this.kind = kind;
    this.verb = verb;
  }
}

/** Throws `NotGrantedError` unless every verb is in the table for `kind`. */
export function requireGranted(kind: KubeKind, verbs: readonly KubeVerb[]): void {
  for (const verb of verbs) if (!isGranted(kind, verb)) throw new NotGrantedError(kind, verb);
}

/** The port's verbs. */
export const PORT_VERBS = {
  get: 'get',
  create: 'create',
  replace: 'update',
  mergePatch: 'patch',
  delete: 'delete',
} as const satisfies Record<keyof KubeClient, KubeVerb>;

const GUARDED = Symbol('aviary.guardedKubeClient');

/**
 * The port, refusing every call the permission table does not allow. `onCall` (tests) sees each
 * allowed call's kind and verb.
 */
export function guardKubeClient(
  kube: KubeClient,
  onCall?: (kind: KubeKind, verb: KubeVerb) => void,
): KubeClient {
  if (onCall === undefined && (kube as { [GUARDED]?: true })[GUARDED] === true) return kube;
  // Every call, refused ones included, is a span and a count (kube-telemetry.ts).
  const traced = <T>(kind: KubeKind, verb: KubeVerb, namespace: string, call: () => Promise<T>) =>
    tracedKubeCall(KUBE_RESOURCES[kind].resource, verb, namespace, call);
  const check = (kind: KubeKind, verb: KubeVerb) => {
    requireGranted(kind, [verb]);
    onCall?.(kind, verb);
  };
  const guarded: KubeClient & { [GUARDED]: true } = {
    [GUARDED]: true,
    async get<K extends KubeKind>(kind: K, namespace: string, name: string, signal: AbortSignal) {
      return traced(kind, PORT_VERBS.get, namespace, () => {
        check(kind, PORT_VERBS.get);
        return kube.get(kind, namespace, name, signal);
      });
    },
    async create<K extends KubeKind>(
      kind: K,
      namespace: string,
      object: KubeObjects[K],
      signal: AbortSignal,
    ) {
      return traced(kind, PORT_VERBS.create, namespace, () => {
        check(kind, PORT_VERBS.create);
        return kube.create(kind, namespace, object, signal);
      });
    },
    async replace<K extends KubeKind>(
      kind: K,
      namespace: string,
      object: KubeObjects[K],
      signal: AbortSignal,
    ) {
      return traced(kind, PORT_VERBS.replace, namespace, () => {
        check(kind, PORT_VERBS.replace);
        return kube.replace(kind, namespace, object, signal);
      });
    },
    async mergePatch<K extends KubeKind>(
      kind: K,
      namespace: string,
      name: string,
      patch: Record<string, unknown>,
      signal: AbortSignal,
    ) {
      return traced(kind, PORT_VERBS.mergePatch, namespace, () => {
        check(kind, PORT_VERBS.mergePatch);
        return kube.mergePatch(kind, namespace, name, patch, signal);
      });
    },
    async delete(kind: KubeKind, namespace: string, name: string, signal: AbortSignal) {
      return traced(kind, PORT_VERBS.delete, namespace, () => {
        check(kind, PORT_VERBS.delete);
        return kube.delete(kind, namespace, name, signal);
      });
    },
  };
  return guarded;
}
