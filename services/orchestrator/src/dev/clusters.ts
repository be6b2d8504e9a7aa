/**
 * The simulated clusters of `aviary dev`: one in-process Kubernetes simulator (`@aviary/kube-sim`)
 * serving every cluster on its own local port (so `kubectl` can look too), with controllers
 * (Deployments → ReplicaSets → Pods that become Ready) and live traffic to the demo application.
 *
 * Each cluster starts with namespace `demo`, the tracked ConfigMap `podinfo-config` and the
 * target Deployment `podinfo` at `v1`; no Service until the agent bootstraps the target (it
 * creates the apex Service and refuses to adopt one it does not own), so traffic is unrouted until
 * then. A new version is rolled out the way a user (or GitOps) does it: by patching the
 * Deployment's image through the API server, in every cluster at once. How a version answers is
 * the simulator's business: `sim.aviary.dev/*` annotations on the pod template, written together
 * with the image, so the same version is the same template (hence the same revision id) in every
 * cluster, and a promotion carries its behaviour to the primary.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AviaryError, ErrorCode } from '@aviary/core';
import { createKubeSim, type KubeSim, TrafficAnnotation } from '@aviary/kube-sim';

export const DEMO_APP = {
  namespace: 'demo',
  name: 'podinfo',
  container: 'podinfo',
  containerPort: 9898,
  configMap: 'podinfo-config',
  imageRepository: 'ghcr.io/stefanprodan/podinfo',
} as const;

export interface ClusterSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** How a version answers; unset: no errors, the simulator's default latency. */
export interface VersionBehaviour {
  /** Fraction of requests answered 500, 0–1. */
  readonly errorRate?: number;
}

export interface DemoClustersOptions {
  readonly clusters: readonly ClusterSpec[];
  /** Where the kubeconfig files are written (`kubeconfig.yaml` with every cluster). */
  readonly dir: string;
  /** Requests per second to `demo/podinfo` in every cluster. */
  readonly rps: number;
  readonly initialVersion: string;
  readonly replicas?: number;
  /** How long a Pod takes to become Ready. */
  readonly readyDelayMs?: number;
  readonly host?: string;
}

export interface DemoClusters {
  readonly sim: KubeSim;
  /** The kubeconfig file with a context per cluster. */
  readonly kubeconfigPath: string;
  image(version: string): string;
  /** Sets the target's image (and the version's behaviour) in every cluster, as a user would. */
  rollOut(version: string, behaviour?: VersionBehaviour): Promise<void>;
  /** The image `podinfo-primary` runs in `cluster`; undefined before the bootstrap. */
  primaryImage(cluster: string): Promise<string | undefined>;
  close(): Promise<void>;
}

const deploymentPath = (name: string) =>
  `/apis/apps/v1/namespaces/${DEMO_APP.namespace}/deployments/${name}`;

function annotationsOf(behaviour: VersionBehaviour | undefined): Record<string, string | null> {
  return {
    [TrafficAnnotation.errorRate]:
      behaviour?.errorRate === undefined ? null : String(behaviour.errorRate),
  };
}

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const json = text === '' ? undefined : (JSON.parse(text) as unknown);
  if (!response.ok && !(method === 'POST' && response.status === 409)) {
    throw new AviaryError(
      ErrorCode.Unavailable,
      `kube-sim ${method} ${path}: ${response.status} ${text.slice(0, 200)}`,
    );
  }
  return { status: response.status, json };
}

export async function startDemoClusters(options: DemoClustersOptions): Promise<DemoClusters> {
  const replicas = options.replicas ?? 2;
  const image = (version: string) => `${DEMO_APP.imageRepository}:${version}`;
  const sim = await createKubeSim({
    clusters: options.clusters.map((c) => c.name),
    ...(options.host === undefined ? {} : { host: options.host }),
    controllers: { readyDelayMs: options.readyDelayMs ?? 200 },
    traffic: {
      services: [{ namespace: DEMO_APP.namespace, service: DEMO_APP.name, rps: options.rps }],
    },
  });
  try {
    const kubeconfigPath = join(options.dir, 'kubeconfig.yaml');
    await writeFile(kubeconfigPath, sim.kubeconfig(), { mode: 0o600 });
    await Promise.all(
      sim.clusters.map(async ({ url }) => {
        await call(url, 'POST', '/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: DEMO_APP.namespace },
        });
        await call(url, 'POST', `/api/v1/namespaces/${DEMO_APP.namespace}/configmaps`, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: DEMO_APP.configMap, namespace: DEMO_APP.namespace },
          data: { PODINFO_UI_MESSAGE: 'hello from aviary dev' },
        });
        await call(url, 'POST', `/apis/apps/v1/namespaces/${DEMO_APP.namespace}/deployments`, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: {
            name: DEMO_APP.name,
            namespace: DEMO_APP.namespace,
            labels: { app: DEMO_APP.name },
          },
          spec: {
            replicas,
            selector: { matchLabels: { app: DEMO_APP.name } },
            template: {
              metadata: { labels: { app: DEMO_APP.name } },
              spec: {
                containers: [
                  {
                    name: DEMO_APP.container,
                    image: image(options.initialVersion),
                    ports: [{ name: 'http', containerPort: DEMO_APP.containerPort }],
                    envFrom: [{ configMapRef: { name: DEMO_APP.configMap } }],
                  },
                ],
              },
            },
          },
        });
      }),
    );
    return {
      sim,
      kubeconfigPath,
      image,
      async rollOut(version, behaviour) {
        const patch = {
          spec: {
            template: {
              metadata: { annotations: annotationsOf(behaviour) },
              spec: { containers: [{ name: DEMO_APP.container, image: image(version) }] },
            },
          },
        };
        await Promise.all(
          sim.clusters.map(({ url }) =>
            call(
              url,
              'PATCH',
              deploymentPath(DEMO_APP.name),
              patch,
              'application/strategic-merge-patch+json',
            ),
          ),
        );
      },
      async primaryImage(cluster) {
        const response = await fetch(
          `${sim.cluster(cluster).url}${deploymentPath(`${DEMO_APP.name}-primary`)}`,
        );
        if (!response.ok) return undefined;
        const deployment = (await response.json()) as {
          spec?: { template?: { spec?: { containers?: { image?: string }[] } } };
        };
        return deployment.spec?.template?.spec?.containers?.[0]?.image;
      },
      close: () => sim.close(),
    };
  } catch (error) {
    await sim.close();
    throw error;
  }
}
