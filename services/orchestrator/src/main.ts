/**
 * Composition root of the orchestrator (docs/orchestrator.md):
 *
 * 1. the event log (PostgreSQL, or embedded PGlite), and NATS with Aviary's streams;
 * 2. leadership: with PostgreSQL, the advisory lock (standby replicas wait here); embedded, the
 *    process is alone by construction;
 * 3. recovery: the engine rebuilds applications, clusters and active releases from the log;
 * 4. the outbox relay to JetStream, the ingest consumers, the ticks and lease renewals.
 *
 * Losing leadership stops the process (exit code 3): a supervisor restarts it as a standby.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import { OutboxRelay } from '@aviary/event-store';
import {
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  messagingNamespace,
  natsConfigFields,
  natsConnectOptions,
} from '@aviary/messaging';
import {
  configFields,
  createLogger,
  loadConfigOrExit,
  runService,
  serviceConfigFields,
  z,
} from '@aviary/platform';
import type { Kysely } from 'kysely';
import { createApiServer, parseApiTokens } from './api/index.ts';
import { Engine } from './engine/engine.ts';
import { startIngest } from './engine/ingest.ts';
import { acquireLeadership } from './engine/leadership.ts';
import { databaseSnapshots } from './engine/snapshots.ts';
import { openEventLog } from './event-log.ts';
import { instrumentEventStore, instrumentWebhookCaller, watchOrchestrator } from './metrics.ts';
import { Notifier } from './notifications/notifier.ts';
import { parseAlertProviders } from './notifications/providers.ts';
import { jetStreamOutboxPublisher } from './outbox-publisher.ts';
import type { Operations } from './ports.ts';
import { createReadModel, Projector } from './projections/index.ts';
import { HttpWebhookCaller } from './webhooks/caller.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';

const SERVICE = 'orchestrator';

const configSchema = z.object({
  /** AVIARY_PG_URL: the event log's PostgreSQL; unset, the log is embedded in AVIARY_DATA_DIR. */
  pgUrl: configFields.url(['postgres', 'postgresql']).optional(),
  /** AVIARY_PG_POOL_SIZE: pooled connections to PostgreSQL (one more is kept for LISTEN). */
  pgPoolSize: z.number().int().min(1).max(100).default(8),
  /** AVIARY_DATA_DIR: where the embedded event log (PGlite) keeps its files. */
  dataDir: z.string().min(1).default('.data/orchestrator'),
  ...natsConfigFields,
  /** AVIARY_STREAM_REPLICAS: 1 on a single NATS server, 3 in a JetStream cluster. */
  streamReplicas: z.number().int().min(1).max(5).default(1),
  /** AVIARY_OUTBOX_POLL_INTERVAL_MS: how often the outbox is checked without a wake-up. */
  outboxPollIntervalMs: configFields.durationMs().default(500),
  /** AVIARY_LEADER_RETRY_MS: how often a standby tries to take the leadership. */
  leaderRetryMs: configFields.durationMs().default(1000),
  /** AVIARY_INGEST_MAX_IN_FLIGHT: NATS messages handled at once per consumer. */
  ingestMaxInFlight: z.number().int().min(1).max(10_000).default(256),
  /** AVIARY_WEBHOOK_SECRET: signs every webhook call (HMAC-SHA256, ≥ 16 characters). Never logged. */
  webhookSecret: z.string().min(16).optional(),
  /** AVIARY_ALERT_PROVIDERS: JSON list of Slack/Teams/Discord/generic providers. Never logged. */
  alertProviders: z.string().default(''),
  /** AVIARY_DEFAULT_ALERT_PROVIDERS: providers (comma-separated names) told of every error. */
  defaultAlertProviders: z.string().default(''),
  /** AVIARY_HTTP_HOST / AVIARY_HTTP_PORT: where the HTTP API listens. */
  httpHost: z.string().min(1).default('127.0.0.1'),
  httpPort: z.number().int().min(0).max(65_535).default(8080),
  /** AVIARY_API_TOKENS: `name:role:token,…` (roles viewer, operator, admin); unset: no HTTP API. */
  apiTokens: z.string().optional(),
  ...serviceConfigFields,
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });

await runService({
  name: SERVICE,
  logger,
  stopTimeoutMs: config.shutdownTimeoutMs,
  start: async (signal, { onStop }) => {
    const log = await openEventLog(config, logger);
    const { store, where } = log;
    onStop('event log', () => log.close());
    const [head, depth] = await Promise.all([store.readAll({ limit: 1 }), store.outbox.depth()]);
    logger.info(
      { eventLog: where, empty: head.events.length === 0, outboxDepth: depth },
      'event log open',
    );

    const nats = await connectNats({
      name: `aviary-${SERVICE}`,
      logger,
      signal,
      ...natsConnectOptions(config),
    });
    onStop('nats', () => nats.close());
    const namespace = messagingNamespace(config.messagingNamespace);
    const jsm = await nats.jetstreamManager({ signal });
    for (const stream of await ensureStreams(jsm, {
      namespace,
      replicas: config.streamReplicas,
      signal,
    })) {
      logger.info(
        { stream: stream.name, action: stream.action, changed: stream.changed },
        'stream ensured',
      );
    }

    const projector = new Projector({ store, db: log.projections, logger });
    projector.start();
    onStop('projections', () => projector.stop());

    // Operations reach the engine once this process leads and has recovered; a standby's API
    // serves the read models and answers actions with 503.
    let engineReady: Engine | undefined;
    const leader = (): Engine => {
      if (engineReady === undefined) {
        throw new AviaryError(
          ErrorCode.Unavailable,
          'this orchestrator is standing by (another one leads) or still recovering: try again',
        );
      }
      return engineReady;
    };
    const operations: Operations = {
      applySpec: (document, actor) => leader().applySpec(document, actor),
      operatorAction: (input, actor) => leader().operatorAction(input, actor),
      retryRelease: (releaseId, actor, reason) => leader().retryRelease(releaseId, actor, reason),
      setGate: (app, gate, open, actor, reason) => leader().setGate(app, gate, open, actor, reason),
      gateOpen: (app, gate) => leader().gateOpen(app, gate),
      recordWebhookResult: (releaseId, result) => leader().recordWebhookResult(releaseId, result),
      recordVerdict: (verdict) => leader().recordVerdict(verdict),
    };
    if (config.apiTokens) {
      const api = createApiServer({
        operations,
        readModel: createReadModel(log.projections),
        store,
        tokens: parseApiTokens(config.apiTokens),
        logger,
        ready: () => engineReady !== undefined,
      });
      const address = await api.listen(config.httpPort, config.httpHost);
      onStop('http api', () => api.close());
      logger.info({ url: address.url }, 'http api listening');
    } else {
      logger.warn('AVIARY_API_TOKENS is not set: the HTTP API is off');
    }

    if (config.pgUrl) {
      const leadership = acquireLeadership({
        connectionString: config.pgUrl,
        retryMs: config.leaderRetryMs,
        signal,
        onWaiting: () => logger.info('another orchestrator leads; standing by'),
        onLost: (error) => {
          logger.fatal({ err: error }, 'leadership lost: stopping so that a standby takes over');
          process.exit(3);
        },
      });
      onStop('leadership', () => leadership.release());
      await leadership.acquired;
      logger.info('leading');
    }

    const publisher = createJetStreamPublisher(nats.jetstream);
    // Metrics (docs/observability.md): decisions counted as appended, gauges read at each scrape.
    watchOrchestrator({ projections: log.projections, store, nats, namespace, logger });
    const engine = new Engine({
      store: instrumentEventStore(store),
      namespace,
      logger,
      snapshots: databaseSnapshots(log.projections as unknown as Kysely<unknown>),
      publishCommand: async (subject, payload, msgId) => {
        await publisher.publish(subject, payload, { msgId });
      },
    });
    const recovered = await engine.recover(signal);
    logger.info(recovered, 'recovered from the log');

    const relay = new OutboxRelay({
      outbox: store.outbox,
      publisher: jetStreamOutboxPublisher(publisher),
      logger,
      pollIntervalMs: config.outboxPollIntervalMs,
    });
    relay.start();
    onStop('outbox relay', () => relay.stop());

    engine.start();
    onStop('engine', () => engine.stop());
    engineReady = engine;

    const dispatcher = new WebhookDispatcher({
      store,
      caller: instrumentWebhookCaller(
        new HttpWebhookCaller({
          gateOpen: (app, gate) => engine.gateOpen(app, gate),
          ...(config.webhookSecret ? { signingSecret: config.webhookSecret } : {}),
          logger,
        }),
      ),
      recordWebhookResult: (releaseId, result) => engine.recordWebhookResult(releaseId, result),
      logger,
    });
    dispatcher.start();
    onStop('webhook dispatcher', () => dispatcher.stop());
    const notifier = new Notifier({
      store,
      providers: parseAlertProviders(config.alertProviders),
      defaultProviders: config.defaultAlertProviders
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
      logger,
    });
    notifier.start();
    onStop('notifier', () => notifier.stop());
    const ingest = await startIngest({
      nats,
      namespace,
      engine,
      logger,
      maxInFlight: config.ingestMaxInFlight,
    });
    onStop('ingest', () => ingest.stop());
    logger.info(
      { commands: commandSubject('any', namespace).replace('.any.', '.<cluster>.') },
      'orchestrator ready: ingesting observations and verdicts, deciding, publishing',
    );
    return undefined;
  },
});
