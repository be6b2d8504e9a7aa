/**
 * The agent's durable JetStream pull consumer on its cluster's command subject.
 *
 * - Durable name `agent-<cluster>`, filtered on `<root>.v1.cluster.<cluster>.cmd`, explicit acks.
 *   The command stream is a work queue: an acked command is gone, an unacked one is delivered
 *   again after `ackWaitMs`, also to the next agent process after a restart.
 * - One command at a time (`next()`, no client-side buffer), so a stopping agent leaves nothing
 *   pulled but unhandled.
 * - Until a stream stores the subject (the orchestrator creates the streams), and after any
 *   failure (NATS away, consumer deleted), it logs, waits `retryMs` and tries again.
 */

import type { NatsClient } from '@aviary/messaging';
import { commandSubject, findStreamForSubject, type MessagingNamespace } from '@aviary/messaging';
import { observeCommand } from './command-telemetry.ts';
import { sleep } from './observation-publisher.ts';

export interface CommandMessage {
  readonly data: Uint8Array;
  /** The message's `Nats-Msg-Id` (the outbox uses the command id), if any. */
  readonly msgId: string | undefined;
  /** Stream sequence. */
  readonly seq: number;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  ack(): void;
  /** Delivered again after `delayMs`. */
  nak(delayMs: number): void;
  /** Never delivered again. (The reason is not sent: servers before 2.10.4 ignore such a term.) */
  term(): void;
  /** Resets the ack timer while a long command runs. */
  working(): void;
}

export interface ConsumerLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface CommandConsumerOptions {
  readonly nats: Pick<NatsClient, 'jetstream' | 'jetstreamManager'>;
  readonly namespace: MessagingNamespace;
  readonly cluster: string;
  readonly logger: ConsumerLogger;
  /** Redelivery of an unacked command. Default 60 s. */
  readonly ackWaitMs?: number;
  /** Pause before trying again after a failure. Default 2 s. */
  readonly retryMs?: number;
  /** How long one pull waits for a message (bounds the stop latency). Default 1 s. */
  readonly pullExpiresMs?: number;
}

export interface CommandConsumer {
  /** Stops pulling; resolves once the command in hand (if any) is finished. */
  stop(): Promise<void>;
}

export function durableNameOf(cluster: string): string {
  return `agent-${cluster}`;
}

const NS_PER_MS = 1_000_000;

type PullConsumer = Awaited<ReturnType<NatsClient['jetstream']['consumers']['get']>>;
type JsMsg = NonNullable<Awaited<ReturnType<PullConsumer['next']>>>;

function wrap(message: JsMsg): CommandMessage {
  return {
    data: message.data,
    msgId: message.headers?.get('Nats-Msg-Id') || undefined,
    seq: message.seq,
    deliveryCount: message.info.deliveryCount,
    ack: () => message.ack(),
    nak: (delayMs) => message.nak(delayMs),
    term: () => message.term(),
    working: () => message.working(),
  };
}

/**
 * Starts consuming: `onMessage` gets each command in turn and must ack, nak or term it. The
 * signal it gets aborts when the consumer stops.
 */
export function startCommandConsumer(
  options: CommandConsumerOptions,
  onMessage: (message: CommandMessage, signal: AbortSignal) => Promise<void>,
): CommandConsumer {
  const { nats, cluster, logger } = options;
  const subject = commandSubject(cluster, options.namespace);
  const durable = durableNameOf(cluster);
  const ackWaitMs = options.ackWaitMs ?? 60_000;
  const retryMs = options.retryMs ?? 2000;
  const expires = options.pullExpiresMs ?? 1000;
  const controller = new AbortController();
  const { signal } = controller;

  async function ensureConsumer(): Promise<string | undefined> {
    const jsm = await nats.jetstreamManager({ signal });
    const stream = await findStreamForSubject(jsm, subject, { signal });
    if (stream === undefined) return undefined;
    const config = {
      durable_name: durable,
      description: `Aviary agent of cluster ${cluster}`,
      filter_subject: subject,
      ack_policy: 'explicit',
      deliver_policy: 'all',
      ack_wait: ackWaitMs * NS_PER_MS,
      max_deliver: -1,
    } as const;
    try {
      await jsm.consumers.add(stream, config);
    } catch (error) {
      // It exists with another configuration (e.g. another ack wait): bring it up to date.
      try {
        await jsm.consumers.update(stream, durable, {
          description: config.description,
          ack_wait: config.ack_wait,
          max_deliver: config.max_deliver,
        });
      } catch {
        throw error;
      }
    }
    return stream;
  }

  async function run() {
    let warnedNoStream = false;
    while (!signal.aborted) {
      try {
        const stream = await ensureConsumer();
        if (stream === undefined) {
          if (!warnedNoStream) {
            logger.warn(
              { subject },
              'no stream stores this agent’s command subject yet; the orchestrator or analyzer creates the streams at start-up',
            );
            warnedNoStream = true;
          }
          await sleep(retryMs, signal);
          continue;
        }
        logger.info({ subject, stream, durable }, 'command stream found');
        const consumer = await nats.jetstream.consumers.get(stream, durable);
        while (!signal.aborted) {
          const message = await consumer.next({ expires });
          if (message === null) continue;
          await observeCommand(cluster, message.subject, message.headers, wrap(message), (m) =>
            onMessage(m, signal),
          );
        }
      } catch (error) {
        if (signal.aborted) break;
        logger.error({ err: error, subject }, 'consuming commands failed; retrying');
        await sleep(retryMs, signal).catch(() => undefined);
      }
    }
  }

  const running = run();
  return {
    async stop() {
      controller.abort(new Error('command consumer stopped'));
      await running;
    },
  };
}
