/**
 * `npm start`: Aviary on its embedded defaults, in one process, with nothing to install.
 *
 * Today: the orchestrator's event log (PGlite in .data/dev, or PostgreSQL when AVIARY_PG_URL is
 * set), its outbox drained to an in-process bus (or to NATS JetStream when AVIARY_NATS_URL is
 * set), and a line for every message the bus carries. The simulated fleet, the agents, the
 * analyzer and the dashboard join this process as their issues land; then it shows a release
 * walking across two regions and a faulty one stopped in the first wave.
 */
import { OutboxRelay } from '@aviary/event-store';
import {
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  InProcessBus,
  type JetStreamPublisher,
  messagingNamespace,
} from '@aviary/messaging';
import { configFields, createLogger, loadConfigOrExit, runService, z } from '@aviary/platform';
import { openEventLog } from './event-log.ts';
import { jetStreamOutboxPublisher } from './outbox-publisher.ts';

const SERVICE = 'aviary-dev';

const configSchema = z.object({
  /** AVIARY_PG_URL: use this PostgreSQL for the event log instead of the embedded PGlite. */
  pgUrl: configFields.url(['postgres', 'postgresql']).optional(),
  pgPoolSize: z.number().int().min(1).max(100).default(8),
  /** AVIARY_DATA_DIR: where the embedded event log keeps its files. */
  dataDir: z.string().min(1).default('.data/dev'),
  /** AVIARY_NATS_URL: use this NATS JetStream instead of the in-process bus. */
  natsUrl: configFields.urlList(['nats', 'tls']).optional(),
  logLevel: configFields.logLevel().default('info'),
  /** AVIARY_LOG_PRETTY: readable lines for people (default here); false for JSON lines. */
  logPretty: z.boolean().default(true),
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });

await runService({
  name: SERVICE,
  logger,
  start: async (signal, { onStop }) => {
    const log = await openEventLog(config, logger);
    const { store, where } = log;
    onStop('event log', () => log.close());
    logger.info({ eventLog: where, outboxDepth: await store.outbox.depth() }, 'event log open');

    let publisher: JetStreamPublisher;
    let bus: string;
    if (config.natsUrl) {
      const nats = await connectNats({ servers: config.natsUrl, name: SERVICE, logger, signal });
      onStop('nats', () => nats.close());
      await ensureStreams(await nats.jetstreamManager({ signal }), { signal });
      publisher = createJetStreamPublisher(nats.jetstream);
      bus = `NATS JetStream ${config.natsUrl.join(',')}`;
    } else {
      const inProcess = new InProcessBus({
        onHandlerError: (error, message) =>
          logger.warn({ err: error, subject: message.subject }, 'bus subscriber failed'),
      });
      const namespace = messagingNamespace();
      inProcess.subscribe(`${namespace.subjectRoot}.>`, (message) =>
        logger.info(
          { subject: message.subject, msgId: message.msgId, bytes: message.payload.length },
          'bus message',
        ),
      );
      publisher = inProcess;
      bus = 'in-process bus';
    }

    const relay = new OutboxRelay({
      outbox: store.outbox,
      publisher: jetStreamOutboxPublisher(publisher),
      logger,
    });
    relay.start();
    onStop('outbox relay', () => relay.stop());

    logger.info(
      { eventLog: where, bus },
      'Aviary dev is up: the event log is open and its outbox drains to the bus. ' +
        'The simulated fleet, agents, analyzer and dashboard arrive with the next issues. Ctrl-C stops.',
    );
    return undefined;
  },
});
