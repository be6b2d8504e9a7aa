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
  messagingNamespace,
  natsConfigFields,
  natsConnectOptions,
} from '@aviary/messaging';
import {
  createLogger,
  loadConfigOrExit,
  runService,
  serviceConfigFields,
  z,
} from '@aviary/platform';

const SERVICE = 'cluster-agent';

const configSchema = z.object({
  /** AVIARY_CLUSTER_NAME: this agent's cluster, a DNS-1123 label such as `eu-west-1`. */
  clusterName: z
    .string()
    .refine(
      isValidClusterName,
      "must be a DNS-1123 label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
  ...natsConfigFields,
  ...serviceConfigFields,
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
      name: `aviary-${SERVICE}-${config.clusterName}`,
      logger,
      signal,
      ...natsConnectOptions(config),
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
