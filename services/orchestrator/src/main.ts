/**
 * Composition root of the orchestrator. For now it opens the event log (PostgreSQL, or embedded
 * PGlite), connects to NATS, makes sure Aviary's streams exist, and drains the outbox to
 * JetStream; the decider, ingestion of observations and verdicts, projections and the HTTP API
 * arrive with their issues.
 */
import { OutboxRelay } from '@aviary/event-store';
import {
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
import { openEventLog } from './event-log.ts';
import { jetStreamOutboxPublisher } from './outbox-publisher.ts';

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
  ...serviceConfigFields,
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });

await runService({
  name: SERVICE,
  logger,
  stopTimeoutMs: config.shutdownTimeoutMs,
  start: async (signal, { onStop }) => {
    const { store, where } = await openEventLog(config, logger);
    onStop('event log', () => store.close());
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

    const relay = new OutboxRelay({
      outbox: store.outbox,
      publisher: jetStreamOutboxPublisher(createJetStreamPublisher(nats.jetstream)),
      logger,
      pollIntervalMs: config.outboxPollIntervalMs,
    });
    relay.start();
    onStop('outbox relay', () => relay.stop());
    logger.info(
      'orchestrator ready: event log open, outbox draining to JetStream; deciding arrives with the decider and orchestrator issues',
    );
    return undefined;
  },
});
