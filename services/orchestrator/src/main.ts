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
  isValidNamespaceName,
  messagingNamespace,
} from '@aviary/messaging';
import { configFields, createLogger, loadConfigOrExit, runService, z } from '@aviary/platform';
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
  /** AVIARY_NATS_URL: one server, or several separated by commas. */
  natsUrl: configFields.urlList(['nats', 'tls']).default(['nats://127.0.0.1:4222']),
  natsUser: z.string().optional(),
  natsPass: z.string().optional(),
  natsToken: z.string().optional(),
  /** AVIARY_MESSAGING_NAMESPACE: replaces the `aviary` subject root (tests, shared servers). */
  messagingNamespace: z
    .string()
    .refine(isValidNamespaceName, "must be 1-64 lowercase letters, digits, '_' or '-'")
    .default('aviary'),
  /** AVIARY_STREAM_REPLICAS: 1 on a single NATS server, 3 in a JetStream cluster. */
  streamReplicas: z.number().int().min(1).max(5).default(1),
  /** AVIARY_OUTBOX_POLL_INTERVAL_MS: how often the outbox is checked without a wake-up. */
  outboxPollIntervalMs: configFields.durationMs().default(500),
  logLevel: configFields.logLevel().default('info'),
  logPretty: z.boolean().default(false),
  shutdownTimeoutMs: configFields.durationMs().default(10_000),
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
      servers: config.natsUrl,
      name: `aviary-${SERVICE}`,
      logger,
      signal,
      ...(config.natsUser === undefined ? {} : { user: config.natsUser }),
      ...(config.natsPass === undefined ? {} : { pass: config.natsPass }),
      ...(config.natsToken === undefined ? {} : { token: config.natsToken }),
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
