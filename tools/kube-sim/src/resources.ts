/**
 * The resources the simulator serves: what discovery advertises and what the store accepts.
 * Built-in types and custom resources share one shape; `custom` marks the ones a real cluster would
 * get from a CustomResourceDefinition (they refuse strategic merge patch, as the real server does).
 */
export interface ResourceType {
  /** API group; `''` is the core group served under `/api`. */
  readonly group: string;
  readonly version: string;
  /** Plural, lower case: the path segment (`deployments`). */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** `/status`: the main endpoint ignores `status`, this one changes only `status`. */
  readonly statusSubresource: boolean;
  /** `/scale`: an `autoscaling/v1` Scale mapped onto `spec.replicas` and `status.replicas`. */
  readonly scaleSubresource: boolean;
  readonly custom: boolean;
  /** What a DELETE answers: the deleted object (pods, namespaces) or a success `Status`. */
  readonly deleteReturnsObject: boolean;
  readonly categories: readonly string[];
}

interface ResourceSpec {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced?: boolean;
  shortNames?: string[];
  status?: boolean;
  scale?: boolean;
  custom?: boolean;
  deleteReturnsObject?: boolean;
  categories?: string[];
}

function define(spec: ResourceSpec): ResourceType {
  return {
    group: spec.group,
    version: spec.version,
    resource: spec.resource,
    singular: spec.kind.toLowerCase(),
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    namespaced: spec.namespaced ?? true,
    shortNames: spec.shortNames ?? [],
    statusSubresource: spec.status ?? false,
    scaleSubresource: spec.scale ?? false,
    custom: spec.custom ?? false,
    deleteReturnsObject: spec.deleteReturnsObject ?? false,
    categories: spec.categories ?? [],
  };
}

export const RESOURCES: readonly ResourceType[] = [
  define({
    group: '',
    version: 'v1',
    resource: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    status: true,
    deleteReturnsObject: true,
  }),
  define({
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    shortNames: ['po'],
    status: true,
    deleteReturnsObject: true,
    categories: ['all'],
  }),
  define({
    group: '',
    version: 'v1',
    resource: 'services',
    kind: 'Service',
    shortNames: ['svc'],
    status: true,
    deleteReturnsObject: true,
    categories: ['all'],
  }),
  define({
    group: '',
    version: 'v1',
    resource: 'configmaps',
    kind: 'ConfigMap',
    shortNames: ['cm'],
  }),
  define({ group: '', version: 'v1', resource: 'secrets', kind: 'Secret' }),
  define({ group: '', version: 'v1', resource: 'events', kind: 'Event', shortNames: ['ev'] }),
  define({
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    kind: 'Deployment',
    shortNames: ['deploy'],
    status: true,
    scale: true,
    categories: ['all'],
  }),
  define({
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    kind: 'ReplicaSet',
    shortNames: ['rs'],
    status: true,
    scale: true,
    categories: ['all'],
  }),
  define({
    group: 'autoscaling',
    version: 'v2',
    resource: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
    shortNames: ['hpa'],
    status: true,
    categories: ['all'],
  }),
  define({
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'ingresses',
    kind: 'Ingress',
    shortNames: ['ing'],
    status: true,
  }),
  define({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    resource: 'httproutes',
    kind: 'HTTPRoute',
    status: true,
    custom: true,
    categories: ['gateway-api'],
  }),
  define({
    group: 'networking.istio.io',
    version: 'v1beta1',
    resource: 'virtualservices',
    kind: 'VirtualService',
    shortNames: ['vs'],
    status: true,
    custom: true,
    categories: ['istio-io', 'networking-istio-io'],
  }),
  define({
    group: 'networking.istio.io',
    version: 'v1beta1',
    resource: 'destinationrules',
    kind: 'DestinationRule',
    shortNames: ['dr'],
    status: true,
    custom: true,
    categories: ['istio-io', 'networking-istio-io'],
  }),
  define({
    group: 'split.smi-spec.io',
    version: 'v1alpha2',
    resource: 'trafficsplits',
    kind: 'TrafficSplit',
    shortNames: ['ts'],
    custom: true,
  }),
];

export function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** `group/version/resource`, the store's key for a resource type. */
export function resourceKey(type: ResourceType): string {
  return `${type.group}/${type.version}/${type.resource}`;
}

export function findResource(
  group: string,
  version: string,
  resource: string,
): ResourceType | undefined {
  return RESOURCES.find(
    (r) => r.group === group && r.version === version && r.resource === resource,
  );
}

export interface GroupVersions {
  readonly group: string;
  readonly versions: readonly string[];
}

/** Non-core groups in registry order, each with its versions (the first is preferred). */
export function apiGroups(): readonly GroupVersions[] {
  const groups = new Map<string, string[]>();
  for (const r of RESOURCES) {
    if (r.group === '') continue;
    const versions = groups.get(r.group) ?? [];
    if (!versions.includes(r.version)) versions.push(r.version);
    groups.set(r.group, versions);
  }
  return [...groups].map(([group, versions]) => ({ group, versions }));
}
