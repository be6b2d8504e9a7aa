/**
 * The Kubernetes packaging (infra/kubernetes), rendered with the real `kubectl kustomize` as an
 * operator would apply it, and checked: kinds, images and commands, the agent's RBAC equal to its
 * permission table, secrets only by reference, every variable one the service reads, resources,
 * every service's metrics port (`AVIARY_METRICS_PORT`, a container port named `metrics`, the pod
 * annotations Prometheus discovers it by), probes on the endpoints each serves (the orchestrator's
 * own, the metrics listener's `/healthz` for the others), and the orchestrator's leader/standby
 * shape.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { agentGrants } from '../../services/cluster-agent/src/kube/permissions.ts';
import { METRICS_MODULE, REPO, type ServiceName, serviceVariables } from './service-config.ts';

const KUBECTL = process.env.AVIARY_TEST_KUBECTL ?? '/usr/bin/kubectl';
const IMAGE = 'registry.example.com/aviary:0.1.0';
const CLUSTER_OVERLAYS = readdirSync(new URL('infra/kubernetes/overlays/clusters/', REPO));

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: unknown;
    fieldRef?: { fieldPath: string };
  };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: unknown;
  tcpSocket?: unknown;
}
interface Container {
  name: string;
  image: string;
  command: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: Record<string, unknown>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    strategy?: { type: string };
    selector?: Record<string, unknown>;
    ports?: { name: string; port: number; targetPort: string | number }[];
    template?: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: { serviceAccountName: string; containers: Container[] };
    };
  };
  rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[] }[];
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace: string }[];
}

function render(dir: string): K8sObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', new URL(dir, REPO).pathname], {
    encoding: 'utf8',
  });
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors.join('; ')}`);
    return doc.toJS() as K8sObject;
  });
}

const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const kinds = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

/** The service a container runs: `node services/<service>/src/main.ts`. */
function serviceOf(container: Container): ServiceName {
  const match = /^services\/([a-z-]+)\/src\/main\.ts$/.exec(container.command[1] ?? '');
  expect(container.command[0]).toBe('node');
  expect(match, `${container.name} runs ${container.command.join(' ')}`).not.toBeNull();
  return match?.[1] as ServiceName;
}

const SECRET_LIKE = /PASS|TOKEN|SECRET|KEY|PG_URL|PROVIDERS/;

/** Each service's metrics port (docs/observability.md). */
const METRICS_PORTS: Record<ServiceName, number> = {
  orchestrator: 9464,
  analyzer: 9465,
  'cluster-agent': 9466,
};

/** Checks shared by every Deployment of every overlay. */
function checkDeployments(objects: K8sObject[]): void {
  const ports = new Map<ServiceName, number>();
  const configMaps = new Map(ofKind(objects, 'ConfigMap').map((c) => [c.metadata.name, c]));
  const accounts = new Set(ofKind(objects, 'ServiceAccount').map((a) => a.metadata.name));
  const deployments = ofKind(objects, 'Deployment');
  expect(deployments.length).toBeGreaterThan(0);
  for (const deployment of deployments) {
    const pod = deployment.spec?.template?.spec;
    expect(pod, deployment.metadata.name).toBeDefined();
    if (pod === undefined) continue;
    expect(accounts.has(pod.serviceAccountName), 'its service account is rendered too').toBe(true);
    for (const container of pod.containers) {
      const where = `${deployment.metadata.name}/${container.name}`;
      expect(container.image, where).toBe(IMAGE);
      const service = serviceOf(container);
      expect(existsSync(new URL(container.command[1] as string, REPO)), where).toBe(true);
      const reads = serviceVariables(service);

      // Every variable set is one the service reads; secrets only through Secret references.
      const set: string[] = [];
      for (const variable of container.env ?? []) {
        set.push(variable.name);
        if (SECRET_LIKE.test(variable.name)) {
          expect(variable.value, `${where}: ${variable.name} inline`).toBeUndefined();
          expect(variable.valueFrom?.secretKeyRef?.name, `${where}: ${variable.name}`).toMatch(
            /^aviary-/,
          );
        }
      }
      for (const source of container.envFrom ?? []) {
        expect(source.secretRef, `${where}: whole Secrets are not imported`).toBeUndefined();
        const configMap = configMaps.get(source.configMapRef?.name ?? '');
        expect(configMap, `${where}: ConfigMap ${source.configMapRef?.name}`).toBeDefined();
        for (const key of Object.keys(configMap?.data ?? {})) {
          expect(key, `${where}: a secret in ConfigMap ${configMap?.metadata.name}`).not.toMatch(
            SECRET_LIKE,
          );
          set.push(key);
        }
      }
      expect(
        set.filter((name) => !reads.has(name)),
        `${where}: variables ${service} does not read`,
      ).toEqual([]);
      expect(new Set(set).size, `${where}: a variable set twice`).toBe(set.length);

      expect(container.resources?.requests?.cpu, `${where}: cpu request`).toBeDefined();
      expect(container.resources?.requests?.memory, `${where}: memory request`).toBeDefined();
      expect(container.resources?.limits?.memory, `${where}: memory limit`).toBeDefined();
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
      });

      // Prometheus metrics: the listener on AVIARY_METRICS_PORT, a port named `metrics`, and the
      // pod annotations of the usual Prometheus discovery pointing at it.
      const metricsPort = (container.env ?? []).find((e) => e.name === 'AVIARY_METRICS_PORT');
      expect(metricsPort?.value, `${where}: AVIARY_METRICS_PORT`).toMatch(/^\d+$/);
      expect(
        container.ports?.find((p) => p.name === 'metrics')?.containerPort,
        `${where}: container port metrics`,
      ).toBe(Number(metricsPort?.value));
      expect(
        deployment.spec?.template?.metadata.annotations,
        `${where}: scrape annotations`,
      ).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': metricsPort?.value,
        'prometheus.io/path': '/metrics',
      });
      ports.set(service, Number(metricsPort?.value));

      // Probes where the service serves HTTP; the others are probed for liveness on the metrics
      // listener's /healthz (no readiness: no Service sends them traffic).
      const source = readFileSync(new URL(container.command[1] as string, REPO), 'utf8');
      const servesHttp = /\.listen\(/.test(source);
      if (servesHttp) {
        const port = container.ports?.find((p) => p.name === 'http');
        expect(String(port?.containerPort)).toBe(
          (container.env ?? []).find((e) => e.name === 'AVIARY_HTTP_PORT')?.value,
        );
        expect(container.env?.find((e) => e.name === 'AVIARY_HTTP_HOST')?.value).toBe('0.0.0.0');
        expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
        expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
        // Only the leader is ready: the Service reaches the orchestrator that decides.
        expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      } else {
        expect(container.livenessProbe?.httpGet, `${where}: liveness`).toEqual({
          path: '/healthz',
          port: 'metrics',
        });
        expect(
          [container.readinessProbe, container.startupProbe],
          `${where}: ${service} has no readiness to report`,
        ).toEqual([undefined, undefined]);
      }
    }
  }
  // One port per service, the ones docs/observability.md suggests.
  for (const [service, port] of ports) expect(port, service).toBe(METRICS_PORTS[service]);
  // Nothing secret is rendered: Secrets are created beside the manifests, never kept here.
  expect(ofKind(objects, 'Secret')).toEqual([]);
}

describe('infra/kubernetes with kubectl kustomize', () => {
  it('the orchestrator and the metrics listener serve the probes’ endpoints', () => {
    const routes = readFileSync(new URL('services/orchestrator/src/api/routes.ts', REPO), 'utf8');
    expect(routes).toContain("route('GET', '/healthz', 'public'");
    expect(routes).toContain("route('GET', '/readyz', 'public'");
    // packages/platform/src/metrics-health.test.ts serves it for real.
    const metrics = readFileSync(new URL(METRICS_MODULE, REPO), 'utf8');
    expect(metrics).toContain("path === '/healthz'");
  });

  it('renders each base on its own', () => {
    expect(kinds(render('infra/kubernetes/orchestrator'))).toEqual([
      'Deployment/aviary-orchestrator',
      'Service/aviary-orchestrator',
      'ServiceAccount/aviary-orchestrator',
    ]);
    expect(kinds(render('infra/kubernetes/analyzer'))).toEqual([
      'Deployment/aviary-analyzer',
      'ServiceAccount/aviary-analyzer',
    ]);
    expect(kinds(render('infra/kubernetes/cluster-agent'))).toEqual([
      'ClusterRole/aviary-cluster-agent',
      'ClusterRoleBinding/aviary-cluster-agent',
      'Deployment/aviary-cluster-agent',
      'Namespace/aviary-system',
      'ServiceAccount/aviary-cluster-agent',
    ]);
  });

  it('renders the central overlay: orchestrator with a standby, analyzer, their configuration', () => {
    const objects = render('infra/kubernetes/overlays/central');
    expect(kinds(objects).map((k) => k.replace(/-[a-z0-9]{10}$/, '-<hash>'))).toEqual([
      'ConfigMap/aviary-analyzer-<hash>',
      'ConfigMap/aviary-orchestrator-<hash>',
      'Deployment/aviary-analyzer',
      'Deployment/aviary-orchestrator',
      'Namespace/aviary',
      'Service/aviary-orchestrator',
      'ServiceAccount/aviary-analyzer',
      'ServiceAccount/aviary-orchestrator',
    ]);
    for (const o of objects.filter((o) => o.kind !== 'Namespace')) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('aviary');
    }
    checkDeployments(objects);

    const orchestrator = ofKind(objects, 'Deployment').find(
      (d) => d.metadata.name === 'aviary-orchestrator',
    );
    // Replicas beyond the first stand by on PostgreSQL's lock; Recreate, as a rolling update
    // would wait forever for a standby to become ready.
    expect(orchestrator?.spec?.replicas).toBeGreaterThan(1);
    expect(orchestrator?.spec?.strategy?.type).toBe('Recreate');
    const env = orchestrator?.spec?.template?.spec.containers[0]?.env ?? [];
    for (const name of ['AVIARY_PG_URL', 'AVIARY_API_TOKENS', 'AVIARY_NATS_PASS']) {
      const ref = env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
      expect(ref?.optional, `${name} is required`).toBeUndefined();
    }
    const service = ofKind(objects, 'Service')[0];
    expect(orchestrator?.spec?.template?.metadata.labels).toMatchObject(
      service?.spec?.selector ?? {},
    );
    expect(service?.spec?.selector).toEqual({ 'app.kubernetes.io/name': 'aviary-orchestrator' });
    expect(service?.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
  });

  it.each(CLUSTER_OVERLAYS)(
    'renders the agent of cluster %s with exactly its permission table',
    (cluster) => {
      const objects = render(`infra/kubernetes/overlays/clusters/${cluster}`);
      checkDeployments(objects);
      const configMap = ofKind(objects, 'ConfigMap')[0];
      expect(configMap?.metadata.namespace).toBe('aviary-system');
      expect(configMap?.data?.AVIARY_CLUSTER_NAME).toBe(cluster);
      expect(configMap?.data?.AVIARY_NATS_URL).toMatch(/^(nats|tls):\/\//);
      expect(configMap?.data?.AVIARY_CLUSTER_LABELS).toMatch(
        /^[a-z]+=[a-z0-9-]+(,[a-z]+=[a-z0-9-]+)*$/,
      );

      const role = ofKind(objects, 'ClusterRole')[0];
      const granted = (role?.rules ?? []).flatMap((rule) =>
        (rule.apiGroups ?? []).flatMap((group) =>
          (rule.resources ?? []).flatMap((resource) =>
            rule.verbs.map((verb) => `${group}/${resource}:${verb}`),
          ),
        ),
      );
      const needed = agentGrants()
        .filter((g) => !g.optional)
        .map((g) => `${g.group}/${g.resource}:${g.verb}`);
      expect([...granted].sort()).toEqual([...new Set(needed)].sort());
      const binding = ofKind(objects, 'ClusterRoleBinding')[0];
      expect(binding?.roleRef?.name).toBe(role?.metadata.name);
      const deployment = ofKind(objects, 'Deployment')[0];
      expect(binding?.subjects).toEqual([
        {
          kind: 'ServiceAccount',
          name: deployment?.spec?.template?.spec.serviceAccountName,
          namespace: 'aviary-system',
        },
      ]);
      expect(deployment?.spec?.replicas).toBe(1);
    },
  );

  it('has an overlay per example cluster of the NATS configuration', () => {
    const conf = readFileSync(new URL('infra/nats/nats-server.conf', REPO), 'utf8');
    const users = [...conf.matchAll(/user: "agent-([a-z0-9-]+)"/g)].map((m) => m[1]);
    expect([...CLUSTER_OVERLAYS].sort()).toEqual([...users].sort());
  });
});
