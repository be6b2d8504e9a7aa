import { readFileSync } from 'node:fs';
import { CommandOutcome, type RouterKindJson } from '@aviary/proto';
import type { V1Ingress } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createCommandHandler, type HandledCommand } from '../commands.ts';
import { INFORMED_KINDS, INFORMER_VERBS } from '../observer.ts';
import { TrafficRouterKind } from '../routers/traffic-router.ts';
import {
  command,
  createTrackedConfigs,
  NS,
  simulatedCluster,
  sleep,
  targetDeployment,
} from '../testing.ts';
import type { KubeKind } from './kube-client.ts';
import {
  AGENT_PERMISSIONS,
  agentGrants,
  guardKubeClient,
  KUBE_RESOURCES,
  type KubeVerb,
  NotGrantedError,
} from './permissions.ts';

const signal = new AbortController().signal;
const manifest = (file: string) =>
  new URL(`../../../../infra/kubernetes/cluster-agent/${file}`, import.meta.url);

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

function load(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(manifest(file), 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.join('; ')}`);
    return doc.toJS() as K8sObject;
  });
}

const only = (objects: K8sObject[], kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as K8sObject;
};

const triple = (group: string, resource: string, verb: string) => `${group}/${resource}:${verb}`;

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Every (group, resource, verb) a ClusterRole grants; wildcards are refused outright. */
function granted(role: K8sObject): string[] {
  const out: string[] = [];
  for (const rule of role.rules as PolicyRule[]) {
    expect(rule.nonResourceURLs, 'non-resource URLs').toBeUndefined();
    expect(rule.resourceNames, 'resourceNames would not cover generated names').toBeUndefined();
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) {
          expect([group, resource, verb], 'wildcards grant more than the agent uses').not.toContain(
            '*',
          );
          out.push(triple(group, resource, verb));
        }
      }
    }
  }
  return out.sort();
}

const required = () =>
  agentGrants()
    .filter((g) => !g.optional)
    .map((g) => triple(g.group, g.resource, g.verb))
    .sort();

describe('the RBAC manifest', () => {
  const rbac = load('rbac.yaml');

  it('grants every verb in the agent’s permission table, and nothing else', () => {
    const role = only(rbac, 'ClusterRole');
    const grants = granted(role);
    expect(new Set(grants).size, 'a verb granted twice').toBe(grants.length);
    const needed = required();
    expect(
      needed.filter((t) => !grants.includes(t)),
      'used but not granted',
    ).toEqual([]);
    expect(
      grants.filter((t) => !needed.includes(t)),
      'granted but not used',
    ).toEqual([]);
    // Deliberately not granted: the manifest creates the agent's namespace itself.
    expect(grants).not.toContain(triple('', 'namespaces', 'create'));
    expect(only(rbac, 'Namespace').metadata.name).toBe('aviary-system');
  });

  it('binds the ClusterRole to the agent’s service account, which the Deployment uses', () => {
    const account = only(rbac, 'ServiceAccount');
    const role = only(rbac, 'ClusterRole');
    const binding = only(rbac, 'ClusterRoleBinding') as K8sObject & {
      roleRef: { apiGroup: string; kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: role.metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: account.metadata.name, namespace: 'aviary-system' },
    ]);
    expect(account.metadata.namespace).toBe('aviary-system');

    const deployment = only(load('deployment.yaml'), 'Deployment') as K8sObject & {
      spec: {
        replicas: number;
        strategy: { type: string };
        template: {
          spec: {
            serviceAccountName: string;
            containers: {
              command: string[];
              envFrom: { configMapRef?: { name: string } }[];
              env: { name: string; value?: string; valueFrom?: Record<string, unknown> }[];
            }[];
          };
        };
      };
    };
    expect(deployment.metadata.namespace).toBe('aviary-system');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(account.metadata.name);
    const container = pod.containers[0];
    expect(container?.command).toEqual(['node', 'services/cluster-agent/src/main.ts']);
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e]));
    // The cluster's name, labels and NATS URL come from the overlay's ConfigMap of each cluster
    // (infra/kubernetes/overlays/clusters/<cluster>, checked in test/packaging).
    expect(container?.envFrom).toEqual([{ configMapRef: { name: 'aviary-cluster-agent' } }]);
    for (const secret of ['AVIARY_NATS_USER', 'AVIARY_NATS_PASS']) {
      expect(env[secret]?.value, `${secret} is not written into the manifest`).toBeUndefined();
      expect(env[secret]?.valueFrom).toMatchObject({ secretKeyRef: { name: expect.any(String) } });
    }
    expect(env.AVIARY_AGENT_NAMESPACE?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.namespace' },
    });
    // In a pod the agent uses its service account, never a kubeconfig file.
    expect(env.AVIARY_KUBECONFIG).toBeUndefined();
  });
});

describe('the permission table', () => {
  it('names a known resource for every kind the port has', () => {
    expect(Object.keys(AGENT_PERMISSIONS).sort()).toEqual(Object.keys(KUBE_RESOURCES).sort());
  });

  it('refuses a call it does not grant, before it reaches the API', async () => {
    const { sim, kube } = await simulatedCluster();
    try {
      const guarded = guardKubeClient(kube);
      await expect(
        guarded.mergePatch('Secret', NS, 'anything', { data: {} }, signal),
      ).rejects.toBeInstanceOf(NotGrantedError);
      await expect(guarded.get('Namespace', '', 'default', signal)).rejects.toThrow(
        /does not grant get on namespaces/,
      );
      expect(await guarded.get('Deployment', NS, 'missing', signal)).toBeUndefined();
    } finally {
      await sim.close();
    }
  });

  /**
   * Drives every command over every router through a port that records each call: what the
   * agent does is exactly what the table lists (the guard already refuses anything beyond it).
   */
  it('is used in full by the commands over every router', async () => {
    const used = new Set<string>();
    for (const kind of INFORMED_KINDS)
      for (const verb of INFORMER_VERBS) used.add(`${kind}:${verb}`);
    for (const router of Object.values(TrafficRouterKind)) {
      await lifecycle(router, (kind, verb) => used.add(`${kind}:${verb}`));
    }
    const table = (Object.keys(AGENT_PERMISSIONS) as KubeKind[]).flatMap((kind) =>
      AGENT_PERMISSIONS[kind].verbs.map((verb) => `${kind}:${verb}`),
    );
    expect([...used].sort()).toEqual(table.sort());
  }, 60_000);
});

const ROUTER_JSON: Record<TrafficRouterKind, RouterKindJson> = {
  istio: 'ROUTER_KIND_ISTIO',
  'gateway-api': 'ROUTER_KIND_GATEWAY_API',
  nginx: 'ROUTER_KIND_NGINX',
  smi: 'ROUTER_KIND_SMI',
  none: 'ROUTER_KIND_NONE',
};

const apexIngress: V1Ingress = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'podinfo', namespace: NS },
  spec: {
    rules: [
      {
        host: 'podinfo.example.com',
        http: {
          paths: [
            {
              path: '/',
              pathType: 'Prefix',
              backend: { service: { name: 'podinfo', port: { number: 80 } } },
            },
          ],
        },
      },
    ],
  },
};

/** A canary's whole life on one router: bootstrap, traffic, promotion, scale down, finalize. */
async function lifecycle(router: TrafficRouterKind, onCall: (k: KubeKind, v: KubeVerb) => void) {
  const { sim, kube } = await simulatedCluster();
  try {
    await createTrackedConfigs(kube, signal);
    await kube.create('Deployment', NS, targetDeployment('podinfo'), signal);
    await kube.create(
      'HorizontalPodAutoscaler',
      NS,
      {
        metadata: { name: 'podinfo' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
          minReplicas: 2,
          maxReplicas: 4,
        },
      },
      signal,
    );
    if (router === 'nginx') await kube.create('Ingress', NS, apexIngress, signal);
    // As cluster-agent-rbac.yaml does: the agent's namespace exists (creating it is optional).
    await kube.create('Namespace', '', { metadata: { name: 'aviary-system' } }, signal);
    const h = createCommandHandler({
      kube: guardKubeClient(kube, onCall),
      cluster: 'eu-1',
      nowMs: () => Date.now(),
    });
    const done = async (cmd: unknown): Promise<HandledCommand> => {
      for (let i = 0; i < 200; i++) {
        const handled = await h.handle(cmd, signal);
        if (handled.result.outcome !== CommandOutcome.FAILED || !handled.result.retriable) {
          expect(handled.result, `${router}: ${JSON.stringify(cmd)}`).toMatchObject({
            outcome: CommandOutcome.SUCCEEDED,
          });
          return handled;
        }
        await sleep(25);
      }
      throw new Error(`${router}: ${JSON.stringify(cmd)} never finished`);
    };
    const service = {
      port: 80,
      targetPort: 'http',
      hosts: ['podinfo.example.com'],
      ...(router === 'gateway-api' ? { gatewayRefs: [{ name: 'public', namespace: 'gw' }] } : {}),
    };
    const routes = (canary: number) =>
      command({
        setRoutes: {
          router: ROUTER_JSON[router],
          serviceName: 'podinfo',
          routes: { primaryWeightPercent: 100 - canary, canaryWeightPercent: canary },
        },
      });
    const initialize = (bounds: { primaryMaxReplicas?: number } = {}) =>
      command({
        initializeTarget: { router: ROUTER_JSON[router], service, hpaName: 'podinfo', ...bounds },
      });
    await done(initialize());
    // New primaryScalerReplicas bounds: the `<hpa>-primary` copy is updated.
    await done(initialize({ primaryMaxReplicas: 9 }));
    if (router === 'istio') {
      // A DestinationRule changed by hand is put back by the next bootstrap.
      await kube.mergePatch(
        'DestinationRule',
        NS,
        'podinfo-canary',
        { spec: { host: 'x' } },
        signal,
      );
      await done(initialize());
    }
    // A new revision: image, ConfigMap and Secret changed.
    await kube.mergePatch('ConfigMap', NS, 'podinfo-env', { data: { A: '2' } }, signal);
    await kube.mergePatch('Secret', NS, 'podinfo-token', { data: { token: 'dHdv' } }, signal);
    await done(command({ scaleCanary: {} }));
    if (router !== 'none') await done(routes(30));
    await done(command({ promoteCanary: {} }));
    await done(routes(0));
    await done(command({ scaleCanaryToZero: {} }));
    await done(command({ finalizeTarget: { router: ROUTER_JSON[router], service: { port: 80 } } }));
  } finally {
    await sim.close();
  }
}
