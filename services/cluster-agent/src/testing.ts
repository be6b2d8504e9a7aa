/** Test fixtures: a simulated cluster, a target Deployment and commands as proto JSON. */
import { createKubeSim, type KubeSim } from '@aviary/kube-sim';
import type { AgentCommandJson } from '@aviary/proto';
import { KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { createClientNodeKubeClient } from './kube/client-node-kube-client.ts';
import type { KubeClient } from './kube/kube-client.ts';

export const NS = 'default';

export async function simulatedCluster(): Promise<{
  sim: KubeSim;
  kube: KubeClient;
  kc: KubeConfig;
}> {
  const sim = await createKubeSim({ clusters: ['eu-1'], controllers: { readyDelayMs: 10 } });
  const kc = new KubeConfig();
  kc.loadFromString(sim.cluster('eu-1').kubeconfig());
  return { sim, kube: createClientNodeKubeClient(kc), kc };
}

/** A simulated cluster holding the tracked configs and the target Deployment `name`. */
export async function simulatedTarget(name = 'podinfo'): Promise<{
  sim: KubeSim;
  kube: KubeClient;
  kc: KubeConfig;
}> {
  const cluster = await simulatedCluster();
  const signal = new AbortController().signal;
  await createTrackedConfigs(cluster.kube, signal);
  await cluster.kube.create('Deployment', NS, targetDeployment(name), signal);
  return cluster;
}

export function targetDeployment(name: string, image = 'podinfo:1'): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: { app: name, team: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: { 'prometheus.io/scrape': 'true' } },
        spec: {
          containers: [
            {
              name: 'app',
              image,
              ports: [{ name: 'http', containerPort: 9898 }],
              envFrom: [{ configMapRef: { name: `${name}-env` } }],
              env: [
                {
                  name: 'TOKEN',
                  valueFrom: { secretKeyRef: { name: `${name}-token`, key: 'token' } },
                },
                {
                  name: 'OPTIONAL',
                  valueFrom: {
                    configMapKeyRef: { name: 'absent', key: 'x', optional: true },
                  },
                },
              ],
            },
          ],
          volumes: [{ name: 'files', configMap: { name: `${name}-files` } }],
        },
      },
    },
  };
}

let sequence = 0;
export function command(
  action: Omit<AgentCommandJson, 'commandId' | 'cluster' | 'releaseId' | 'workload'>,
  overrides: Partial<AgentCommandJson> = {},
): AgentCommandJson {
  sequence += 1;
  return {
    commandId: `cmd-${sequence}`,
    cluster: 'eu-1',
    releaseId: 'rel-1',
    workload: { namespace: NS, name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' },
    ...action,
    ...overrides,
  };
}

/** The ConfigMaps and Secret that `targetDeployment` tracks (volumes and env). */
export async function createTrackedConfigs(kube: KubeClient, signal: AbortSignal): Promise<void> {
  await kube.create(
    'ConfigMap',
    NS,
    { metadata: { name: 'podinfo-env' }, data: { A: '1' } },
    signal,
  );
  await kube.create(
    'ConfigMap',
    NS,
    { metadata: { name: 'podinfo-files' }, data: { f: 'x' } },
    signal,
  );
  await kube.create(
    'Secret',
    NS,
    { metadata: { name: 'podinfo-token' }, type: 'Opaque', data: { token: 'czNjcjN0' } },
    signal,
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
