/**
 * Composition root of the analyzer. For now it loads its configuration, connects to NATS, makes
 * sure Aviary's streams exist, and stops cleanly; metric providers, batching, budgets and the
 * judge arrive with the analyzer issue.
 */
import {
  analysisRequestSubject,
  connectNats,
  ensureStreams,
  isValidNamespaceName,
  messagingNamespace,
} from '@aviary/messaging';
import { configFields, createLogger, loadConfigOrExit, runService, z } from '@aviary/platform';

const SERVICE = 'analyzer';

const configSchema = z.object({
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
  /** AVIARY_DUPLICATE_WINDOW_MS (`2m`, `120000`): duplicate window of observations and analysis. */
  duplicateWindowMs: configFields.durationMs().default(2 * 60_000),
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
    const namespace = messagingNamespace(config.messagingNamespace);
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
