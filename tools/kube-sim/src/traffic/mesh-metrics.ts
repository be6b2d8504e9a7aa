import {
  type CounterCell,
  CounterFamily,
  type HistogramCell,
  HistogramFamily,
  MetricsRegistry,
} from './metrics-registry.ts';

/**
 * The series each router's users have, with the label names Flagger's built-in queries (and the
 * analyzer's grouped forms, `services/analyzer/src/metrics/builtin.ts`) read. Every series also
 * carries `cluster`, the simulated cluster's name.
 */

/** Istio's and Envoy's default duration buckets (ms). */
export const ISTIO_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
] as const;
/** Linkerd proxy latency buckets (ms). */
export const LINKERD_LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000,
  20000, 30000, 40000, 50000,
] as const;
/** The Prometheus client's default buckets (s): ingress-nginx and apps' `http_request_duration_seconds`. */
export const DEFAULT_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

const ISTIO_LABELS = [
  'cluster',
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'destination_workload',
  'destination_workload_namespace',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_app',
  'destination_version',
  'request_protocol',
  'response_code',
  'response_flags',
  'connection_security_policy',
] as const;
const LINKERD_LABELS = [
  'cluster',
  'direction',
  'namespace',
  'deployment',
  'pod',
  'pod_template_hash',
  'tls',
  'status_code',
] as const;
const APP_LABELS = [
  'cluster',
  'kubernetes_namespace',
  'kubernetes_pod_name',
  'app',
  'method',
  'path',
  'status',
] as const;
const NGINX_LABELS = [
  'cluster',
  'controller_class',
  'controller_namespace',
  'controller_pod',
  'host',
  'ingress',
  'namespace',
  'service',
  'method',
  'path',
  'status',
  'canary',
] as const;
const ENVOY_LABELS = ['cluster', 'envoy_cluster_name', 'envoy_response_code'] as const;

/** The pod a request reached, as the sidecar and the app label their series. */
export interface Destination {
  readonly namespace: string;
  /** The owning workload (Deployment) name; `unknown` when the Pod has none. */
  readonly workload: string;
  readonly pod: string;
  readonly podTemplateHash: string;
  readonly app: string;
  readonly version: string;
  /** The Service the request was sent to. */
  readonly service: string;
}

/** What one served request increments at its destination. */
export interface DestinationCells {
  readonly istioRequests: CounterCell;
  readonly istioDuration: HistogramCell;
  readonly linkerdResponses: CounterCell;
  readonly linkerdLatency: HistogramCell;
  readonly appDuration: HistogramCell;
}

/** The edge (ingress controller or gateway proxy) a request went through. */
export type Edge =
  | {
      readonly kind: 'nginx';
      readonly namespace: string;
      readonly ingress: string;
      readonly host: string;
      readonly service: string;
      /** ingress-nginx's `canary` label: the canary upstream's name, empty for the main one. */
      readonly canary: string;
    }
  | { readonly kind: 'envoy'; readonly envoyClusterName: string };

export interface EdgeCells {
  readonly requests: CounterCell;
  readonly duration: HistogramCell;
  /** Multiplier from ms to the histogram's unit. */
  readonly scale: number;
  readonly family: HistogramFamily;
}

export class MeshMetrics {
  readonly registry = new MetricsRegistry();
  readonly cluster: string;
  readonly istioRequests = this.registry.add(
    new CounterFamily({
      name: 'istio_requests_total',
      help: 'Requests handled by an Istio proxy (simulated).',
      labelNames: ISTIO_LABELS,
    }),
  );
  readonly istioDuration = this.registry.add(
    new HistogramFamily({
      name: 'istio_request_duration_milliseconds',
      help: 'Request duration seen by an Istio proxy, in ms (simulated).',
      labelNames: ISTIO_LABELS,
      buckets: ISTIO_DURATION_BUCKETS_MS,
    }),
  );
  readonly linkerdResponses = this.registry.add(
    new CounterFamily({
      name: 'response_total',
      help: 'Responses seen by a Linkerd proxy (simulated).',
      labelNames: [...LINKERD_LABELS, 'classification'],
    }),
  );
  readonly linkerdLatency = this.registry.add(
    new HistogramFamily({
      name: 'response_latency_ms',
      help: 'Response latency seen by a Linkerd proxy, in ms (simulated).',
      labelNames: LINKERD_LABELS,
      buckets: LINKERD_LATENCY_BUCKETS_MS,
    }),
  );
  readonly appDuration = this.registry.add(
    new HistogramFamily({
      name: 'http_request_duration_seconds',
      help: "The app's own request duration, in s (simulated).",
      labelNames: APP_LABELS,
      buckets: DEFAULT_BUCKETS_SECONDS,
    }),
  );
  readonly nginxRequests = this.registry.add(
    new CounterFamily({
      name: 'nginx_ingress_controller_requests',
      help: 'Requests served by ingress-nginx (simulated).',
      labelNames: NGINX_LABELS,
    }),
  );
  readonly nginxDuration = this.registry.add(
    new HistogramFamily({
      name: 'nginx_ingress_controller_response_duration_seconds',
      help: 'Upstream response time seen by ingress-nginx, in s (simulated).',
      labelNames: NGINX_LABELS,
      buckets: DEFAULT_BUCKETS_SECONDS,
    }),
  );
  readonly envoyRequests = this.registry.add(
    new CounterFamily({
      name: 'envoy_cluster_upstream_rq',
      help: 'Upstream requests of an Envoy cluster (simulated).',
      labelNames: ENVOY_LABELS,
    }),
  );
  readonly envoyDuration = this.registry.add(
    new HistogramFamily({
      name: 'envoy_cluster_upstream_rq_time',
      help: 'Upstream request time of an Envoy cluster, in ms (simulated).',
      labelNames: ENVOY_LABELS,
      buckets: ISTIO_DURATION_BUCKETS_MS,
    }),
  );

  constructor(cluster: string) {
    this.cluster = cluster;
  }

  destinationCells(d: Destination, code: number, responseFlags: string): DestinationCells {
    const status = String(code);
    const istio = [
      this.cluster,
      'destination',
      'unknown',
      'unknown',
      d.workload,
      d.namespace,
      `${d.service}.${d.namespace}.svc.cluster.local`,
      d.service,
      d.namespace,
      d.app,
      d.version,
      'http',
      status,
      responseFlags,
      'mutual_tls',
    ];
    const linkerd = [
      this.cluster,
      'inbound',
      d.namespace,
      d.workload,
      d.pod,
      d.podTemplateHash,
      'true',
      status,
    ];
    return {
      istioRequests: this.istioRequests.cell(istio),
      istioDuration: this.istioDuration.cell(istio),
      linkerdResponses: this.linkerdResponses.cell([
        ...linkerd,
        code >= 500 ? 'failure' : 'success',
      ]),
      linkerdLatency: this.linkerdLatency.cell(linkerd),
      appDuration: this.appDuration.cell([
        this.cluster,
        d.namespace,
        d.pod,
        d.app,
        'GET',
        '/',
        status,
      ]),
    };
  }

  recordDestination(cells: DestinationCells, latencyMs: number): void {
    cells.istioRequests.value += 1;
    this.istioDuration.observe(cells.istioDuration, latencyMs);
    cells.linkerdResponses.value += 1;
    this.linkerdLatency.observe(cells.linkerdLatency, latencyMs);
    this.appDuration.observe(cells.appDuration, latencyMs / 1000);
  }

  edgeCells(edge: Edge, code: number): EdgeCells {
    const status = String(code);
    if (edge.kind === 'nginx') {
      const labels = [
        this.cluster,
        'k8s.io/ingress-nginx',
        'ingress-nginx',
        'ingress-nginx-controller-sim',
        edge.host,
        edge.ingress,
        edge.namespace,
        edge.service,
        'GET',
        '/',
        status,
        edge.canary,
      ];
      return {
        requests: this.nginxRequests.cell(labels),
        duration: this.nginxDuration.cell(labels),
        scale: 1 / 1000,
        family: this.nginxDuration,
      };
    }
    const labels = [this.cluster, edge.envoyClusterName, status];
    return {
      requests: this.envoyRequests.cell(labels),
      duration: this.envoyDuration.cell(labels),
      scale: 1,
      family: this.envoyDuration,
    };
  }

  recordEdge(cells: EdgeCells, latencyMs: number): void {
    cells.requests.value += 1;
    cells.family.observe(cells.duration, latencyMs * cells.scale);
  }

  render(): string {
    return this.registry.render();
  }
}
