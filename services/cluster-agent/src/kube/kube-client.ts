/**
 * The agent's port to the Kubernetes API: only the object kinds and verbs the agent needs (get,
 * create, replace, merge patch, delete of Deployments, Services, HPAs, ConfigMaps, Secrets,
 * Ingresses, Namespaces and the routing custom resources). Which verbs the agent may use on which
 * kind is `permissions.ts`, the table its RBAC manifest is checked against. Expected outcomes are values, not exceptions:
 * `get` answers `undefined` for 404, `create` says `exists` for 409 AlreadyExists, `replace` says
 * `conflict` for a stale `resourceVersion` and `not-found` for 404. Anything else (5xx, 422,
 * unreachable API) throws `KubeApiError`; a cancelled call throws an `ABORTED` AviaryError.
 *
 * The client-node implementation is `client-node-kube-client.ts`; `update.ts` adds optimistic
 * read-modify-replace with retry on conflict.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type {
  V1ConfigMap,
  V1Deployment,
  V1Ingress,
  V1Namespace,
  V1ObjectMeta,
  V1Secret,
  V1Service,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';

/** A custom resource as the agent handles it: metadata plus an untyped `spec`. */
export interface CustomObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** Every kind the agent reads or writes, with its object type. */
export interface KubeObjects {
  Deployment: V1Deployment;
  Service: V1Service;
  ConfigMap: V1ConfigMap;
  Secret: V1Secret;
  HorizontalPodAutoscaler: V2HorizontalPodAutoscaler;
  Ingress: V1Ingress;
  VirtualService: CustomObject;
  DestinationRule: CustomObject;
  HTTPRoute: CustomObject;
  TrafficSplit: CustomObject;
  /** Cluster-scoped: the port's `namespace` argument is ignored (pass `''`). */
  Namespace: V1Namespace;
}
export type KubeKind = keyof KubeObjects;

/** Where each custom resource lives (group, version, plural). */
export const CUSTOM_RESOURCES = {
  VirtualService: { group: 'networking.istio.io', version: 'v1beta1', plural: 'virtualservices' },
  DestinationRule: { group: 'networking.istio.io', version: 'v1beta1', plural: 'destinationrules' },
  HTTPRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' },
  TrafficSplit: { group: 'split.smi-spec.io', version: 'v1alpha2', plural: 'trafficsplits' },
} as const;
export type CustomKind = keyof typeof CUSTOM_RESOURCES;

export function apiVersionOf(kind: CustomKind): string {
  const r = CUSTOM_RESOURCES[kind];
  return `${r.group}/${r.version}`;
}

export type CreateOutcome<T> =
  | { readonly outcome: 'created'; readonly object: T }
  | { readonly outcome: 'exists' };

export type ReplaceOutcome<T> =
  | { readonly outcome: 'replaced'; readonly object: T }
  | { readonly outcome: 'conflict' }
  | { readonly outcome: 'not-found' };

export interface KubeClient {
  /** The object, or `undefined` when it does not exist. */
  get<K extends KubeKind>(
    kind: K,
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<KubeObjects[K] | undefined>;
  create<K extends KubeKind>(
    kind: K,
    namespace: string,
    object: KubeObjects[K],
    signal: AbortSignal,
  ): Promise<CreateOutcome<KubeObjects[K]>>;
  /**
   * Replaces the whole object. With `metadata.resourceVersion` set the write is conditional and a
   * stale version is a `conflict`.
   */
  replace<K extends KubeKind>(
    kind: K,
    namespace: string,
    object: KubeObjects[K],
    signal: AbortSignal,
  ): Promise<ReplaceOutcome<KubeObjects[K]>>;
  /** JSON merge patch (RFC 7386); `undefined` when the object does not exist. */
  mergePatch<K extends KubeKind>(
    kind: K,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<KubeObjects[K] | undefined>;
  delete(
    kind: KubeKind,
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<'deleted' | 'not-found'>;
}

/** A call the API server refused or could not answer (not 404/409, which are outcomes). */
export class KubeApiError extends AviaryError {
  override name = 'KubeApiError';
  /** HTTP status, 0 when no response arrived. */
  readonly status: number;
  /** The `Status.reason` (`Invalid`, `InternalError`, …), or `Unreachable`. */
  readonly reason: string;
  readonly kind: KubeKind;
  readonly objectName: string;

  constructor(
    kind: KubeKind,
    objectName: string,
    status: number,
    reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.Unavailable, `${kind} ${objectName}: ${message}`, options);
    this.status = status;
    this.reason = reason;
    this.kind = kind;
    this.objectName = objectName;
  }
}
