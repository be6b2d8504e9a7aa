/**
 * Composition root of the analyzer. For now it loads its configuration, connects to NATS, makes
 * sure Aviary's streams exist, and stops cleanly; metric providers, batching, budgets and the
 * judge arrive with the analyzer issue.
 */
import {
  analysisRequestSubject,
  connectNats,
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

const SERVICE = 'analyzer';

const configSchema = z.object({
  ...natsConfigFields,
  /** AVIARY_STREAM_REPLICAS: 1 on a single NATS server, 3 in a JetStream cluster. */
  streamReplicas: z.number().int().min(1).max(5).default(1),
  /** AVIARY_DUPLICATE_WINDOW_MS (`2m`, `120000`): duplicate window of observations and analysis. */
  duplicateWindowMs: configFields.durationMs().default(2 * 60_000),
  ...serviceConfigFields,
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });

await runService({
  name: SERVICE,
  logger,
  stopTimeoutMs: config.shutdownTimeoutMs,
  start: async (signal, { onStop }) => {
    const namespace = messagingNamespace(config.messagingNamespace);
    const nats = await connectNats({
      name: `aviary-${SERVICE}`,
      logger,
      signal,
      ...natsConnectOptions(config),
    });
    onStop('nats', () => nats.close());

    const jsm = await nats.jetstreamManager({ signal });
    const streams = await ensureStreams(jsm, {
      namespace,
      replicas: config.streamReplicas,
      duplicateWindowMs: config.duplicateWindowMs,
      signal,
    });
    for (const stream of streams) {
      logger.info(
        { stream: stream.name, action: stream.action, changed: stream.changed },
        'stream ensured',
      );
    }
    logger.info(
      { requests: analysisRequestSubject(namespace) },
      'analyzer connected and streams ensured; analysis handling arrives with the analyzer issue',
    );
    return undefined;
  },
});
