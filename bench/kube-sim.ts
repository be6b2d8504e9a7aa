/**
 * kube-sim throughput in one process, each figure against a baseline measured in the same run:
 * - simulated requests/s: 100 clusters × 10 services, each service behind an Istio VirtualService
 *   (90/10) with two Ready Pods per version, every request routed, answered (error rate,
 *   lognormal latency) and counted in the Istio, Linkerd and app series; against the same request
 *   count through a trivial loop that only increments counters;
 * - watch events/s: ConfigMap writes streamed to WATCHERS HTTP watches of one simulated cluster,
 *   events received by all of them, against raw store writes/s (no watchers).
 */
import { get } from 'node:http';
import { ClusterStore, createKubeSim, RESOURCES, TrafficSimulator } from '@aviary/kube-sim';
import { TrafficResources } from '../tools/kube-sim/src/traffic/cluster-view.ts';
import {
  flaggerServices,
  podFor,
  virtualService,
  weighted,
} from '../tools/kube-sim/src/traffic/test-fixtures.ts';
import { progress, report } from './report.ts';

const CLUSTERS = 100;
const SERVICES = 10;
const RPS = 500;
const SIMULATED_MS = 4000;
const WATCHERS = 20;
const WRITES = 5000;

function trafficCluster(c: number): TrafficSimulator {
  const store = new ClusterStore();
  const services = [];
  for (let s = 0; s < SERVICES; s++) {
    const app = `app-${s}`;
    for (const [workload, annotations] of [
      [`${app}-primary`, { 'sim.aviary.dev/latency-ms': 'p50=20,p99=80' }],
      [app, { 'sim.aviary.dev/error-rate': '0.05', 'sim.aviary.dev/latency-ms': 'p50=30,p99=200' }],
    ] as const) {
      store.create(TrafficResources.deployments, 'default', {
        metadata: { name: workload },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: workload } },
          template: { metadata: { labels: { app: workload }, annotations: { ...annotations } } },
        },
      });
      for (let i = 0; i < 2; i++) podFor(store, 'default', workload, i, { annotations });
    }
    flaggerServices(store, 'default', app);
    virtualService(store, 'default', app, [weighted(app, 90, 10)]);
    services.push({ namespace: 'default', service: app, rps: RPS });
  }
  return new TrafficSimulator(`cluster-${c}`, store, { services, seed: c + 1 });
}

function requestsPerSecond(): void {
  progress(`traffic: ${CLUSTERS} clusters × ${SERVICES} services at ${RPS} rps each`);
  const sims = Array.from({ length: CLUSTERS }, (_, c) => trafficCluster(c));
  for (const sim of sims) sim.advance(250); // warm-up: views, plans and series built
  let sent = 0;
  const start = performance.now();
  for (let t = 0; t < SIMULATED_MS; t += 250) {
    for (const sim of sims) sent += sim.tick(250);
  }
  const simulated = sent / ((performance.now() - start) / 1000);
  const exposition = sims[0]?.render().length ?? 0;
  progress(`  ${sent} requests; one cluster's /metrics is ${exposition} bytes`);

  // Baseline: the same count, only incrementing counters.
  const counters = Array.from({ length: 1024 }, () => ({ value: 0 }));
  const baseStart = performance.now();
  for (let i = 0; i < sent; i++) (counters[i & 1023] as { value: number }).value += 1;
  const baseline = sent / ((performance.now() - baseStart) / 1000);
  for (const sim of sims) sim.close();
  report('kube-sim.traffic.requests', simulated, 'requests/s', baseline);
}

async function watchEventsPerSecond(): Promise<void> {
  progress(`watch: ${WRITES} ConfigMap writes to ${WATCHERS} HTTP watchers`);
  const sim = await createKubeSim({ clusters: ['bench'] });
  const cluster = sim.cluster('bench');
  const configmaps = RESOURCES.find((r) => r.group === '' && r.resource === 'configmaps');
  if (configmaps === undefined) throw new Error('configmaps missing from the resource registry');
  let received = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  const requests = await Promise.all(
    Array.from(
      { length: WATCHERS },
      () =>
        new Promise<ReturnType<typeof get>>((resolve, reject) => {
          const req = get(`${cluster.url}/api/v1/namespaces/default/configmaps?watch=1`, (res) => {
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) {
                received++;
              }
              if (received >= WATCHERS * WRITES) resolveAll();
            });
            resolve(req);
          });
          req.on('error', reject);
        }),
    ),
  );
  const start = performance.now();
  for (let i = 0; i < WRITES; i++) {
    cluster.store.create(configmaps, 'default', {
      metadata: { name: `cm-${i}` },
      data: { key: String(i) },
    });
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  await all;
  const delivered = (WATCHERS * WRITES) / ((performance.now() - start) / 1000);
  for (const req of requests) req.destroy();
  await sim.close();

  const store = new ClusterStore();
  const baseStart = performance.now();
  for (let i = 0; i < WRITES; i++) {
    store.create(configmaps, 'default', {
      metadata: { name: `cm-${i}` },
      data: { key: String(i) },
    });
  }
  const writes = WRITES / ((performance.now() - baseStart) / 1000);
  report('kube-sim.watch.events', delivered, 'events/s', writes);
}

export async function run(): Promise<void> {
  requestsPerSecond();
  await watchEventsPerSecond();
}
