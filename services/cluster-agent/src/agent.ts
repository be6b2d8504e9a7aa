/**
 * The agent's messaging loop: commands in, observations out.
 *
 * - Commands: a durable pull consumer on `<root>.v1.cluster.<cluster>.cmd`
 *   (`messaging/command-consumer.ts`) hands each message to the command handler, one at a time.
 *   The `CommandResult` is published as an observation with `Nats-Msg-Id` `<commandId>:result`
 *   (after the `RoutesApplied` read back by a `setRoutes`, `<commandId>:routes`), and only then
 *   is the message acked. A command that can never be decoded (or has no id) is rejected, the
 *   rejection published (its id taken from the message's `Nats-Msg-Id`), and the message
 *   terminated. A retriable `FAILED` (primary not ready yet, API unreachable) is not published:
 *   the message is nak'ed with a growing delay and handled again, until `maxDeliveries`, when the
 *   `FAILED` result is published and the message acked. A failed publish naks the message; the
 *   handler answers the re-delivery from its stored result (kept in the cluster by
 *   `command-results.ts`, so also after a restart), so nothing is applied twice.
 * - Each command is logged as `command handled` with its action (the oneof case); `renewLease`,
 *   frequent and changing nothing, at debug level.
 * - Every command renews the lease (`lease.ts`); `setRoutes` results tell it which canaries
 *   carry traffic; a timer checks it, serialized with command handling.
 * - Heartbeats every `intervalMs` on `<root>.v1.cluster.<cluster>.obs.heartbeat`, the first at
 *   start.
 * - At start, `resume` (`resume.ts`) reads back every target's routes from the cluster, in the
 *   same one-at-a-time loop, publishes them and re-tracks the canaries carrying traffic in the
 *   lease: a restarted agent forgets none it is responsible for.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { MessagingNamespace, NatsClient } from '@aviary/messaging';
import {
  type AgentCommand,
  CommandOutcome,
  type CommandResult,
  CommandResultSchema,
} from '@aviary/proto';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { type CommandHandler, CommandReason, parseCommand } from './commands.ts';
import type { Lease } from './lease.ts';
import {
  type CommandConsumer,
  type CommandMessage,
  type ConsumerLogger,
  startCommandConsumer,
} from './messaging/command-consumer.ts';
import {
  type PublishObservation,
  subjectOfObservation,
} from './messaging/observation-publisher.ts';
import {
  commandResultObservation,
  heartbeatObservation,
  routesAppliedObservation,
} from './messaging/observations.ts';
import type { RouteResumer } from './resume.ts';

export interface HeartbeatOptions {
  readonly intervalMs: number;
  /** Cluster labels for wave selectors, e.g. `{ region: 'eu', env: 'prod' }`. */
  readonly labels: Readonly<Record<string, string>>;
  readonly agentVersion: string;
}

export interface AgentOptions {
  readonly cluster: string;
  /** Commands from JetStream (the durable consumer); unused when `commands` is given. */
  readonly nats?: Pick<NatsClient, 'jetstream' | 'jetstreamManager'>;
  /**
   * Another command transport instead of `nats` (`aviary dev`: `inProcessCommands` on its
   * in-process bus): starts consuming, handing each command to `onMessage`.
   */
  readonly commands?: (
    onMessage: (message: CommandMessage, signal: AbortSignal) => Promise<void>,
  ) => CommandConsumer;
  readonly messagingNamespace: MessagingNamespace;
  readonly handler: CommandHandler;
  readonly publish: PublishObservation;
  readonly lease: Lease;
  /** Reads back each target's routes at start (`resume.ts`); none: nothing is resumed. */
  readonly resume?: RouteResumer;
  readonly heartbeat: HeartbeatOptions;
  readonly logger: ConsumerLogger;
  readonly nowMs: () => number;
  /** How often the lease is checked. Default a quarter of the lease, at most 1 s. */
  readonly leaseCheckIntervalMs?: number;
  /** Deliveries of a retriably failing command before its `FAILED` result is final. Default 20. */
  readonly maxDeliveries?: number;
  /** Nak delay after the first failed delivery; doubles up to 30 s. Default 1 s. */
  readonly retryDelayMs?: number;
  /** Command redelivery when unacked. Default 60 s. */
  readonly ackWaitMs?: number;
  /** Pause before re-subscribing after a consumer failure. Default 2 s. */
  readonly consumerRetryMs?: number;
}

export interface AgentStats {
  /** Command messages received (every delivery). */
  readonly received: number;
  /** Commands applied now (`SUCCEEDED`, not a stored result). */
  readonly applied: number;
  /** Deliveries answered from a stored result: nothing was applied again. */
  readonly duplicates: number;
  readonly rejected: number;
  /** Messages terminated because they can never be decoded. */
  readonly terminated: number;
  /** Deliveries nak'ed (retriable failure, failed publish). */
  readonly retried: number;
  readonly heartbeats: number;
  /** `renewLease` commands: the lease renewed, nothing applied, nothing published. */
  readonly leaseRenewals: number;
}

export interface Agent {
  start(): void;
  /** Stops heartbeats, the lease timer and the consumer; waits for the command in hand. */
  stop(): Promise<void>;
  stats(): AgentStats;
}

const MAX_RETRY_DELAY_MS = 30_000;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** `region=eu,env=prod` → `{ region: 'eu', env: 'prod' }`; undefined when malformed. */
export function parseClusterLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) return undefined;
    labels[key] = value;
  }
  return labels;
}

export function createAgent(options: AgentOptions): Agent {
  const { cluster, handler, lease, logger, nowMs } = options;
  const startedAtMs = nowMs();
  const maxDeliveries = options.maxDeliveries ?? 20;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const controller = new AbortController();
  const { signal } = controller;
  const stats = {
    received: 0,
    applied: 0,
    duplicates: 0,
    rejected: 0,
    terminated: 0,
    retried: 0,
    heartbeats: 0,
    leaseRenewals: 0,
  };
  let consumer: CommandConsumer | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  let heartbeatInFlight: Promise<void> | undefined;
  let heartbeatSeq = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let resuming: Promise<void> | undefined;

  /** Command handling and lease reverts never interleave. */
  function serially<T>(work: () => Promise<T>): Promise<T> {
    const run = chain.then(work);
    chain = run.catch(() => undefined);
    return run;
  }

  const publish = (observation: Parameters<PublishObservation>[1], s: AbortSignal) =>
    options.publish(
      subjectOfObservation(cluster, observation, options.messagingNamespace),
      observation,
      s,
    );

  const nakDelay = (deliveryCount: number) =>
    Math.min(retryDelayMs * 2 ** Math.max(0, deliveryCount - 1), MAX_RETRY_DELAY_MS);

  async function onCommand(message: CommandMessage, s: AbortSignal) {
    stats.received += 1;
    lease.renew();
    const command = tryParseCommand(message.data);
    // The oneof case (`setRoutes`, …); undefined for a command that cannot be decoded.
    const action = command?.command.case;
    if (command !== undefined && action === 'renewLease') {
      // Only renews the lease: no result, nothing changed, and frequent: logged at debug.
      stats.leaseRenewals += 1;
      message.ack();
      logger.debug(
        { commandId: command.commandId, action, delivery: message.deliveryCount },
        'command handled',
      );
      return;
    }
    let handled: Awaited<ReturnType<CommandHandler['handle']>>;
    try {
      handled = await handler.handle(message.data, s);
    } catch (error) {
      // Only a cancelled call throws: the agent is stopping.
      message.nak(0);
      if (!s.aborted) logger.error({ err: error, seq: message.seq }, 'handling a command failed');
      return;
    }
    let result: CommandResult = handled.result;
    const undecodable = result.commandId === '';
    if (undecodable) {
      result = create(CommandResultSchema, {
        ...result,
        commandId: message.msgId ?? `${cluster}:cmd-seq-${message.seq}`,
      });
    }
    const fields = {
      commandId: result.commandId,
      ...(action !== undefined ? { action } : {}),
      outcome: CommandOutcome[result.outcome],
      reason: result.reason,
      delivery: message.deliveryCount,
    };
    if (
      result.outcome === CommandOutcome.FAILED &&
      result.retriable &&
      message.deliveryCount < maxDeliveries
    ) {
      stats.retried += 1;
      const delayMs = nakDelay(message.deliveryCount);
      logger.info(
        { ...fields, message: result.message, retryInMs: delayMs },
        'command not done yet; retrying',
      );
      message.nak(delayMs);
      return;
    }
    try {
      const routes = handled.routesApplied;
      if (routes !== undefined) {
        await publish(
          routesAppliedObservation(`${result.commandId}:routes`, cluster, nowMs(), {
            ...routes,
            commandId: result.commandId,
          }),
          s,
        );
      }
      await publish(commandResultObservation(cluster, nowMs(), result), s);
    } catch (error) {
      stats.retried += 1;
      const delayMs = nakDelay(message.deliveryCount);
      logger.warn(
        { err: error, ...fields, retryInMs: delayMs },
        'publishing a command result failed',
      );
      message.nak(delayMs);
      return;
    }
    if (handled.duplicate) stats.duplicates += 1;
    else if (result.outcome === CommandOutcome.SUCCEEDED) stats.applied += 1;
    else if (result.outcome === CommandOutcome.REJECTED) stats.rejected += 1;
    if (command !== undefined && result.outcome === CommandOutcome.SUCCEEDED && !handled.duplicate)
      trackRoutes(command, handled);
    if (undecodable || result.reason === CommandReason.Malformed) {
      stats.terminated += 1;
      message.term();
      logger.warn(
        { ...fields, message: result.message },
        'malformed command rejected and terminated',
      );
      return;
    }
    message.ack();
    logger.info(
      { ...fields, duplicate: handled.duplicate, message: result.message },
      'command handled',
    );
  }

  function trackRoutes(
    command: AgentCommand,
    handled: Awaited<ReturnType<CommandHandler['handle']>>,
  ) {
    const namespace = command.workload?.namespace ?? '';
    const name = command.workload?.name ?? '';
    const c = command.command;
    if (c.case === 'setRoutes' && handled.routesApplied !== undefined) {
      lease.routesSet(
        { namespace, name, serviceName: c.value.serviceName || name, router: c.value.router },
        handled.routesApplied.routes,
      );
    } else if (c.case === 'finalizeTarget') {
      lease.forget(namespace, name);
    }
  }

  function sendHeartbeat() {
    if (heartbeatInFlight !== undefined || signal.aborted) return;
    heartbeatSeq += 1;
    const observation = heartbeatObservation(
      `${cluster}:heartbeat:${startedAtMs}:${heartbeatSeq}`,
      cluster,
      nowMs(),
      {
        labels: { ...options.heartbeat.labels },
        agentVersion: options.heartbeat.agentVersion,
        leaseMs: lease.leaseMs,
        agentStartedAt: timestampFromMs(startedAtMs),
      },
    );
    heartbeatInFlight = publish(observation, signal)
      .then(() => {
        stats.heartbeats += 1;
      })
      .catch((error: unknown) => {
        if (!signal.aborted) logger.warn({ err: error }, 'publishing a heartbeat failed');
      })
      .finally(() => {
        heartbeatInFlight = undefined;
      });
  }

  function checkLease() {
    serially(() => lease.check(signal)).catch((error: unknown) => {
      if (!signal.aborted) logger.error({ err: error }, 'checking the lease failed');
    });
  }

  return {
    start() {
      const onMessage = (message: CommandMessage, s: AbortSignal) =>
        serially(() => onCommand(message, s));
      const { nats, commands } = options;
      if (commands !== undefined) {
        consumer = commands(onMessage);
      } else if (nats !== undefined) {
        consumer = startCommandConsumer(
          {
            nats,
            namespace: options.messagingNamespace,
            cluster,
            logger,
            ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
            ...(options.consumerRetryMs !== undefined ? { retryMs: options.consumerRetryMs } : {}),
          },
          onMessage,
        );
      } else {
        throw new AviaryError(ErrorCode.Config, 'the agent needs `nats` or `commands`');
      }
      if (options.resume !== undefined) {
        resuming = options.resume
          .run({ serially, publish, startedAtMs, signal })
          .catch((error: unknown) => {
            if (!signal.aborted) logger.error({ err: error }, 'resuming the routes failed');
          });
      }
      sendHeartbeat();
      heartbeatTimer = setInterval(sendHeartbeat, options.heartbeat.intervalMs);
      const checkMs =
        options.leaseCheckIntervalMs ?? Math.min(1000, Math.max(10, lease.leaseMs / 4));
      leaseTimer = setInterval(checkLease, checkMs);
    },
    async stop() {
      clearInterval(heartbeatTimer);
      clearInterval(leaseTimer);
      controller.abort(new Error('agent stopped'));
      await consumer?.stop();
      await heartbeatInFlight;
      await resuming;
      await chain;
    },
    stats: () => ({ ...stats }),
  };
}

function tryParseCommand(data: Uint8Array): AgentCommand | undefined {
  try {
    return parseCommand(data);
  } catch {
    return undefined;
  }
}
