/**
 * `npm start`: Aviary on its embedded defaults, in one process, with nothing to install.
 *
 * The orchestrator as `main.ts` wires it (event log, projections, engine, outbox relay, webhook
 * dispatcher, HTTP API), with two differences for a machine that has nothing installed:
 *
 * - the event log is embedded (PGlite), a fresh one per run in `<AVIARY_DATA_DIR>/run-<time>-…`
 *   (`AVIARY_PG_URL` still switches to PostgreSQL);
 * - instead of NATS, the outbox drains to an in-process bus, and instead of real agents and an
 *   analyzer a `SimulatedFleet` of four clusters in two regions (eu-1, eu-2 in `eu`; us-1, us-2 in
 *   `us`) answers the commands and analysis requests on it at the message level, with the same
 *   subjects and the same proto JSON as the real ones.
 *
 * Then, unless `AVIARY_DEMO=false`, it plays a story: it applies the Rollout `demo/podinfo`
 * (waves `canary` = eu-1 with a short bake, `europe` = region eu, `rest` = every other cluster),
 * and the agents report v1 (the bootstrap release), then v2 (good: it walks every wave), then v3
 * (faulty: its checks fail in eu-1, which rolls back, the fleet halts and the release fails), each
 * once the previous release has finished. A timeline of what the engine decided is printed as it
 * is recorded: it is read from the event log (a subscription), in the projections' words
 * (`summarize`), not written by the story. The process keeps running, with the HTTP API up, until
 * Ctrl-C (SIGINT) or SIGTERM.
 *
 * Why a fresh log per run: the simulated clusters live in this process's memory, so after a
 * restart they are new, empty clusters, while an old log would remember them running v2. The
 * embedded log therefore starts afresh each run (old runs stay on disk, beside it, to be looked
 * at or deleted). On PostgreSQL, whose log cannot be set aside that way, the story is skipped
 * when `demo/podinfo` already exists there.
 */
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type EventStore,
  OutboxRelay,
  type RecordedEvent,
  type Subscription,
} from '@aviary/event-store';
import { InProcessBus, messagingNamespace } from '@aviary/messaging';
import { configFields, createLogger, loadConfigOrExit, runService, z } from '@aviary/platform';
import type {
  AnalysisOutcomeJson,
  ReleaseCreatedJson,
  ReleaseFinishedJson,
  ReleaseStartedJson,
  WorkloadRefJson,
} from '@aviary/proto';
import { createApiServer, findLogHead, parseApiTokens } from './api/index.ts';
import { Engine } from './engine/engine.ts';
import { applicationStreamId } from './engine/ids.ts';
import { openEventLog } from './event-log.ts';
import { jetStreamOutboxPublisher } from './outbox-publisher.ts';
import type { Actor } from './ports.ts';
import { createReadModel, Projector } from './projections/index.ts';
import { clusterOf, summarize } from './projections/summary.ts';
import { SimulatedFleet } from './simulation/simulated-fleet.ts';
import { HttpWebhookCaller } from './webhooks/caller.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';

const SERVICE = 'aviary-dev';

const configSchema = z.object({
  /** AVIARY_PG_URL: use this PostgreSQL for the event log instead of the embedded PGlite. */
  pgUrl: configFields.url(['postgres', 'postgresql']).optional(),
  pgPoolSize: z.number().int().min(1).max(100).default(8),
  /** AVIARY_DATA_DIR: where the embedded event logs are kept, one sub-directory per run. */
  dataDir: z.string().min(1).default('.data/dev'),
  /** AVIARY_HTTP_HOST / AVIARY_HTTP_PORT: where the HTTP API listens (port 0: any free port). */
  httpHost: z.string().min(1).default('127.0.0.1'),
  httpPort: z.number().int().min(0).max(65_535).default(8080),
  /** AVIARY_API_TOKENS: `name:role:token,…`; unset: an admin token generated for this run. */
  apiTokens: z.string().optional(),
  /** AVIARY_DEMO: play the story (v1, v2, v3 of demo/podinfo); false: just the system. */
  demo: z.boolean().default(true),
  logLevel: configFields.logLevel().default('info'),
  /** AVIARY_LOG_PRETTY: readable lines for people (default here); false for JSON lines. */
  logPretty: z.boolean().default(true),
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });
/**
 * The engine's own info lines (spec applied, cluster registered, release created/finished) say
 * what the timeline says from the log: here they are shown from `warn` on, unless a more
 * detailed level was asked for.
 */
const engineLogger = logger.child(
  { component: 'engine' },
  { level: config.logLevel === 'info' ? 'warn' : config.logLevel },
);

/** The demo's simulated fleet: two regions, two clusters each. */
const CLUSTERS = [
  { name: 'eu-1', labels: { region: 'eu' } },
  { name: 'eu-2', labels: { region: 'eu' } },
  { name: 'us-1', labels: { region: 'us' } },
  { name: 'us-2', labels: { region: 'us' } },
] as const;
const APPLICATION = { namespace: 'demo', name: 'podinfo' } as const;
const WORKLOAD: WorkloadRefJson = { ...APPLICATION, kind: 'WORKLOAD_KIND_DEPLOYMENT' };
const DEMO_ACTOR: Actor = { name: 'aviary-dev', role: 'admin' };
/** The revisions the agents report one after the other, and what each one is. */
const STORY = [
  { revision: 'v1', what: 'the bootstrap release: the first revision they run' },
  { revision: 'v2', what: 'a good release, it should walk every wave' },
  { revision: 'v3', what: 'a faulty one: its success rate is too low, its checks will fail' },
] as const;
const FAULTY = 'v3';
/** A simulated heartbeat this often, as agents send theirs. */
const HEARTBEAT_EVERY_MS = 30_000;

const DEMO_ROLLOUT = `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: ${APPLICATION.name}, namespace: ${APPLICATION.namespace} }
spec:
  targetRef: { kind: Deployment, name: ${APPLICATION.name} }
  provider: istio
  service: { port: 9898 }
  analysis:
    intervalMs: 1000
    threshold: 2
    stepWeight: 25
    maxWeight: 75
    metrics:
      - { name: request-success-rate, intervalMs: 1000, thresholdRange: { min: 99 } }
  fleet:
    failurePolicy: halt
    waves:
      - { name: canary, clusters: [eu-1], bake: 3s }
      - { name: europe, selector: { matchLabels: { region: eu } }, maxParallel: all }
      - { name: rest, selector: { matchLabels: {} }, maxParallel: all }
`;

// -------------------------------------------------------------------------------------------
// Output for people: in the pretty (default) mode concise lines of our own on standard output,
// else JSON log lines with the same text as `msg` and the facts as fields.

type Fields = Readonly<Record<string, unknown>>;

function clock(at: Date = new Date()): string {
  return at.toISOString().slice(11, 23);
}

function say(fields: Fields, text: string, at?: Date): void {
  if (!logger.isLevelEnabled('info')) return;
  if (config.logPretty) {
    // Synchronous, as the logger's own writes, so that lines keep their order.
    writeSync(1, `${clock(at)}  ${text}\n`);
  } else {
    logger.info(at === undefined ? fields : { ...fields, recordedAt: at.toISOString() }, text);
  }
}

// -------------------------------------------------------------------------------------------
// The timeline: a subscription to the log, from its head, printing the events that tell the story.

/** Release-stream events worth a line (the rest are inputs and effects: see the API's timeline). */
const SHOWN = new Set([
  'ReleaseStarted',
  'WaveStarted',
  'WaveBaking',
  'WaveSucceeded',
  'ClusterCanaryInitialized',
  'CanaryWeightApplied',
  'CanaryCheckFailed',
  'CanaryCheckHeld',
  'CanaryPromoted',
  'CanaryRolledBack',
  'ClusterSkipped',
  'ClusterRequeued',
  'FleetHalted',
  'OperatorActionRecorded',
  'ReleasePaused',
  'ReleaseResumed',
  'ReleaseFinished',
]);

interface ReleaseSeen {
  readonly releaseId: string;
  readonly revision: string;
  readonly waves: string[];
  outcome?: string;
  reason?: string;
  finishedAt?: RecordedEvent['position'];
}

class Timeline {
  readonly releases = new Map<string, ReleaseSeen>();
  #subscription: Subscription | undefined;
  #waiters: { revision: string; resolve: (release: ReleaseSeen) => void }[] = [];

  start(store: EventStore, from: RecordedEvent['position']): void {
    this.#subscription = store.subscribe({
      from,
      handler: async (events) => {
        for (const event of events) this.#print(event);
      },
      onError: (error, attempt) => logger.warn({ err: error, attempt }, 'timeline: retrying'),
    });
  }

  async stop(): Promise<void> {
    await this.#subscription?.stop();
  }

  /** Resolves once everything recorded so far is printed (so that the story's lines follow it). */
  async settled(store: EventStore, signal: AbortSignal): Promise<void> {
    await this.#subscription?.waitFor(await findLogHead(store, signal), signal);
  }

  /** Resolves once the release of `revision` has finished (as recorded in the log). */
  finished(revision: string, signal: AbortSignal): Promise<ReleaseSeen> {
    const done = [...this.releases.values()].find(
      (r) => r.revision === revision && r.outcome !== undefined,
    );
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const waiter = { revision, resolve };
      this.#waiters.push(waiter);
      signal.addEventListener(
        'abort',
        () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  #print(event: RecordedEvent): void {
    const { streamId, type, data } = event;
    if (streamId.startsWith('cluster-')) {
      const heartbeat = (data as { observation?: { heartbeat?: { labels?: object } } }).observation
        ?.heartbeat;
      // Recorded when something changed (or a minute passed): the first one registers the cluster.
      if (heartbeat !== undefined && event.streamVersion === 1n) {
        const cluster = streamId.slice('cluster-'.length);
        const labels = Object.entries(heartbeat.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
        say(
          { timeline: true, cluster, type: 'ClusterRegistered', labels: heartbeat.labels },
          `cluster ${cluster} registered (${labels || 'no labels'})`,
          event.recordedAt,
        );
      }
      return;
    }
    if (streamId.startsWith('rollout-')) {
      if (type === 'RolloutSpecApplied') {
        const application = streamId.slice('rollout-'.length).replace('.', '/');
        say(
          { timeline: true, application, type, actor: event.metadata.actor },
          `Rollout ${application} applied by ${event.metadata.actor ?? 'someone'}`,
          event.recordedAt,
        );
      } else if (type === 'ReleaseCreated') {
        const d = data as ReleaseCreatedJson;
        const releaseId = d.releaseId ?? '?';
        const revision = d.revision?.id ?? '?';
        this.releases.set(releaseId, { releaseId, revision, waves: [] });
        const why = d.cluster ? ` (seen in ${d.cluster})` : d.reason ? ` (${d.reason})` : '';
        say(
          { timeline: true, release: releaseId, type, revision },
          `${releaseId}  release created for revision ${revision}${why}`,
          event.recordedAt,
        );
      }
      return;
    }
    if (!streamId.startsWith('release-') || !SHOWN.has(type)) return;
    const releaseId = streamId.slice('release-'.length);
    const release = this.releases.get(releaseId);
    if (type === 'ReleaseStarted' && release !== undefined) {
      release.waves.splice(
        0,
        release.waves.length,
        ...((data as ReleaseStartedJson).waves ?? []).map((w) => w.name ?? '?'),
      );
    }
    const summary = summarize(type, data, event.metadata.actor, {
      waveName: (index) => release?.waves[index],
    });
    const fields: Record<string, unknown> = { timeline: true, release: releaseId, type };
    const cluster = clusterOf(data);
    if (cluster !== undefined) fields.cluster = cluster;
    if (type === 'ReleaseFinished') {
      const d = data as ReleaseFinishedJson;
      fields.outcome = d.outcome;
      fields.revision = release?.revision;
    }
    say(fields, `${releaseId}  ${summary}`, event.recordedAt);
    if (type === 'ReleaseFinished' && release !== undefined) {
      const d = data as ReleaseFinishedJson;
      release.outcome = d.outcome ?? 'RELEASE_OUTCOME_UNSPECIFIED';
      if (d.reason) release.reason = d.reason;
      release.finishedAt = event.position;
      for (const waiter of this.#waiters.filter((w) => w.revision === release.revision)) {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        waiter.resolve(release);
      }
    }
  }
}

/** `RELEASE_OUTCOME_SUCCEEDED` → `succeeded`. */
const outcomeWord = (outcome: string | undefined): string =>
  (outcome ?? 'unknown').replace(/^RELEASE_OUTCOME_/, '').toLowerCase();

// -------------------------------------------------------------------------------------------

await runService({
  name: SERVICE,
  logger,
  start: async (signal, { onStop }) => {
    // The embedded log: a fresh one per run (see the top of this file).
    let dataDir = config.dataDir;
    if (!config.pgUrl) {
      await mkdir(config.dataDir, { recursive: true });
      const earlier = (await readdir(config.dataDir)).filter((n) => n.startsWith('run-')).length;
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      dataDir = await mkdtemp(join(config.dataDir, `run-${stamp}-`));
      say(
        { dataDir, earlierRuns: earlier },
        `event log: a fresh embedded one for this run, in ${dataDir}` +
          (earlier > 0
            ? ` (${earlier} earlier run(s) kept beside it; delete ${config.dataDir} to drop them)`
            : ''),
      );
    }
    const log = await openEventLog({ ...config, dataDir }, logger);
    const { store, where } = log;
    onStop('event log', () => log.close());
    const head = await findLogHead(store, signal);
    logger.info({ eventLog: where }, 'event log open');

    const projector = new Projector({ store, db: log.projections, logger });
    projector.start();
    onStop('projections', () => projector.stop());

    const timeline = new Timeline();
    timeline.start(store, head);
    onStop('timeline', () => timeline.stop());

    // The bus between the orchestrator and its (simulated) agents and analyzer. The simulated
    // fleet answers asynchronously, as it would over NATS.
    const namespace = messagingNamespace();
    const bus = new InProcessBus({
      onHandlerError: (error, message) =>
        logger.warn({ err: error, subject: message.subject }, 'bus subscriber failed'),
    });
    let engine: Engine | undefined;
    const fleet = new SimulatedFleet({
      namespace,
      clusters: CLUSTERS,
      observe: (observation) => engine?.ingestObservation(observation) ?? Promise.resolve(),
      verdict: (verdict) => engine?.recordVerdict(verdict) ?? Promise.resolve(),
      behaviour: (revision): AnalysisOutcomeJson =>
        revision === FAULTY ? 'ANALYSIS_OUTCOME_FAILED' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
    });
    let stopping = false;
    bus.subscribe(`${namespace.subjectRoot}.>`, (message) => {
      logger.debug({ subject: message.subject, msgId: message.msgId }, 'bus message');
      setImmediate(() => {
        fleet.deliver(message).catch((error: unknown) => {
          if (!stopping) logger.warn({ err: error, subject: message.subject }, 'simulated fleet');
        });
      });
    });

    engine = new Engine({
      store,
      namespace,
      logger: engineLogger,
      publishCommand: async (subject, payload, msgId) => {
        await bus.publish(subject, payload, { msgId });
      },
    });
    const recovered = await engine.recover(signal);
    if (recovered.events > 0) logger.info(recovered, 'recovered from the log');
    const relay = new OutboxRelay({
      outbox: store.outbox,
      publisher: jetStreamOutboxPublisher(bus),
      logger,
      pollIntervalMs: 100,
    });
    relay.start();
    onStop('outbox relay', () => relay.stop());
    engine.start();
    const running = engine;
    onStop('engine', () => {
      stopping = true;
      return running.stop();
    });

    const dispatcher = new WebhookDispatcher({
      store,
      caller: new HttpWebhookCaller({
        gateOpen: (app, gate) => running.gateOpen(app, gate),
        logger,
      }),
      recordWebhookResult: (releaseId, result) => running.recordWebhookResult(releaseId, result),
      logger,
    });
    dispatcher.start();
    onStop('webhook dispatcher', () => dispatcher.stop());

    // The HTTP API. Without AVIARY_API_TOKENS an admin token is generated for this run and
    // printed once: printing a freshly generated *development* token to the terminal of the
    // person who started it is intended here (it is how they can use the API). Configured tokens
    // are never printed or logged.
    const generated =
      config.apiTokens === undefined ? randomBytes(24).toString('base64url') : undefined;
    const api = createApiServer({
      operations: running,
      readModel: createReadModel(log.projections),
      store,
      tokens: generated === undefined ? (config.apiTokens ?? '') : `dev:admin:${generated}`,
      logger,
      ready: () => projector.caughtUp,
    });
    const address = await api.listen(config.httpPort, config.httpHost);
    onStop('http api', () => api.close());
    logger.info({ url: address.url }, 'http api listening');
    if (generated !== undefined) {
      say(
        { url: address.url, tokenName: 'dev', role: 'admin' },
        `HTTP API on ${address.url}; its admin token for this run (set AVIARY_API_TOKENS to choose your own):\n` +
          `    export AVIARY_TOKEN=${generated}`,
      );
    } else {
      say(
        { url: address.url, tokens: parseApiTokens(config.apiTokens ?? '').length },
        `HTTP API on ${address.url}, with the tokens of AVIARY_API_TOKENS ` +
          '(for the commands below: export AVIARY_TOKEN=<one of them>)',
      );
    }

    await fleet.heartbeats();
    await timeline.settled(store, signal);
    const heartbeats = setInterval(() => {
      fleet.heartbeats().catch((error: unknown) => logger.warn({ err: error }, 'heartbeat'));
    }, HEARTBEAT_EVERY_MS);
    onStop('simulated heartbeats', () => clearInterval(heartbeats));

    const hint = `curl -H "Authorization: Bearer $AVIARY_TOKEN" ${address.url}/api/v1/releases`;
    logger.info(
      { eventLog: where, bus: 'in-process bus', clusters: CLUSTERS.map((c) => c.name) },
      'Aviary dev is up: the event log, projections, engine and HTTP API, with a simulated fleet ' +
        'on an in-process bus. Ctrl-C stops.',
    );

    if (!config.demo) {
      say({ demo: 'off' }, `AVIARY_DEMO=false: no story. Try: ${hint}`);
      return undefined;
    }
    if (
      config.pgUrl &&
      (await store.streamVersion(applicationStreamId(APPLICATION), signal)) !== undefined
    ) {
      say(
        { demo: 'skipped' },
        `demo: skipped, ${APPLICATION.namespace}/${APPLICATION.name} already exists in this ` +
          'PostgreSQL log, from an earlier run whose simulated clusters are gone. Use a fresh ' +
          `database, or the embedded log (unset AVIARY_PG_URL). Its history: ${hint}`,
      );
      return undefined;
    }

    // The story runs after start, so that the service is "ready" at once; a stop cancels it.
    const story = new AbortController();
    const cancel = () => story.abort(new Error('stopping'));
    signal.addEventListener('abort', cancel, { once: true });
    const startedAt = performance.now();
    const playing = (async () => {
      const tell = async (text: string) => {
        await timeline.settled(store, story.signal);
        say({ demo: 'story' }, `demo  ${text}`);
      };
      await tell(
        `applying the Rollout ${APPLICATION.namespace}/${APPLICATION.name}: waves canary (eu-1, ` +
          'then a 3 s bake), europe (region eu), rest (every other cluster); one analysis a second',
      );
      await running.applySpec(DEMO_ROLLOUT, DEMO_ACTOR);
      const finished: { releaseId: string; revision: string; outcome: string; reason?: string }[] =
        [];
      for (const step of STORY) {
        await tell(`the agents report ${step.revision} (${step.what})`);
        const seen = timeline.finished(step.revision, story.signal);
        await fleet.deploy(WORKLOAD, step.revision);
        const release = await seen;
        finished.push({
          releaseId: release.releaseId,
          revision: release.revision,
          outcome: release.outcome ?? '',
          ...(release.reason ? { reason: release.reason } : {}),
        });
        // The API answers with what the log says once the projections have it.
        if (release.finishedAt) await projector.waitFor(release.finishedAt, story.signal);
      }
      const primaries = CLUSTERS.map((c) => `${c.name} ${fleet.primaryRevision(c.name, WORKLOAD)}`);
      const wallMs = Math.round(performance.now() - startedAt);
      const lines = finished.map(
        (r) =>
          `    ${r.releaseId}  revision ${r.revision}  ${outcomeWord(r.outcome)}${r.reason ? `: ${r.reason}` : ''}`,
      );
      say(
        {
          demo: 'finished',
          wallMs,
          releases: finished,
          primaries: Object.fromEntries(
            CLUSTERS.map((c) => [c.name, fleet.primaryRevision(c.name, WORKLOAD)]),
          ),
          api: address.url,
        },
        `demo finished in ${(wallMs / 1000).toFixed(1)} s:\n${lines.join('\n')}\n` +
          `    the clusters' primaries now run: ${primaries.join(', ')}\n` +
          `Look at it through the API (releases, then .../releases/<id>/timeline, /canaries, /api/v1/clusters):\n` +
          `    ${hint}\n` +
          'Aviary keeps running; Ctrl-C stops.',
      );
    })().catch((error: unknown) => {
      if (story.signal.aborted) return;
      logger.error({ err: error }, 'demo: the story failed');
    });
    onStop('demo story', async () => {
      cancel();
      await playing;
    });
    return undefined;
  },
});
