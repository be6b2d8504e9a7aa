/**
 * The end-to-end fleet: everything Aviary runs against in production except the orchestrator,
 * each in its own process, for the orchestrator's end-to-end tests and the fleet benchmark.
 *
 * - **kube-sim** (one process): clusters `eu-1`, `eu-2` (region `eu`) and `us-1` (region `us`)
 *   by default, with controllers (Pods Ready after `readyDelayMs`) and the traffic simulator
 *   sending `rps` requests a second to `shop/podinfo` in every cluster, through whatever routing
 *   object the agent creates (the harness speaks Istio: VirtualService weights). Every cluster
 *   has namespace `shop` with the target Deployment `podinfo` (image
 *   `ghcr.io/stefanprodan/podinfo:<version>`, container port `http` 9898, a tracked ConfigMap).
 *   No Service exists until the agent bootstraps the target (`initializeTarget` creates the apex
 *   Service `podinfo`; the agent refuses to adopt one it does not own), so requests are unrouted,
 *   and absent from the metrics, until then.
 * - **Versions and behaviours**: `setVersion` patches the target's image, as GitOps would;
 *   a version's behaviour (`setBehaviour`: error rate, error code, latency) travels in the pod
 *   template's `sim.aviary.dev/*` annotations, written together with the image, so the same
 *   version gives the same template, hence the same revision id, in every cluster, and a
 *   promotion carries its behaviour to the primary.
 * - **Prometheus** (real) scraping every cluster's mesh metrics every `scrapeIntervalMs` (1 s),
 *   each series labelled `cluster="<name>"`.
 * - **cluster-agent** (one process per cluster, `services/cluster-agent/src/main.ts`) and the
 *   **analyzer** (`services/analyzer/src/main.ts`, Prometheus provider with cluster label
 *   `cluster` and a short ingestion delay), all in one unique messaging namespace on the real
 *   NATS, whose streams the harness creates first and deletes at `stop()`.
 *
 * `stop()` ends every process the fleet started (also those started with `spawn`) and removes
 * streams, database and files; it is idempotent and meant for `afterAll`, so it also runs when a
 * test fails. If the test process dies without it, an exit hook SIGKILLs the children.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrafficAnnotation } from '@aviary/kube-sim';
import {
  connectNats,
  ensureStreams,
  type MessagingNamespace,
  messagingNamespace,
  type NatsClient,
  streamNames,
  subjectFilters,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { type LogLine, type SpawnedService, spawnService } from '@aviary/platform/testing';
import type { AgentCommandJson } from '@aviary/proto';
import type { Subscription } from '@nats-io/transport-node';
import pg from 'pg';
import { testEnv, uniqueName } from '../env.ts';
import { type FleetBus, openFleetBus } from './bus.ts';
import { CLUSTER_LABEL, type FleetPrometheus, startFleetPrometheus } from './fleet-prometheus.ts';
import {
  type ExitStatus,
  exitStatusOf,
  freeConsecutivePorts,
  type KubeSimProcess,
  startKubeSimProcess,
} from './kube-sim-process.ts';
import { type KubeObject, pathOf, type SimApi, simApi } from './sim-api.ts';

const AGENT_MAIN = fileURLToPath(
  new URL('../../services/cluster-agent/src/main.ts', import.meta.url),
);
const ANALYZER_MAIN = fileURLToPath(
  new URL('../../services/analyzer/src/main.ts', import.meta.url),
);

/** The application every cluster runs, as the rollout spec and the agents' commands name it. */
export const TARGET = {
  namespace: 'shop',
  name: 'podinfo',
  /** The apex Service the agent generates (with `-primary` and `-canary`). */
  service: 'podinfo',
  /** ServiceSpec of `initializeTarget`: port 80 to the container port named `http`. */
  port: 80,
  targetPort: 'http',
  containerPort: 9898,
  container: 'podinfo',
  imageRepository: 'ghcr.io/stefanprodan/podinfo',
  /** The tracked ConfigMap (`envFrom`): part of the revision. */
  configMap: 'podinfo-config',
} as const;

export interface FleetClusterSpec {
  /** A DNS-1123 label: the cluster's name for the agent, subjects and metrics. */
  readonly name: string;
  /** Sent in heartbeats, for wave selectors (`region=eu`). */
  readonly labels: Readonly<Record<string, string>>;
}

export const DEFAULT_FLEET_CLUSTERS: readonly FleetClusterSpec[] = [
  { name: 'eu-1', labels: { region: 'eu' } },
  { name: 'eu-2', labels: { region: 'eu' } },
  { name: 'us-1', labels: { region: 'us' } },
];

/** How a version answers: unset fields are the simulator's defaults (no errors, p50 10 / p99 50 ms). */
export interface VersionBehaviour {
  /** Fraction of requests answered with `errorCode`, 0–1. */
  readonly errorRate?: number;
  /** Status of those errors; 500 by default. */
  readonly errorCode?: number;
  /** Lognormal latency by median and 99th percentile, in ms. */
  readonly latencyMs?: { readonly p50: number; readonly p99: number };
}

export interface FleetOptions {
  /** Default `DEFAULT_FLEET_CLUSTERS`. */
  readonly clusters?: readonly FleetClusterSpec[];
  /** Requests per second to `shop/podinfo` in every cluster; default 50. */
  readonly rps?: number;
  /** How long a Pod takes to become Ready; default 100 ms. */
  readonly readyDelayMs?: number;
  /** The target's replicas; default 2. */
  readonly replicas?: number;
  /** The version every cluster starts with; default `v1`. */
  readonly initialVersion?: string;
  /** Behaviours known from the start (the initial version's included). */
  readonly behaviours?: Readonly<Record<string, VersionBehaviour>>;
  /** Agents' AVIARY_HEARTBEAT_INTERVAL_MS; default 1 s. */
  readonly heartbeatIntervalMs?: number;
  /** Agents' AVIARY_LEASE_MS; default 60 s. */
  readonly leaseMs?: number;
  /** Prometheus scrape interval; default 1 s. */
  readonly scrapeIntervalMs?: number;
  /** Analyzer's AVIARY_PROMETHEUS_INGESTION_DELAY_MS; default 2 s (see README.md). */
  readonly ingestionDelayMs?: number;
  /** Analyzer's AVIARY_ROUND_INTERVAL_MS; default 1 s. */
  readonly analyzerRoundIntervalMs?: number;
  /**
   * Create an empty PostgreSQL database for the orchestrator's event log (`AVIARY_PG_URL` in
   * `orchestratorEnv()`), dropped at `stop()`. Default false: the orchestrator gets an embedded
   * log directory inside the fleet's temporary directory instead.
   */
  readonly database?: boolean;
  /** Extra environment of every agent (e.g. `AVIARY_LOG_LEVEL: 'debug'`). */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** Extra environment of the analyzer. */
  readonly analyzerEnv?: Readonly<Record<string, string>>;
  /** Time allowed for each process to come up; default 20 s. */
  readonly startTimeoutMs?: number;
}

export interface FleetCluster extends FleetClusterSpec {
  /** The simulated API server (and `/metrics`), `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Path of the cluster's kubeconfig file, as the agent loads it. */
  readonly kubeconfig: string;
}

/** The routing object's split between primary and canary, in percent. */
export interface RouteWeights {
  readonly primary: number;
  readonly canary: number;
  /** Share of requests mirrored to the canary; 0 without mirroring. */
  readonly mirrorPercent: number;
  /** Whether the weighted route has header/cookie matches (A/B). */
  readonly matches: boolean;
}

/** One command an agent finished with, from its `command handled` log line. */
export interface AgentCommandLogEntry {
  readonly commandId: string;
  /** `SUCCEEDED`, `REJECTED` or (final) `FAILED`. */
  readonly outcome: string;
  readonly reason: string;
  readonly message: string;
  /** Answered from the stored result: nothing was applied again. */
  readonly duplicate: boolean;
  /** Delivery count of the message (above 1 after retriable failures or a crash). */
  readonly delivery: number;
  /** Rejected as malformed and terminated (never delivered again). */
  readonly terminated: boolean;
  /** Which process of this agent handled it: 0 the first, 1 after the first restart, … */
  readonly incarnation: number;
  /** When the agent logged it, epoch ms. */
  readonly atMs: number;
  /** The command as published, when the harness saw it on the command subject. */
  readonly command?: AgentCommandJson;
  /** Its case: `initializeTarget`, `scaleCanary`, `setRoutes`, `promoteCanary`, … */
  readonly action?: string;
}

export interface FleetAgent {
  readonly cluster: string;
  /** The current process's pid; undefined before the first start. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Log lines of the current process. */
  readonly lines: readonly LogLine[];
  /**
   * Sends `signal` (default SIGKILL: a crash; SIGTERM: a clean stop) and waits until the process
   * has exited.
   */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Starts a new process (a running one is stopped with SIGTERM first) and resolves once it runs
   * and consumes its commands.
   */
  restart(): Promise<void>;
}

export interface FleetProcess {
  readonly name: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** How it ended (SIGTERM stops end with code 0 when the service shuts down cleanly). */
  readonly exit?: ExitStatus;
}

export interface Fleet {
  readonly clusters: readonly FleetCluster[];
  /** The messaging namespace's name (AVIARY_MESSAGING_NAMESPACE of every service). */
  readonly messagingNamespace: string;
  readonly namespace: MessagingNamespace;
  /** The fleet's own NATS connection (streams, command capture, the bus). */
  readonly nats: NatsClient;
  readonly prometheus: FleetPrometheus;
  /** Milliseconds each start-up phase took, and `total`. */
  readonly timings: Readonly<Record<string, number>>;
  /** What an orchestrator process needs to join this fleet. */
  orchestratorEnv(): Record<string, string>;
  kubeconfig(cluster: string): string;
  /** `ghcr.io/stefanprodan/podinfo:<version>` */
  image(version: string): string;
  /** Sets the target's image (and the version's behaviour) in one cluster or in all at once. */
  setVersion(cluster: string, version: string): Promise<void>;
  /**
   * Sets how `version` answers once rolled out. Throws if a cluster already runs it (as target or
   * primary): a behaviour is part of the template, so set it before `setVersion`.
   */
  setBehaviour(version: string, behaviour: VersionBehaviour): Promise<void>;
  /** The routing object's weights in `cluster`; undefined before the target is initialized. */
  weights(cluster: string): Promise<RouteWeights | undefined>;
  /** The image `<name>-primary` runs; undefined before the target is initialized. */
  primaryImage(cluster: string): Promise<string | undefined>;
  /** The image of the target Deployment (the canary). */
  targetImage(cluster: string): Promise<string | undefined>;
  /** The simulated API of `cluster`, for anything else a test wants to read. */
  api(cluster: string): SimApi;
  agent(cluster: string): FleetAgent;
  /** The commands `cluster`'s agent finished with, in order, across its restarts. */
  agentCommandLog(cluster: string): readonly AgentCommandLogEntry[];
  /** The analyzer process (its log lines, `stop`). */
  readonly analyzer: SpawnedService;
  /** The fleet's observations, verdicts, commands and requests over NATS (opened once). */
  bus(): Promise<FleetBus>;
  /**
   * Starts another service (the orchestrator) with the fleet's isolation of the environment;
   * `stop()` stops it first.
   */
  spawn(name: string, entry: string, env: Readonly<Record<string, string>>): SpawnedService;
  /** Every process the fleet started, with its pid. */
  processes(): readonly FleetProcess[];
  /** Stops everything; idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Children that outlive a crashed test process are killed on its exit.

const livePids = new Set<number>();
let exitHookInstalled = false;

function track(pid: number | undefined): void {
  if (pid === undefined) return;
  livePids.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of livePids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    });
  }
}

function untrack(pid: number | undefined): void {
  if (pid !== undefined) livePids.delete(pid);
}

/**
 * The environment of a child: the parent's, with every `AVIARY_*` setting blanked (an empty
 * variable counts as unset) so that a developer's shell cannot change the fleet, JSON logs at
 * `info`, then `env`.
 */
function isolatedEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const blank: Record<string, string> = {};
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('AVIARY_') && !key.startsWith('AVIARY_TEST_')) blank[key] = '';
  }
  return { ...blank, AVIARY_LOG_PRETTY: 'false', AVIARY_LOG_LEVEL: 'info', ...env };
}

const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;

/** The `sim.aviary.dev/*` annotations of a behaviour; `null` removes one (strategic merge). */
function behaviourAnnotations(
  behaviour: VersionBehaviour | undefined,
): Record<string, string | null> {
  const latency = behaviour?.latencyMs;
  return {
    [TrafficAnnotation.errorRate]:
      behaviour?.errorRate === undefined ? null : String(behaviour.errorRate),
    [TrafficAnnotation.errorCode]:
      behaviour?.errorCode === undefined ? null : String(behaviour.errorCode),
    [TrafficAnnotation.latencyMs]:
      latency === undefined ? null : `p50=${latency.p50},p99=${latency.p99}`,
  };
}

function withoutNulls(record: Record<string, string | null>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) if (value !== null) out[key] = value;
  return out;
}

function validateBehaviour(version: string, behaviour: VersionBehaviour): void {
  const { errorRate, errorCode, latencyMs } = behaviour;
  const problems: string[] = [];
  if (errorRate !== undefined && !(errorRate >= 0 && errorRate <= 1)) {
    problems.push('errorRate must be within 0–1');
  }
  if (
    errorCode !== undefined &&
    !(Number.isInteger(errorCode) && errorCode >= 100 && errorCode <= 599)
  ) {
    problems.push('errorCode must be an HTTP status');
  }
  if (latencyMs !== undefined && !(latencyMs.p50 > 0 && latencyMs.p99 >= latencyMs.p50)) {
    problems.push('latencyMs needs 0 < p50 <= p99');
  }
  if (problems.length > 0) throw new Error(`behaviour of ${version}: ${problems.join('; ')}`);
}

const ACTIONS = [
  'initializeTarget',
  'scaleCanary',
  'setRoutes',
  'promoteCanary',
  'scaleCanaryToZero',
  'finalizeTarget',
  'renewLease',
] as const;

function actionOf(command: AgentCommandJson): string | undefined {
  return ACTIONS.find((action) => command[action] !== undefined);
}

const paths = {
  namespaces: '/api/v1/namespaces',
  configMaps: `/api/v1/namespaces/${TARGET.namespace}/configmaps`,
  deployments: `/apis/apps/v1/namespaces/${TARGET.namespace}/deployments`,
  deployment: (name: string) => `/apis/apps/v1/namespaces/${TARGET.namespace}/deployments/${name}`,
  virtualService: `/apis/networking.istio.io/v1beta1/namespaces/${TARGET.namespace}/virtualservices/${TARGET.service}`,
} as const;

function targetDeployment(
  image: string,
  replicas: number,
  annotations: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: TARGET.name, namespace: TARGET.namespace, labels: { app: TARGET.name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: TARGET.name } },
      template: {
        metadata: { labels: { app: TARGET.name }, annotations },
        spec: {
          containers: [
            {
              name: TARGET.container,
              image,
              ports: [{ name: TARGET.targetPort, containerPort: TARGET.containerPort }],
              envFrom: [{ configMapRef: { name: TARGET.configMap } }],
            },
          ],
        },
      },
    },
  };
}

/** Creates `shop`, the tracked ConfigMap and the target, and waits until it is Available. */
async function seedCluster(
  api: SimApi,
  image: string,
  replicas: number,
  annotations: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  await api.createIfMissing(paths.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: TARGET.namespace },
  });
  await api.createIfMissing(paths.configMaps, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: TARGET.configMap, namespace: TARGET.namespace },
    data: { PODINFO_UI_MESSAGE: 'hello from the fleet' },
  });
  await api.createIfMissing(paths.deployments, targetDeployment(image, replicas, annotations));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const deployment = await api.get(paths.deployment(TARGET.name));
    if (pathOf(deployment, 'status', 'readyReplicas') === replicas) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${api.url}: podinfo not ready: ${JSON.stringify(pathOf(deployment, 'status'))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function imageOfDeployment(deployment: KubeObject | undefined): string | undefined {
  const image = pathOf(deployment, 'spec', 'template', 'spec', 'containers', 0, 'image');
  return typeof image === 'string' ? image : undefined;
}

/** The weighted route of an Istio VirtualService (the one with the canary destination). */
function weightsOf(virtualService: KubeObject): RouteWeights {
  const http = pathOf(virtualService, 'spec', 'http');
  const routes = Array.isArray(http) ? (http as KubeObject[]) : [];
  const hostOf = (d: unknown) => pathOf(d, 'destination', 'host');
  const weighted =
    routes.find((r) => {
      const destinations = pathOf(r, 'route');
      return (
        Array.isArray(destinations) &&
        destinations.some((d) => hostOf(d) === `${TARGET.service}-canary`)
      );
    }) ?? routes[0];
  const destinations = pathOf(weighted, 'route');
  const list = Array.isArray(destinations) ? destinations : [];
  const weightOf = (host: string): number => {
    const destination = list.find((d) => hostOf(d) === host);
    if (destination === undefined) return 0;
    const weight = pathOf(destination, 'weight');
    // A lone destination without a weight takes everything, as Istio does.
    return typeof weight === 'number' ? weight : list.length === 1 ? 100 : 0;
  };
  const mirror = pathOf(weighted, 'mirror');
  const mirrorPercentage = pathOf(weighted, 'mirrorPercentage', 'value');
  return {
    primary: weightOf(`${TARGET.service}-primary`),
    canary: weightOf(`${TARGET.service}-canary`),
    mirrorPercent:
      mirror === undefined ? 0 : typeof mirrorPercentage === 'number' ? mirrorPercentage : 100,
    matches: Array.isArray(pathOf(weighted, 'match')),
  };
}

// ---------------------------------------------------------------------------------------------

/** Starts the fleet; everything it started is stopped again if any part fails to start. */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const startedAt = Date.now();
  const timings: Record<string, number> = {};
  const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await work();
    } finally {
      timings[phase] = Date.now() - t0;
    }
  };

  const specs = options.clusters ?? DEFAULT_FLEET_CLUSTERS;
  if (specs.length === 0) throw new Error('a fleet needs at least one cluster');
  const rps = options.rps ?? 50;
  const replicas = options.replicas ?? 2;
  const initialVersion = options.initialVersion ?? 'v1';
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
  const leaseMs = options.leaseMs ?? 60_000;
  const behaviours = new Map<string, VersionBehaviour>();
  for (const [version, behaviour] of Object.entries(options.behaviours ?? {})) {
    validateBehaviour(version, behaviour);
    behaviours.set(version, behaviour);
  }
  const image = (version: string) => `${TARGET.imageRepository}:${version}`;

  const name = uniqueName('fleet');
  const namespace = messagingNamespace(name);
  const logger = createLogger({ service: 'fleet-harness', level: 'silent' });

  // What has been started so far, for stop() (also after a failed start).
  const dir = await mkdtemp(join(tmpdir(), 'aviary-fleet-'));
  let nats: NatsClient | undefined;
  let capture: Subscription | undefined;
  let sim: KubeSimProcess | undefined;
  let prometheus: FleetPrometheus | undefined;
  let analyzer: SpawnedService | undefined;
  let database: string | undefined;
  let bus: Promise<FleetBus> | undefined;
  const agents = new Map<string, SpawnedService[]>();
  const extras: { name: string; service: SpawnedService }[] = [];
  const published = new Map<string, AgentCommandJson>();

  const spawnTracked = (entry: string, env: Readonly<Record<string, string>>): SpawnedService => {
    const service = spawnService(entry, { env: isolatedEnv(env) });
    const pid = service.child.pid;
    track(pid);
    void service.exited.then(() => {
      untrack(pid);
    });
    return service;
  };

  const agentEnv = (spec: FleetClusterSpec, kubeconfig: string): Record<string, string> => ({
    AVIARY_CLUSTER_NAME: spec.name,
    AVIARY_CLUSTER_LABELS: Object.entries(spec.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    AVIARY_KUBECONFIG: kubeconfig,
    AVIARY_HEARTBEAT_INTERVAL_MS: String(heartbeatIntervalMs),
    AVIARY_LEASE_MS: String(leaseMs),
    AVIARY_NATS_URL: testEnv.natsUrl,
    AVIARY_MESSAGING_NAMESPACE: name,
    ...options.agentEnv,
  });

  /** Starts `cluster`'s agent and waits until it watches the cluster and consumes commands. */
  const launchAgent = async (spec: FleetClusterSpec, kubeconfig: string): Promise<void> => {
    const service = spawnTracked(AGENT_MAIN, agentEnv(spec, kubeconfig));
    const incarnations = agents.get(spec.name) ?? [];
    incarnations.push(service);
    agents.set(spec.name, incarnations);
    await Promise.all([
      service.waitForLine(byMsg('agent running'), startTimeoutMs),
      service.waitForLine(byMsg('command stream found'), startTimeoutMs),
    ]);
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      const attempt = async (work: () => Promise<unknown>) => {
        try {
          await work();
        } catch (error) {
          errors.push(error);
        }
      };
      const stopService = (service: SpawnedService) =>
        attempt(async () => {
          if (service.child.exitCode !== null || service.child.signalCode !== null) return;
          await service.stop('SIGTERM', 10_000);
        });
      await attempt(async () => {
        if (bus !== undefined) await (await bus).close();
      });
      // The orchestrator first (it sends), then the services, then what they talk to.
      await Promise.all(extras.map((e) => stopService(e.service)));
      await Promise.all([
        ...[...agents.values()].flat().map(stopService),
        ...(analyzer === undefined ? [] : [stopService(analyzer)]),
      ]);
      await Promise.all([
        attempt(async () => sim?.stop()),
        attempt(async () => prometheus?.stop()),
      ]);
      await attempt(async () => {
        capture?.unsubscribe();
        if (nats === undefined) return;
        const jsm = await nats.jetstreamManager();
        for (const stream of Object.values(streamNames(namespace))) {
          await jsm.streams.delete(stream).catch(() => false);
        }
        await nats.close();
      });
      await attempt(async () => {
        if (database === undefined) return;
        const admin = new pg.Client({ connectionString: testEnv.postgresUrl });
        await admin.connect();
        try {
          await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        } finally {
          await admin.end();
        }
      });
      await attempt(() => rm(dir, { recursive: true, force: true }));
      if (errors.length > 0) throw new AggregateError(errors, 'stopping the fleet failed');
    })();
    return stopping;
  };

  try {
    // Everything starts as soon as what it needs is there; nothing waits for more. The slowest
    // part is Prometheus, which begins scraping new targets about five seconds after it starts,
    // so it starts first, with the clusters' ports chosen in advance.
    const basePort = await freeConsecutivePorts(specs.length);
    const endpoints = specs.map((spec, i) => ({
      spec,
      url: `http://127.0.0.1:${basePort + i}`,
      kubeconfig: join(dir, `${spec.name}.yaml`),
    }));
    const prometheusStarted = startFleetPrometheus({
      targets: endpoints.map((e) => ({ cluster: e.spec.name, hostPort: new URL(e.url).host })),
      scrapeIntervalMs: options.scrapeIntervalMs ?? 1000,
    }).then((p) => {
      prometheus = p;
      track(p.pid);
      void p.exited.then(() => untrack(p.pid));
      return p;
    });
    const natsReady = timed('nats', async () => {
      const client = await connectNats({
        servers: testEnv.natsUrl,
        name: `aviary-${name}`,
        logger,
      });
      nats = client;
      await ensureStreams(await client.jetstreamManager(), { namespace });
      // Every command as published, so the command log can say what each command was.
      capture = client.connection.subscribe(subjectFilters.commands(namespace), {
        callback: (error, message) => {
          if (error !== null) return;
          try {
            const command = JSON.parse(new TextDecoder().decode(message.data)) as AgentCommandJson;
            if (typeof command.commandId === 'string') published.set(command.commandId, command);
            const msgId = message.headers?.get('Nats-Msg-Id');
            if (msgId !== undefined && msgId !== '') published.set(msgId, command);
          } catch {
            // Not JSON: the agent rejects it; the log entry has no command.
          }
        },
      });
      await client.connection.flush();
      return client;
    });
    const simReady = timed('kubeSim', async () => {
      const started = await startKubeSimProcess({
        clusters: specs.map((s) => s.name),
        dir,
        basePort,
        readyDelayMs: options.readyDelayMs ?? 100,
        traffic: [`${TARGET.namespace}/${TARGET.service}=${rps}`],
        timeoutMs: startTimeoutMs,
      });
      sim = started;
      track(started.pid);
      void started.exited.then(() => untrack(started.pid));
      for (const e of endpoints) {
        const served = started.clusters.find((c) => c.name === e.spec.name);
        if (served?.url !== e.url || served.kubeconfig !== e.kubeconfig) {
          throw new Error(`kube-sim serves ${e.spec.name} at ${served?.url}, not ${e.url}`);
        }
      }
      return started;
    });
    const initialAnnotations = withoutNulls(behaviourAnnotations(behaviours.get(initialVersion)));
    const results = await Promise.allSettled([
      timed('prometheus', async () => (await prometheusStarted).waitUntilScraping(startTimeoutMs)),
      timed('database', async () => {
        if (options.database !== true) return;
        const admin = new pg.Client({ connectionString: testEnv.postgresUrl });
        await admin.connect();
        try {
          const db = uniqueName('fleet_log');
          await admin.query(`CREATE DATABASE ${db}`);
          database = db;
        } finally {
          await admin.end();
        }
      }),
      timed('seed', async () => {
        await simReady;
        await Promise.all(
          endpoints.map((e) =>
            seedCluster(
              simApi(e.url),
              image(initialVersion),
              replicas,
              initialAnnotations,
              startTimeoutMs,
            ),
          ),
        );
      }),
      timed('agents', async () => {
        await Promise.all([natsReady, simReady]);
        await Promise.all(endpoints.map((e) => launchAgent(e.spec, e.kubeconfig)));
      }),
      timed('analyzer', async () => {
        const [p] = await Promise.all([prometheusStarted, natsReady]);
        const service = spawnTracked(ANALYZER_MAIN, {
          AVIARY_NATS_URL: testEnv.natsUrl,
          AVIARY_MESSAGING_NAMESPACE: name,
          AVIARY_PROMETHEUS_URL: p.address,
          AVIARY_PROMETHEUS_CLUSTER_LABEL: CLUSTER_LABEL,
          AVIARY_PROMETHEUS_INGESTION_DELAY_MS: String(options.ingestionDelayMs ?? 2000),
          AVIARY_ROUND_INTERVAL_MS: String(options.analyzerRoundIntervalMs ?? 1000),
          ...options.analyzerEnv,
        });
        analyzer = service;
        await service.waitForLine(byMsg('ready'), startTimeoutMs);
      }),
      natsReady,
      simReady,
      prometheusStarted,
    ]);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length > 0) {
      throw failures.length === 1
        ? failures[0]
        : new AggregateError(failures, 'the fleet did not start');
    }
    const natsClient = await natsReady;
    const launchedPrometheus = await prometheusStarted;
    const clusters: FleetCluster[] = endpoints.map((e) => ({
      ...e.spec,
      url: e.url,
      kubeconfig: e.kubeconfig,
    }));
    const apis = new Map(clusters.map((c) => [c.name, simApi(c.url)]));
    const apiOf = (cluster: string): SimApi => {
      const api = apis.get(cluster);
      if (api === undefined) throw new Error(`no cluster ${cluster} in this fleet`);
      return api;
    };
    timings.total = Date.now() - startedAt;
    const analyzerService = analyzer;
    if (analyzerService === undefined) throw new Error('unreachable: the analyzer did not start');

    const clusterSpec = (cluster: string): FleetCluster => {
      const found = clusters.find((c) => c.name === cluster);
      if (found === undefined) throw new Error(`no cluster ${cluster} in this fleet`);
      return found;
    };
    const currentAgent = (cluster: string): SpawnedService | undefined =>
      agents.get(cluster)?.at(-1);
    const isRunning = (service: SpawnedService | undefined) =>
      service !== undefined && service.child.exitCode === null && service.child.signalCode === null;

    const fleet: Fleet = {
      clusters,
      messagingNamespace: name,
      namespace,
      nats: natsClient,
      prometheus: launchedPrometheus,
      timings,
      orchestratorEnv: () => ({
        AVIARY_NATS_URL: testEnv.natsUrl,
        AVIARY_MESSAGING_NAMESPACE: name,
        ...(database === undefined
          ? { AVIARY_DATA_DIR: join(dir, 'orchestrator') }
          : (() => {
              const url = new URL(testEnv.postgresUrl);
              url.pathname = `/${database}`;
              return { AVIARY_PG_URL: url.toString() };
            })()),
      }),
      kubeconfig: (cluster) => clusterSpec(cluster).kubeconfig,
      image,
      async setVersion(cluster, version) {
        const targets = cluster === 'all' ? clusters : [clusterSpec(cluster)];
        const patch = {
          spec: {
            template: {
              metadata: { annotations: behaviourAnnotations(behaviours.get(version)) },
              spec: { containers: [{ name: TARGET.container, image: image(version) }] },
            },
          },
        };
        await Promise.all(
          targets.map((c) => apiOf(c.name).patch(paths.deployment(TARGET.name), patch)),
        );
      },
      async setBehaviour(version, behaviour) {
        validateBehaviour(version, behaviour);
        const running = await Promise.all(
          clusters.flatMap((c) =>
            [TARGET.name, `${TARGET.name}-primary`].map(async (deployment) => {
              const found = imageOfDeployment(
                await apiOf(c.name).get(paths.deployment(deployment)),
              );
              return found === image(version) ? `${c.name}/${deployment}` : undefined;
            }),
          ),
        );
        const where = running.filter((r) => r !== undefined);
        if (where.length > 0) {
          throw new Error(
            `${version} already runs in ${where.join(', ')}: its behaviour is part of the pod ` +
              'template, so set it before rolling the version out',
          );
        }
        behaviours.set(version, behaviour);
      },
      async weights(cluster) {
        const vs = await apiOf(cluster).get(paths.virtualService);
        return vs === undefined ? undefined : weightsOf(vs);
      },
      async primaryImage(cluster) {
        return imageOfDeployment(
          await apiOf(cluster).get(paths.deployment(`${TARGET.name}-primary`)),
        );
      },
      async targetImage(cluster) {
        return imageOfDeployment(await apiOf(cluster).get(paths.deployment(TARGET.name)));
      },
      api: apiOf,
      agent(cluster) {
        const spec = clusterSpec(cluster);
        return {
          cluster,
          get pid() {
            return currentAgent(cluster)?.child.pid;
          },
          get running() {
            return isRunning(currentAgent(cluster));
          },
          get lines() {
            return currentAgent(cluster)?.lines ?? [];
          },
          async kill(signal = 'SIGKILL') {
            const service = currentAgent(cluster);
            if (service === undefined) return { code: null, signal: null };
            if (isRunning(service)) service.child.kill(signal);
            return service.exited;
          },
          async restart() {
            const service = currentAgent(cluster);
            if (service !== undefined && isRunning(service)) await service.stop('SIGTERM', 10_000);
            await launchAgent(spec, spec.kubeconfig);
          },
        };
      },
      agentCommandLog(cluster) {
        clusterSpec(cluster);
        const entries: AgentCommandLogEntry[] = [];
        for (const [incarnation, service] of (agents.get(cluster) ?? []).entries()) {
          for (const line of service.lines) {
            const handled = line.msg === 'command handled';
            if (!handled && line.msg !== 'malformed command rejected and terminated') continue;
            const commandId = String(line.commandId ?? '');
            const command = published.get(commandId);
            const action = command === undefined ? undefined : actionOf(command);
            entries.push({
              commandId,
              outcome: String(line.outcome ?? ''),
              reason: String(line.reason ?? ''),
              message: String(line.message ?? ''),
              duplicate: line.duplicate === true,
              delivery: typeof line.delivery === 'number' ? line.delivery : 1,
              terminated: !handled,
              incarnation,
              atMs: typeof line.time === 'string' ? Date.parse(line.time) : Number.NaN,
              ...(command === undefined ? {} : { command }),
              ...(action === undefined ? {} : { action }),
            });
          }
        }
        return entries;
      },
      analyzer: analyzerService,
      bus() {
        bus ??= openFleetBus(natsClient, namespace);
        return bus;
      },
      spawn(processName, entry, env) {
        const service = spawnTracked(entry, env);
        extras.push({ name: processName, service });
        return service;
      },
      processes() {
        const entry = (
          processName: string,
          pid: number | undefined,
          exit: ExitStatus | undefined,
        ): FleetProcess => ({
          name: processName,
          pid,
          running: exit === undefined && pid !== undefined,
          ...(exit === undefined ? {} : { exit }),
        });
        const ofService = (processName: string, service: SpawnedService) =>
          entry(processName, service.child.pid, exitStatusOf(service.child));
        return [
          ...(sim === undefined ? [] : [entry('kube-sim', sim.pid, sim.exitStatus())]),
          entry('prometheus', launchedPrometheus.pid, launchedPrometheus.exitStatus()),
          ...[...agents].flatMap(([cluster, incarnations]) =>
            incarnations.map((service) => ofService(`agent ${cluster}`, service)),
          ),
          ofService('analyzer', analyzerService),
          ...extras.map((extra) => ofService(extra.name, extra.service)),
        ];
      },
      stop,
    };
    return fleet;
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isPidAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
