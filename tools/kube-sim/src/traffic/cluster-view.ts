import {
  annotationsOf,
  arrayAt,
  at,
  conditionOf,
  labelsOf,
  nameOf,
  stringAt,
  stringMap,
} from '../controllers/object.ts';
import { POD_TEMPLATE_HASH_LABEL } from '../controllers/pod-template-hash.ts';
import type { JsonObject } from '../patch.ts';
import { RESOURCES, type ResourceType } from '../resources.ts';
import type { ClusterStore } from '../store.ts';
import { type VersionBehaviour, versionBehaviourOf } from './behaviour.ts';
import type { Destination } from './mesh-metrics.ts';

/**
 * What the traffic simulator reads of one cluster: Services, Pods, Deployments and the routing
 * objects, listed once per change of the store (the simulator rebuilds its view when the store
 * reports a change to any of these types).
 */
function resource(group: string, plural: string): ResourceType {
  const type = RESOURCES.find((r) => r.group === group && r.resource === plural);
  if (type === undefined) throw new Error(`${plural} missing from the resource registry`);
  return type;
}

export const TrafficResources = {
  services: resource('', 'services'),
  pods: resource('', 'pods'),
  deployments: resource('apps', 'deployments'),
  ingresses: resource('networking.k8s.io', 'ingresses'),
  httpRoutes: resource('gateway.networking.k8s.io', 'httproutes'),
  virtualServices: resource('networking.istio.io', 'virtualservices'),
  trafficSplits: resource('split.smi-spec.io', 'trafficsplits'),
} as const;

const WATCHED = new Set<ResourceType>(Object.values(TrafficResources));

export function isTrafficResource(type: ResourceType): boolean {
  return WATCHED.has(type);
}

export interface ClusterView {
  readonly services: ReadonlyMap<string, JsonObject>;
  readonly podsByNamespace: ReadonlyMap<string, readonly JsonObject[]>;
  readonly deploymentsByNamespace: ReadonlyMap<string, readonly JsonObject[]>;
  readonly ingresses: readonly JsonObject[];
  readonly httpRoutes: readonly JsonObject[];
  readonly virtualServices: readonly JsonObject[];
  readonly trafficSplits: readonly JsonObject[];
}

function byNamespace(objects: readonly JsonObject[]): Map<string, JsonObject[]> {
  const map = new Map<string, JsonObject[]>();
  for (const o of objects) {
    const ns = stringAt(o, 'metadata', 'namespace');
    const list = map.get(ns) ?? [];
    list.push(o);
    map.set(ns, list);
  }
  return map;
}

export function readClusterView(store: ClusterStore): ClusterView {
  const services = new Map<string, JsonObject>();
  for (const s of store.list(TrafficResources.services, undefined)) {
    services.set(`${stringAt(s, 'metadata', 'namespace')}/${nameOf(s)}`, s);
  }
  return {
    services,
    podsByNamespace: byNamespace(store.list(TrafficResources.pods, undefined)),
    deploymentsByNamespace: byNamespace(store.list(TrafficResources.deployments, undefined)),
    ingresses: store.list(TrafficResources.ingresses, undefined),
    httpRoutes: store.list(TrafficResources.httpRoutes, undefined),
    virtualServices: store.list(TrafficResources.virtualServices, undefined),
    trafficSplits: store.list(TrafficResources.trafficSplits, undefined),
  };
}

export function namespaceOf(o: JsonObject): string {
  return stringAt(o, 'metadata', 'namespace');
}

/** A Ready Pod behind a Service, with how its version answers. */
export interface Endpoint {
  readonly destination: Destination;
  readonly behaviour: VersionBehaviour;
}

export interface BackendEndpoints {
  readonly namespace: string;
  readonly service: string;
  readonly ready: readonly Endpoint[];
  /**
   * Where a request that finds no Ready Pod is accounted (a 503): the version the Service selects
   * (a Deployment whose template it matches, or a not-Ready Pod), if any.
   */
  readonly unavailable: Destination | undefined;
}

function selects(selector: Readonly<Record<string, string>>, labels: Record<string, string>) {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

function workloadOf(pod: JsonObject): string {
  const labels = labelsOf(pod);
  const hash = labels[POD_TEMPLATE_HASH_LABEL] ?? '';
  const owner = arrayAt(pod, 'metadata', 'ownerReferences').find(
    (r) => stringAt(r, 'kind') === 'ReplicaSet',
  );
  if (owner === undefined) return 'unknown';
  const rs = stringAt(owner, 'name');
  return hash !== '' && rs.endsWith(`-${hash}`) ? rs.slice(0, -hash.length - 1) : rs;
}

function destinationOf(pod: JsonObject, service: string): Destination {
  const labels = labelsOf(pod);
  return {
    namespace: namespaceOf(pod),
    workload: workloadOf(pod),
    pod: nameOf(pod),
    podTemplateHash: labels[POD_TEMPLATE_HASH_LABEL] ?? '',
    app: labels.app ?? labels['app.kubernetes.io/name'] ?? 'unknown',
    version: labels.version ?? labels['app.kubernetes.io/version'] ?? 'unknown',
    service,
  };
}

export function endpointsOf(
  view: ClusterView,
  namespace: string,
  service: string,
): BackendEndpoints {
  const svc = view.services.get(`${namespace}/${service}`);
  const selector = stringMap(at(svc, 'spec', 'selector'));
  const pods = (view.podsByNamespace.get(namespace) ?? []).filter((p) =>
    selects(selector, labelsOf(p)),
  );
  const ready: Endpoint[] = [];
  for (const pod of pods) {
    if (stringAt(conditionOf(pod.status, 'Ready'), 'status') !== 'True') continue;
    ready.push({
      destination: destinationOf(pod, service),
      behaviour: versionBehaviourOf(annotationsOf(pod)),
    });
  }
  let unavailable: Destination | undefined;
  const templateLabels = (d: JsonObject) =>
    stringMap(at(d, 'spec', 'template', 'metadata', 'labels'));
  const deployment = (view.deploymentsByNamespace.get(namespace) ?? []).find((d) =>
    selects(selector, templateLabels(d)),
  );
  if (deployment !== undefined) {
    const labels = templateLabels(deployment);
    unavailable = {
      namespace,
      workload: nameOf(deployment),
      pod: 'unknown',
      podTemplateHash: '',
      app: labels.app ?? 'unknown',
      version: labels.version ?? 'unknown',
      service,
    };
  } else if (pods[0] !== undefined) {
    unavailable = destinationOf(pods[0], service);
  }
  return { namespace, service, ready, unavailable };
}
