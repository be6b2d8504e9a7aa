/**
 * Composition root of the cluster agent: one per Kubernetes cluster. For now it loads its
 * configuration, connects to NATS, checks that a stream stores its command subject, and stops
 * cleanly; watching workloads and applying commands arrive with the agent issue.
 */
import {
  commandSubject,
  connectNats,
  findStreamForSubject,
  isValidClusterName,
  isValidNamespaceName,
  messagingNamespace,
} from '@aviary/messaging';
import { configFields, createLogger, loadConfigOrExit, runService, z } from '@aviary/platform';

const SERVICE = 'cluster-agent';

const configSchema = z.object({
  /** AVIARY_CLUSTER_NAME: this agent's cluster, a DNS-1123 label such as `eu-west-1`. */
  clusterName: z
    .string()
    .refine(
      isValidClusterName,
      "must be a DNS-1123 label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
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
  logLevel: configFields.logLevel().default('info'),
  logPretty: z.boolean().default(false),
  shutdownTimeoutMs: configFields.durationMs().default(10_000),
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({
  service: SERVICE,
  level: config.logLevel,
  pretty: config.logPretty,
  base: { cluster: config.clusterName },
});

await runService({
  name: SERVICE,
  logger,
  stopTimeoutMs: config.shutdownTimeoutMs,
  start: async (signal, { onStop }) => {
    const namespace = messagingNamespace(config.messagingNamespace);
    const nats = await connectNats({
      servers: config.natsUrl,
      name: `aviary-${SERVICE}-${config.clusterName}`,
      logger,
      signal,
      ...(config.natsUser === undefined ? {} : { user: config.natsUser }),
      ...(config.natsPass === undefined ? {} : { pass: config.natsPass }),
      ...(config.natsToken === undefined ? {} : { token: config.natsToken }),
    });
    onStop('nats', () => nats.close());

    const jsm = await nats.jetstreamManager({ signal });
    const subject = commandSubject(config.clusterName, namespace);
    const stream = await findStreamForSubject(jsm, subject, { signal });
    if (stream === undefined) {
      logger.warn(
        { subject },
        'no stream stores this agent’s command subject yet; the orchestrator or analyzer creates the streams at start-up',
      );
    } else {
      logger.info({ subject, stream }, 'command stream found');
    }
    logger.info({ subject }, 'agent connected; command handling arrives with the agent issue');
    return undefined;
  },
});
