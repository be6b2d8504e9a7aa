import { POD_TEMPLATE_HASH_LABEL } from '../controllers/pod-template-hash.ts';
import type { JsonObject } from '../patch.ts';
import { ClusterStore } from '../store.ts';
import { TrafficResources } from './cluster-view.ts';

/**
 * A cluster written straight into a store, as Flagger leaves it: `<app>-primary` and `<app>`
 * (canary) Deployments with Ready Pods, and the apex, primary and canary Services.
 */
export interface VersionSpec {
  readonly replicas?: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ready?: boolean;
}

export function podFor(
  store: ClusterStore,
  namespace: string,
  workload: string,
  index: number,
  spec: VersionSpec,
): void {
  const hash = `h${workload.length}x${index % 10}`.slice(0, 5);
  const rs = `${workload}-7d9f8c6b5`;
  const name = `${rs}-p${String(index).padStart(4, '0')}`;
  store.create(TrafficResources.pods, namespace, {
    metadata: {
      name,
      labels: { app: workload, [POD_TEMPLATE_HASH_LABEL]: '7d9f8c6b5' },
      annotations: { ...(spec.annotations ?? {}) },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: hash, controller: true },
      ],
    },
    spec: { containers: [{ name: 'app', image: 'podinfo' }] },
  });
  store.update(
    TrafficResources.pods,
    namespace,
    name,
    {
      metadata: { name },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: spec.ready === false ? 'False' : 'True' }],
      },
    },
    { subresource: 'status' },
  );
}

export function deployVersion(
  store: ClusterStore,
  namespace: string,
  workload: string,
  spec: VersionSpec = {},
): void {
  store.create(TrafficResources.deployments, namespace, {
    metadata: { name: workload },
    spec: {
      replicas: spec.replicas ?? 2,
      selector: { matchLabels: { app: workload } },
      template: {
        metadata: { labels: { app: workload }, annotations: { ...(spec.annotations ?? {}) } },
        spec: { containers: [{ name: 'app', image: 'podinfo' }] },
      },
    },
  });
  for (let i = 0; i < (spec.replicas ?? 2); i++) podFor(store, namespace, workload, i, spec);
}

export function service(store: ClusterStore, namespace: string, name: string, app: string): void {
  store.create(TrafficResources.services, namespace, {
    metadata: { name },
    spec: { selector: { app }, ports: [{ port: 80, targetPort: 9898 }] },
  });
}

/** Flagger's three Services for `app`: apex and primary → `<app>-primary`, canary → `<app>`. */
export function flaggerServices(store: ClusterStore, namespace: string, app: string): void {
  service(store, namespace, app, `${app}-primary`);
  service(store, namespace, `${app}-primary`, `${app}-primary`);
  service(store, namespace, `${app}-canary`, app);
}

export function canaryCluster(
  primary: VersionSpec = {},
  canary: VersionSpec = {},
  namespace = 'default',
  app = 'podinfo',
): ClusterStore {
  const store = new ClusterStore();
  deployVersion(store, namespace, `${app}-primary`, primary);
  deployVersion(store, namespace, app, canary);
  flaggerServices(store, namespace, app);
  return store;
}

export function virtualService(
  store: ClusterStore,
  namespace: string,
  name: string,
  http: readonly JsonObject[],
): void {
  store.create(TrafficResources.virtualServices, namespace, {
    metadata: { name },
    spec: { hosts: [name], http: [...http] },
  });
}

export function weighted(app: string, primary: number, canary: number): JsonObject {
  return {
    route: [
      { destination: { host: `${app}-primary` }, weight: primary },
      { destination: { host: `${app}-canary` }, weight: canary },
    ],
  };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A tiny parser of the Prometheus text format: samples only, comments checked for shape. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      if (!/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) {
        throw new Error(`bad comment line: ${line}`);
      }
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let consumed = 0;
    for (const l of body.matchAll(label)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) =>
        c === 'n' ? '\n' : c,
      );
      consumed += l[0].length;
    }
    if (consumed !== body.length) throw new Error(`bad labels: ${line}`);
    const value = Number(match[3]);
    if (Number.isNaN(value) && match[3] !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.push({ name: match[1] as string, labels, value });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `where`. */
export function total(
  samples: readonly Sample[],
  name: string,
  where: Readonly<Record<string, string | RegExp>> = {},
): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    const ok = Object.entries(where).every(([k, v]) =>
      typeof v === 'string' ? s.labels[k] === v : v.test(s.labels[k] ?? ''),
    );
    if (ok) sum += s.value;
  }
  return sum;
}
