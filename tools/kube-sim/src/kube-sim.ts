import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ControllerOptions,
  type Controllers,
  startControllers,
} from './controllers/controller-manager.ts';
import { createApiHandler } from './server.ts';
import { ClusterStore } from './store.ts';
import { type TrafficOptions, TrafficSimulator } from './traffic/traffic-simulator.ts';

/**
 * Several simulated Kubernetes clusters in one process, each an HTTP API server on its own
 * 127.0.0.1 port with its own in-memory store and kubeconfig.
 */
export interface KubeSimOptions {
  /** Cluster names; each becomes a kubeconfig cluster, context and (first one) current context. */
  readonly clusters: readonly string[];
  /** Interface to listen on; `127.0.0.1` unless told. */
  readonly host?: string;
  /** Port of the first cluster (the next ones count up); 0, the default, picks free ports. */
  readonly basePort?: number;
  /** Changes kept for watches to resume from; older resourceVersions answer 410 Expired. */
  readonly historyLimit?: number;
  /** Interval between BOOKMARK events on watches that allow them; 5 s unless told. */
  readonly bookmarkIntervalMs?: number;
  /**
   * Runs the Deployment/ReplicaSet/garbage-collection controllers and the simulated kubelet
   * (`true` or options). Off unless asked, so the bare API server writes nothing by itself.
   */
  readonly controllers?: ControllerOptions | boolean;
  /**
   * The traffic simulator of every cluster (`cluster.traffic`, metrics at `GET /metrics`); with
   * `services`, it starts ticking on a real timer unless `autoStart: false`.
   */
  readonly traffic?: TrafficOptions;
}

export interface SimulatedCluster {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The cluster's objects; tests and later controllers may read and write it directly. */
  readonly store: ClusterStore;
  /** The cluster's controllers, when started with `controllers`. */
  readonly controllers: Controllers | undefined;
  /** Simulated requests through the routing objects; their metrics at `<url>/metrics`. */
  readonly traffic: TrafficSimulator;
  /** A kubeconfig (JSON, which is YAML) for this cluster, its current context named after it. */
  kubeconfig(): string;
  /** Ends open watch streams, as an API server restart does; clients must re-watch or relist. */
  dropWatches(): void;
  /**
   * Holds back every change from the open watches (events and bookmarks) until `expireWatches`,
   * so that clients miss them.
   */
  holdWatches(): void;
  /**
   * Forgets the history (`store.compact()`) and ends every open watch with a `410 Expired` ERROR
   * event, as an API server does when a watch's version was compacted away: clients relist, and
   * so see what they missed. Releases `holdWatches`.
   */
  expireWatches(): void;
  close(): Promise<void>;
}

export interface KubeSim {
  readonly clusters: readonly SimulatedCluster[];
  /** The cluster named `name`; throws if there is none. */
  cluster(name: string): SimulatedCluster;
  /** One kubeconfig with every cluster, a context per cluster, the first one current. */
  kubeconfig(): string;
  close(): Promise<void>;
}

export interface ClusterOptions {
  readonly host?: string;
  readonly port?: number;
  readonly historyLimit?: number;
  readonly bookmarkIntervalMs?: number;
  readonly controllers?: ControllerOptions | boolean;
  readonly traffic?: TrafficOptions;
}

interface KubeconfigEntry {
  readonly name: string;
  readonly url: string;
}

function kubeconfigOf(entries: readonly KubeconfigEntry[]): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    // client-node refuses plain http unless TLS verification is off; there is no TLS to verify.
    clusters: entries.map((e) => ({
      name: e.name,
      cluster: { server: e.url, 'insecure-skip-tls-verify': true },
    })),
    users: [{ name: 'kube-sim', user: { token: 'kube-sim' } }],
    contexts: entries.map((e) => ({
      name: e.name,
      context: { cluster: e.name, user: 'kube-sim', namespace: 'default' },
    })),
    'current-context': entries[0]?.name ?? '',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export async function startCluster(
  name: string,
  options: ClusterOptions = {},
): Promise<SimulatedCluster> {
  const host = options.host ?? '127.0.0.1';
  const store = new ClusterStore(
    options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit },
  );
  const server: Server = createServer();
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const handler = createApiHandler(store, {
    serverAddress: `${host}:${port}`,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 5000,
  });
  const trafficOptions = options.traffic ?? {};
  const traffic = new TrafficSimulator(name, store, {
    ...trafficOptions,
    autoStart: trafficOptions.autoStart ?? (trafficOptions.services ?? []).length > 0,
  });
  server.on('request', (req, res) => {
    if (!traffic.handleMetrics(req, res)) handler.handle(req, res);
  });
  const url = `http://${host}:${port}`;
  const controllers =
    options.controllers === undefined || options.controllers === false
      ? undefined
      : startControllers(store, options.controllers === true ? {} : options.controllers);
  let closed: Promise<void> | undefined;
  return {
    name,
    url,
    store,
    controllers,
    traffic,
    kubeconfig: () => kubeconfigOf([{ name, url }]),
    dropWatches: () => handler.closeWatches(),
    holdWatches: () => handler.holdWatches(),
    expireWatches: () => {
      store.compact();
      handler.expireWatches();
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        controllers?.stop();
        traffic.close();
        handler.closeWatches();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

export async function createKubeSim(options: KubeSimOptions): Promise<KubeSim> {
  const names = new Set(options.clusters);
  if (names.size !== options.clusters.length) throw new Error('cluster names must be unique');
  const clusters: SimulatedCluster[] = [];
  try {
    for (const [index, name] of options.clusters.entries()) {
      clusters.push(
        await startCluster(name, {
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.basePort ? { port: options.basePort + index } : {}),
          ...(options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit }),
          ...(options.bookmarkIntervalMs === undefined
            ? {}
            : { bookmarkIntervalMs: options.bookmarkIntervalMs }),
          ...(options.controllers === undefined ? {} : { controllers: options.controllers }),
          ...(options.traffic === undefined ? {} : { traffic: options.traffic }),
        }),
      );
    }
  } catch (error) {
    await Promise.all(clusters.map((c) => c.close()));
    throw error;
  }
  return {
    clusters,
    cluster(name) {
      const found = clusters.find((c) => c.name === name);
      if (!found) throw new Error(`no simulated cluster named ${JSON.stringify(name)}`);
      return found;
    },
    kubeconfig: () => kubeconfigOf(clusters),
    async close() {
      await Promise.all(clusters.map((c) => c.close()));
    },
  };
}
