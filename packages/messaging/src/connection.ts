import { AviaryError, ErrorCode } from '@aviary/core';
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { abortable, throwIfAborted } from './errors.ts';

/** The logging this package needs; a pino logger fits. */
export interface MessagingLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface ConnectNatsOptions {
  /** `nats://host:4222`, or several for a cluster. Credentials in a URL are never logged. */
  readonly servers: string | readonly string[];
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** Client name shown by the server's monitoring, e.g. `aviary-agent-eu-1`. */
  readonly name: string;
  readonly logger: MessagingLogger;
  /** Time allowed for the first connection. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Time allowed for a JetStream API call or publish acknowledgement. Default 5 s. */
  readonly apiTimeoutMs?: number;
  /** Reconnect attempts per server after a connection was lost; -1 (the default) never gives up. */
  readonly maxReconnectAttempts?: number;
  /** Pause between reconnect attempts. Default 2 s. */
  readonly reconnectTimeWaitMs?: number;
  /** Prefix of reply inboxes; agents get their own so they cannot read each other's replies. */
  readonly inboxPrefix?: string;
  readonly signal?: AbortSignal;
}

/** One NATS connection with its JetStream client. */
export interface NatsClient {
  readonly connection: NatsConnection;
  readonly jetstream: JetStreamClient;
  /**
   * A JetStream manager (stream and consumer administration). Throws UNAVAILABLE when the server
   * has no JetStream.
   */
  jetstreamManager(options?: { readonly signal?: AbortSignal }): Promise<JetStreamManager>;
  /** Drains subscriptions and pending publishes, then closes. Safe to call more than once. */
  close(): Promise<void>;
  /** Settles when the connection has closed, with the error that closed it, if any. */
  readonly closed: Promise<Error | undefined>;
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Connects to NATS and logs the connection's life (disconnects, reconnects, server errors) through
 * `logger`, never logging credentials. Throws UNAVAILABLE when no server can be reached, ABORTED
 * when `signal` aborts first.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsClient> {
  const { logger, signal } = options;
  const servers = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
  const shownServers = servers.map(redactServer);
  throwIfAborted(signal, 'connecting to NATS');
  const connectOptions: NodeConnectionOptions = {
    servers,
    name: options.name,
    timeout: options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 2000,
    waitOnFirstConnect: false,
  };
  if (options.user !== undefined) connectOptions.user = options.user;
  if (options.pass !== undefined) connectOptions.pass = options.pass;
  if (options.token !== undefined) connectOptions.token = options.token;
  if (options.inboxPrefix !== undefined) connectOptions.inboxPrefix = options.inboxPrefix;

  let pending: Promise<NatsConnection> | undefined;
  let nc: NatsConnection;
  try {
    nc = await abortable(
      () => {
        pending = connect(connectOptions);
        return pending;
      },
      signal,
      'connecting to NATS',
    );
  } catch (error) {
    // A connection that completes after an abort must not stay open.
    void pending?.then((late) => late.close()).catch(() => {});
    if (error instanceof AviaryError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new AviaryError(
      ErrorCode.Unavailable,
      `cannot connect to NATS at ${shownServers.join(', ')}: ${detail}`,
      { cause: error },
    );
  }
  logger.info({ server: redactServer(nc.getServer()), client: options.name }, 'nats connected');
  const watching = watchStatus(nc, logger);
  const closed = nc.closed().then((error) => (error instanceof Error ? error : undefined));
  void closed.then((error) => {
    if (error === undefined) logger.info({ client: options.name }, 'nats connection closed');
    else logger.error({ err: error, client: options.name }, 'nats connection closed by an error');
  });

  const apiTimeoutMs = options.apiTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    connection: nc,
    jetstream: jetstream(nc, { timeout: apiTimeoutMs }),
    async jetstreamManager(managerOptions = {}) {
      try {
        return await abortable(
          () => jetstreamManager(nc, { timeout: apiTimeoutMs }),
          managerOptions.signal,
          'opening the JetStream manager',
        );
      } catch (error) {
        if (error instanceof AviaryError) throw error;
        const detail = error instanceof Error ? error.message : String(error);
        throw new AviaryError(
          ErrorCode.Unavailable,
          `JetStream is not available on ${redactServer(nc.getServer())} (start nats-server with -js): ${detail}`,
          { cause: error },
        );
      }
    },
    async close() {
      if (!nc.isClosed()) {
        try {
          await nc.drain();
        } catch {
          // Already closing or closed: wait for the close below.
        }
      }
      await closed;
      await watching;
    },
    closed,
  };
}

async function watchStatus(nc: NatsConnection, logger: MessagingLogger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        logger.warn({ server: redactServer(status.server) }, 'nats disconnected');
        break;
      case 'reconnecting':
        logger.debug({}, 'nats reconnecting');
        break;
      case 'reconnect':
        logger.info({ server: redactServer(status.server) }, 'nats reconnected');
        break;
      case 'error':
        logger.error({ err: status.error }, 'nats server reported an error');
        break;
      case 'staleConnection':
        logger.warn({}, 'nats connection stale: reconnecting');
        break;
      case 'ldm':
        logger.warn({ server: redactServer(status.server) }, 'nats server entering lame duck mode');
        break;
      case 'slowConsumer':
        logger.warn(
          { subject: status.sub.getSubject(), pending: status.pending },
          'nats slow consumer: messages are piling up',
        );
        break;
      case 'forceReconnect':
        logger.info({}, 'nats reconnect forced');
        break;
      case 'update':
      case 'ping':
      case 'close':
        break;
      default: {
        const unknown: never = status;
        logger.debug({ status: unknown }, 'nats status');
      }
    }
  }
}

/** `nats://user:pass@host:4222` → `nats://user:***@host:4222`; a token-only URL loses its token. */
export function redactServer(server: string): string {
  return server.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i,
    (_, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
    },
  );
}
