/**
 * `npm start` (`aviary dev`): the whole of Aviary in one process, on embedded defaults, with
 * nothing to install (docs/dev.md).
 *
 * - The orchestrator as `main.ts` wires it (event log, projections, engine, outbox relay, webhook
 *   dispatcher, HTTP API), its log embedded (PGlite), a fresh one per run in
 *   `<AVIARY_DATA_DIR>/run-<time>-…` (`AVIARY_PG_URL` switches to PostgreSQL).
 * - A Kubernetes simulator (`@aviary/kube-sim`) with four clusters in two regions (eu-1, eu-2 in
 *   `eu`; us-1, us-2 in `us`), each on a local port (a kubeconfig is written for `kubectl`), with
 *   controllers and live traffic to `demo/podinfo` (`dev/clusters.ts`).
 * - The real cluster agents, one per cluster, and the real analyzer, with the Datadog provider on
 *   the Datadog simulator fed by that traffic (`dev/services.ts`, `dev/metrics.ts`).
 * - Between them an in-process bus (`InProcessBus`), or NATS JetStream when `AVIARY_NATS_URL` is
 *   given: the same subjects, the same proto JSON, the same message ids as in production.
 *
 * Then, unless `AVIARY_DEMO=false`, it plays a story, driven as a user would drive it: it applies
 * the Rollout `demo/podinfo`, so the agents' v1 becomes the bootstrap release; then it sets the
 * Deployment's image to v2 in every cluster (a good release: it walks every wave), then to v3
 * (faulty: the simulator answers 30 % of its requests with 500, its checks fail in eu-1, which
 * rolls back, the fleet halts and the release fails), each once the previous release has finished.
 * The timeline is printed from the event log as it is recorded (`dev/timeline.ts`). The process
 * keeps running, with the HTTP API (and the dashboard at `/`) up, until Ctrl-C or SIGTERM.
 *
 * Why a fresh log per run: the simulated clusters live in this process's memory, so after a
 * restart they are new clusters, while an old log would remember them running v2. On PostgreSQL,
 * whose log cannot be set aside that way, the story is skipped when `demo/podinfo` already exists.
 * On NATS, the dev's own streams (`AVIARY_MESSAGING_NAMESPACE`, default `aviary-dev`) are purged
 * at start for the same reason.
 */
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OutboxRelay } from '@aviary/event-store';
import {
  connectNats,
  ensureStreams,
  InProcessBus,
  isValidNamespaceName,
  messagingNamespace,
  natsConnectOptions,
  streamNames,
} from '@aviary/messaging';
import { configFields, createLogger, loadConfigOrExit, runService, z } from '@aviary/platform';
import { createApiServer, findLogHead, parseApiTokens } from './api/index.ts';
import { startBusIngest } from './dev/bus-ingest.ts';
import { type ClusterSpec, DEMO_APP, startDemoClusters } from './dev/clusters.ts';
import { DEMO_DATADOG_KEYS, SUCCESS_RATE_TEMPLATES, startDemoMetrics } from './dev/metrics.ts';
import { type DevTransport, publisherOf, startAgents, startAnalyzer } from './dev/services.ts';
import { outcomeWord, Timeline } from './dev/timeline.ts';
import { Engine } from './engine/engine.ts';
import { applicationStreamId } from './engine/ids.ts';
import { startIngest } from './engine/ingest.ts';
import { openEventLog } from './event-log.ts';
import { instrumentEventStore, instrumentWebhookCaller, watchOrchestrator } from './metrics.ts';
import { jetStreamOutboxPublisher } from './outbox-publisher.ts';
import type { Actor } from './ports.ts';
import { createReadModel, Projector } from './projections/index.ts';
import { HttpWebhookCaller } from './webhooks/caller.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';

const SERVICE = 'aviary-dev';

const configSchema = z.object({
  /** AVIARY_PG_URL: use this PostgreSQL for the event log instead of the embedded PGlite. */
  pgUrl: configFields.url(['postgres', 'postgresql']).optional(),
  pgPoolSize: z.number().int().min(1).max(100).default(8),
  /** AVIARY_DATA_DIR: where the embedded event logs are kept, one sub-directory per run. */
  dataDir: z.string().min(1).default('.data/dev'),
  /** AVIARY_NATS_URL: NATS JetStream instead of the in-process bus (unset: in-process). */
  natsUrl: configFields.urlList(['nats', 'tls']).optional(),
  natsUser: z.string().optional(),
  natsPass: z.string().optional(),
  natsToken: z.string().optional(),
  /** AVIARY_MESSAGING_NAMESPACE: subject root and stream prefix on NATS; purged at start. */
  messagingNamespace: z
    .string()
    .refine(isValidNamespaceName, "must be 1-64 lowercase letters, digits, '_' or '-'")
    .default('aviary-dev'),
  /** AVIARY_HTTP_HOST / AVIARY_HTTP_PORT: where the HTTP API listens (port 0: any free port). */
  httpHost: z.string().min(1).default('127.0.0.1'),
  httpPort: z.number().int().min(0).max(65_535).default(8080),
  /** AVIARY_API_TOKENS: `name:role:token,…`; unset: an admin token generated for this run. */
  apiTokens: z.string().optional(),
  /** AVIARY_DEMO: play the story (v1, v2, v3 of demo/podinfo); false: just the system. */
  demo: z.boolean().default(true),
  /** AVIARY_DEV_RPS: simulated requests per second to demo/podinfo in every cluster. */
  devRps: z.number().min(1).max(10_000).default(50),
  logLevel: configFields.logLevel().default('info'),
  /** AVIARY_LOG_PRETTY: readable lines for people (default here); false for JSON lines. */
  logPretty: z.boolean().default(true),
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });
/**
 * The components' own info lines (engine decisions, agents' commands, analyzer rounds) say what
 * the timeline says from the log: here they are shown from `warn` on, unless a more detailed
 * level was asked for.
 */
const quiet = config.logLevel === 'info' ? 'warn' : config.logLevel;
const componentLogger = (component: string) => logger.child({ component }, { level: quiet });

/** The demo's fleet: two regions, two clusters each. */
const CLUSTERS: readonly ClusterSpec[] = [
  { name: 'eu-1', labels: { region: 'eu' } },
  { name: 'eu-2', labels: { region: 'eu' } },
  { name: 'us-1', labels: { region: 'us' } },
  { name: 'us-2', labels: { region: 'us' } },
];
const DEMO_ACTOR: Actor = { name: 'aviary-dev', role: 'admin' };
/** The faulty version's share of 500s: far below the Rollout's 99 % success rate. */
const FAULTY_ERROR_RATE = 0.3;
/**
 * One analysis a second. The Datadog simulator's points are added every 250 ms, so a window's
 * data is complete 250 ms after it closes; the analyzer waits 400 ms, and its verdict arrives
 * before the next tick (a check still unanswered then is held).
 */
const ANALYSIS_INTERVAL_MS = 1000;
const INGESTION_DELAY_MS = 400;

const DEMO_ROLLOUT = `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: ${DEMO_APP.name}, namespace: ${DEMO_APP.namespace} }
spec:
  targetRef: { kind: Deployment, name: ${DEMO_APP.name} }
  provider: istio
  service: { port: 80, targetPort: http }
  analysis:
    intervalMs: ${ANALYSIS_INTERVAL_MS}
    threshold: 2
    stepWeight: 25
    maxWeight: 50
    metrics:
      - { name: request-success-rate, intervalMs: ${ANALYSIS_INTERVAL_MS}, thresholdRange: { min: 99 } }
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

/** A block of text for people, indented under a time stamp (JSON mode: one line, `msg`). */
function tell(fields: Fields, lines: readonly string[]): void {
  say(fields, lines.join('\n    '));
}

// -------------------------------------------------------------------------------------------

await runService({
  name: SERVICE,
  logger,
  start: async (signal, { onStop }) => {
    tell({ intro: true }, [
      'Aviary dev: the orchestrator, the analyzer and a cluster agent per cluster, in this process,',
      'with a simulated Kubernetes fleet of 4 clusters in 2 regions (eu-1, eu-2 in eu; us-1, us-2 in',
      'us) serving live traffic to demo/podinfo. Starting…',
    ]);
    // The embedded log: a fresh one per run (see the top of this file).
    let dataDir = config.dataDir;
    await mkdir(config.dataDir, { recursive: true });
    const earlier = (await readdir(config.dataDir)).filter((n) => n.startsWith('run-')).length;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const runDir = await mkdtemp(join(config.dataDir, `run-${stamp}-`));
    if (!config.pgUrl) {
      dataDir = runDir;
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

    // The clusters, their traffic and the metrics it feeds.
    const clusters = await startDemoClusters({
      clusters: CLUSTERS,
      dir: runDir,
      rps: config.devRps,
      initialVersion: 'v1',
    });
    onStop('kubernetes simulator', () => clusters.close());
    const metrics = await startDemoMetrics({ clusters: clusters.sim });
    onStop('datadog simulator', () => metrics.close());

    const projector = new Projector({ store, db: log.projections, logger });
    projector.start();
    onStop('projections', () => projector.stop());

    const timeline = new Timeline(say);
    timeline.start(store, head, (fields, text) => logger.warn(fields, text));
    onStop('timeline', () => timeline.stop());

    // The transport between the orchestrator, the analyzer and the agents.
    const namespace = messagingNamespace(config.messagingNamespace);
    let transport: DevTransport;
    if (config.natsUrl === undefined) {
      transport = {
        kind: 'in-process',
        bus: new InProcessBus({
          onHandlerError: (error, message) =>
            logger.warn({ err: error, subject: message.subject }, 'bus subscriber failed'),
        }),
      };
    } else {
      const nats = await connectNats({
        name: `aviary-${SERVICE}`,
        logger,
        signal,
        ...natsConnectOptions({ ...config, natsUrl: config.natsUrl }),
      });
      onStop('nats', () => nats.close());
      const jsm = await nats.jetstreamManager({ signal });
      await ensureStreams(jsm, { namespace, signal });
      // The clusters are new each run: what the dev's streams hold is about clusters now gone.
      for (const stream of Object.values(streamNames(namespace))) await jsm.streams.purge(stream);
      transport = { kind: 'nats', nats };
    }
    const busName =
      transport.kind === 'in-process' ? 'in-process bus' : `NATS (${config.messagingNamespace})`;

    // The engine, then everything that subscribes to the bus (its ingest, the analyzer, the
    // agents), and only then the outbox relay: the in-process bus keeps nothing for late
    // subscribers, so nothing is published before everyone listens.
    const publisher = publisherOf(transport);
    // Metrics as `main.ts` counts them (docs/observability.md; served when AVIARY_METRICS_PORT is
    // set): decisions counted as appended, gauges read at each scrape (NATS lag on NATS only).
    watchOrchestrator({
      projections: log.projections,
      store,
      ...(transport.kind === 'nats' ? { nats: transport.nats } : {}),
      namespace,
      logger,
    });
    const engine = new Engine({
      store: instrumentEventStore(store),
      namespace,
      logger: componentLogger('engine'),
      publishCommand: async (subject, payload, msgId) => {
        await publisher.publish(subject, payload, { msgId });
      },
    });
    const recovered = await engine.recover(signal);
    if (recovered.events > 0) logger.info(recovered, 'recovered from the log');
    engine.start();
    onStop('engine', () => engine.stop());
    const ingest =
      transport.kind === 'in-process'
        ? startBusIngest({ bus: transport.bus, namespace, engine, logger })
        : await startIngest({ nats: transport.nats, namespace, engine, logger });
    onStop('ingest', () => ingest.stop());
    const analyzer = await startAnalyzer({
      transport,
      namespace,
      datadog: { baseUrl: metrics.datadog.url, ...DEMO_DATADOG_KEYS },
      templates: JSON.stringify(SUCCESS_RATE_TEMPLATES),
      ingestionDelayMs: INGESTION_DELAY_MS,
      roundIntervalMs: 1000,
      logger: componentLogger('analyzer'),
      signal,
    });
    onStop('analyzer', () => analyzer.stop());
    const agents = await startAgents({
      transport,
      namespace,
      sim: clusters.sim,
      clusters: CLUSTERS,
      heartbeatIntervalMs: 5000,
      leaseMs: 60_000,
      logger: componentLogger('agent'),
      signal,
    });
    onStop('agents', () => agents.stop());
    const relay = new OutboxRelay({
      outbox: store.outbox,
      publisher: jetStreamOutboxPublisher(publisher),
      logger,
      pollIntervalMs: 100,
    });
    relay.start();
    onStop('outbox relay', () => relay.stop());

    const dispatcher = new WebhookDispatcher({
      store,
      caller: instrumentWebhookCaller(
        new HttpWebhookCaller({
          gateOpen: (app, gate) => engine.gateOpen(app, gate),
          logger,
        }),
      ),
      recordWebhookResult: (releaseId, result) => engine.recordWebhookResult(releaseId, result),
      logger,
    });
    dispatcher.start();
    onStop('webhook dispatcher', () => dispatcher.stop());

    // The HTTP API. Without AVIARY_API_TOKENS an admin token is generated for this run and
    // printed: printing a freshly generated *development* token to the terminal of the person
    // who started it is intended here (it is how they can use the API, the CLI and the
    // dashboard). Configured tokens are never printed or logged.
    const generated =
      config.apiTokens === undefined ? randomBytes(24).toString('base64url') : undefined;
    const api = createApiServer({
      operations: engine,
      readModel: createReadModel(log.projections),
      store,
      tokens: generated === undefined ? (config.apiTokens ?? '') : `dev:admin:${generated}`,
      logger,
      ready: () => projector.caughtUp,
    });
    const address = await api.listen(config.httpPort, config.httpHost);
    onStop('http api', () => api.close());
    logger.info({ url: address.url }, 'http api listening');
    const tokenLine =
      generated !== undefined
        ? `export AVIARY_TOKEN=${generated}`
        : 'export AVIARY_TOKEN=<one of the tokens of AVIARY_API_TOKENS>';
    const kubectl = `kubectl --kubeconfig ${clusters.kubeconfigPath}`;
    const tryThese = [
      `the dashboard:  ${address.url}/`,
      `the API and the CLI need the token${generated !== undefined ? ' generated for this run (set AVIARY_API_TOKENS to choose your own)' : ''}:`,
      `    ${tokenLine}`,
      `    export AVIARY_URL=${address.url}`,
      'then, in another terminal of this directory:',
      '    npx aviary get releases',
      `    npx aviary describe release ${DEMO_APP.namespace}.${DEMO_APP.name}.2`,
      '    npx aviary watch',
      `    curl -H "Authorization: Bearer $AVIARY_TOKEN" ${address.url}/api/v1/releases`,
      'and the simulated clusters themselves:',
      `    ${kubectl} --context eu-1 get deployments,services -n ${DEMO_APP.namespace}`,
    ];
    tell(
      {
        up: true,
        url: address.url,
        dashboard: `${address.url}/`,
        kubeconfig: clusters.kubeconfigPath,
        ...(generated === undefined
          ? { tokens: parseApiTokens(config.apiTokens ?? '').length }
          : { tokenName: 'dev', role: 'admin' }),
      },
      [`HTTP API on ${address.url}, the dashboard on ${address.url}/`, ...tryThese],
    );
    logger.info(
      {
        eventLog: where,
        bus: busName,
        clusters: CLUSTERS.map((c) => c.name),
        metrics: `datadog simulator ${metrics.datadog.url}`,
        kubernetes: clusters.sim.clusters.map((c) => `${c.name} ${c.url}`),
      },
      `Aviary dev is up: the orchestrator, the analyzer and ${CLUSTERS.length} cluster agents on ` +
        `the ${busName}, with a simulated fleet and its traffic. Ctrl-C stops.`,
    );
    await timeline.settled(store, signal);

    if (!config.demo) {
      say({ demo: 'off' }, 'AVIARY_DEMO=false: no story; the fleet runs v1 and waits for you.');
      return undefined;
    }
    if (
      config.pgUrl &&
      (await store.streamVersion(applicationStreamId(DEMO_APP), signal)) !== undefined
    ) {
      say(
        { demo: 'skipped' },
        `demo: skipped, ${DEMO_APP.namespace}/${DEMO_APP.name} already exists in this PostgreSQL ` +
          'log, from an earlier run whose simulated clusters are gone. Use a fresh database, or ' +
          'the embedded log (unset AVIARY_PG_URL).',
      );
      return undefined;
    }

    // The story runs after start, so that the service is "ready" at once; a stop cancels it.
    const story = new AbortController();
    const cancel = () => story.abort(new Error('stopping'));
    signal.addEventListener('abort', cancel, { once: true });
    const startedAt = performance.now();
    const playing = (async () => {
      const narrate = async (text: string) => {
        await timeline.settled(store, story.signal);
        say({ demo: 'story' }, `demo  ${text}`);
      };
      const steps = [
        {
          version: 'v1',
          what:
            'the agents report what the clusters run (v1): once the Rollout is applied, that is ' +
            'the bootstrap release (the primaries are created, no analysis)',
          act: async () => {
            await narrate(
              `applying the Rollout ${DEMO_APP.namespace}/${DEMO_APP.name}: waves canary (eu-1, ` +
                'then a 3 s bake), europe (region eu), rest (every other cluster); a check of ' +
                `the success rate (≥ 99 %) every ${ANALYSIS_INTERVAL_MS / 1000} s, read from Datadog`,
            );
            await engine.applySpec(DEMO_ROLLOUT, DEMO_ACTOR);
          },
        },
        {
          version: 'v2',
          what: 'a good release: it should walk every wave',
          act: () => clusters.rollOut('v2'),
        },
        {
          version: 'v3',
          what: `a faulty one: ${FAULTY_ERROR_RATE * 100} % of its requests fail, its checks will fail in eu-1`,
          act: () => clusters.rollOut('v3', { errorRate: FAULTY_ERROR_RATE }),
        },
      ];
      const finished: { releaseId: string; version: string; outcome: string; reason?: string }[] =
        [];
      for (const step of steps) {
        if (step.version !== 'v1') {
          await narrate(
            `kubectl set image deployment/${DEMO_APP.name} ${DEMO_APP.container}=${clusters.image(step.version)} ` +
              `-n ${DEMO_APP.namespace}, in every cluster: ${step.what}`,
          );
        } else {
          await narrate(step.what);
        }
        timeline.expect(step.version);
        const seen = timeline.finished(step.version, story.signal);
        await step.act();
        const release = await seen;
        finished.push({
          releaseId: release.releaseId,
          version: release.version,
          outcome: release.outcome ?? '',
          ...(release.reason ? { reason: release.reason } : {}),
        });
        // The API answers with what the log says once the projections have it.
        if (release.finishedAt) await projector.waitFor(release.finishedAt, story.signal);
      }
      const primaries: Record<string, string> = {};
      for (const c of CLUSTERS) {
        const image = await clusters.primaryImage(c.name);
        primaries[c.name] = image?.split(':').at(-1) ?? 'none';
      }
      const wallMs = Math.round(performance.now() - startedAt);
      await timeline.settled(store, story.signal);
      tell(
        {
          demo: 'finished',
          wallMs,
          releases: finished,
          primaries,
          url: address.url,
        },
        [
          `demo finished in ${(wallMs / 1000).toFixed(1)} s:`,
          ...finished.map(
            (r) =>
              `    ${r.releaseId}  ${r.version}  ${outcomeWord(r.outcome)}${r.reason ? `: ${r.reason}` : ''}`,
          ),
          `    the clusters' primaries now run: ${Object.entries(primaries)
            .map(([c, v]) => `${c} ${v}`)
            .join(', ')}`,
          'Look at it:',
          ...tryThese,
          'Aviary keeps running (roll out another version with kubectl and watch it go); Ctrl-C stops.',
        ],
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
