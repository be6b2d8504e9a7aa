export {
  type ControllerOptions,
  type Controllers,
  startControllers,
} from './controllers/controller-manager.ts';
export { DeploymentAnnotation, DeploymentReason } from './controllers/deployment-controller.ts';
export {
  PodAnnotation,
  type PodBehaviour,
  parseDurationMs,
  podBehaviourOf,
} from './controllers/pod-behaviour.ts';
export { POD_TEMPLATE_HASH_LABEL, podTemplateHash } from './controllers/pod-template-hash.ts';
export { SERVER_VERSION } from './discovery.ts';
export {
  type GroupResource,
  KubeApiError,
  type Status,
  type StatusCause,
  type StatusDetails,
  StatusReason,
} from './errors.ts';
export {
  type ClusterOptions,
  createKubeSim,
  type KubeSim,
  type KubeSimOptions,
  type SimulatedCluster,
  startCluster,
} from './kube-sim.ts';
export {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  type Json,
  type JsonObject,
  PatchError,
} from './patch.ts';
export { apiVersionOf, findResource, RESOURCES, type ResourceType } from './resources.ts';
export {
  type FieldRequirement,
  type LabelRequirement,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';
export { PatchType } from './server.ts';
export {
  ClusterStore,
  DEFAULT_NAMESPACES,
  type StoredEvent,
  type StoreOptions,
  type WatchEventType,
  type WriteOptions,
} from './store.ts';
export {
  answer,
  TrafficAnnotation,
  type VersionBehaviour,
  versionBehaviourOf,
} from './traffic/behaviour.ts';
export {
  DEFAULT_BUCKETS_SECONDS,
  type Destination,
  ISTIO_DURATION_BUCKETS_MS,
  LINKERD_LATENCY_BUCKETS_MS,
  MeshMetrics,
} from './traffic/mesh-metrics.ts';
export { PROMETHEUS_CONTENT_TYPE } from './traffic/metrics-registry.ts';
export { createPrng, type Prng } from './traffic/prng.ts';
export { type RoutePlan, RouterKind, routePlan } from './traffic/routing.ts';
export {
  type BackendStats,
  type ServiceStats,
  type SimulatedRequest,
  type TrafficOptions,
  type TrafficServiceConfig,
  TrafficSimulator,
} from './traffic/traffic-simulator.ts';
