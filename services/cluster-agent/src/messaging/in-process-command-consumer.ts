/**
 * The agent's command consumer on an in-process bus (`InProcessBus` of `@aviary/messaging`), for
 * `aviary dev`, where the orchestrator, the analyzer and every agent share one process. It keeps
 * the contract of the JetStream consumer (`command-consumer.ts`) that the agent relies on:
 *
 * - one command at a time, in publish order, each handed over as a `CommandMessage`;
 * - `nak(delayMs)` delivers the message again after the delay, with `deliveryCount` + 1;
 * - `ack()` and `term()` drop it; `working()` does nothing (there is no ack timer to reset).
 *
 * What it does not keep: durability. A message published while no consumer is subscribed is not
 * seen, and the queue lives in memory. That is why it must be started before anything publishes
 * commands (the outbox relay), and why it is only for a process whose clusters, bus and agents
 * start and end together: the event log's outbox is what survives a restart.
 */
import { type BusMessage, commandSubject, type MessagingNamespace } from '@aviary/messaging';
import type { CommandConsumer, CommandMessage, ConsumerLogger } from './command-consumer.ts';
import { observeCommand } from './command-telemetry.ts';

/** What this consumer needs of the bus: `InProcessBus.subscribe`. */
export interface CommandBus {
  subscribe(filter: string, handler: (message: BusMessage) => unknown): () => void;
}

export interface InProcessCommandConsumerOptions {
  readonly bus: CommandBus;
  readonly namespace: MessagingNamespace;
  readonly cluster: string;
  readonly logger: ConsumerLogger;
}

interface Delivery {
  readonly message: BusMessage;
  readonly deliveryCount: number;
}

/**
 * Subscribes to `cluster`'s command subject at once (so nothing published from now on is missed)
 * and returns the starter the agent calls (`AgentOptions.commands`): `onMessage` gets each command
 * in turn and must ack, nak or term it; its signal aborts when the consumer stops.
 */
export function inProcessCommands(
  options: InProcessCommandConsumerOptions,
): (onMessage: (message: CommandMessage, signal: AbortSignal) => Promise<void>) => CommandConsumer {
  const { bus, cluster, logger } = options;
  const subject = commandSubject(cluster, options.namespace);
  const queue: Delivery[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let wake: (() => void) | undefined;
  const push = (delivery: Delivery) => {
    queue.push(delivery);
    wake?.();
  };
  const unsubscribe = bus.subscribe(subject, (message) => {
    push({ message, deliveryCount: 1 });
  });

  return (onMessage) => {
    const controller = new AbortController();
    const { signal } = controller;
    signal.addEventListener('abort', () => wake?.(), { once: true });

    const wrap = ({ message, deliveryCount }: Delivery): CommandMessage => {
      let settled = false;
      const settle = () => {
        const first = !settled;
        settled = true;
        return first;
      };
      return {
        data: message.payload,
        msgId: message.msgId,
        seq: message.seq,
        deliveryCount,
        ack: () => {
          settle();
        },
        term: () => {
          settle();
        },
        nak: (delayMs) => {
          if (!settle() || signal.aborted) return;
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!signal.aborted) push({ message, deliveryCount: deliveryCount + 1 });
          }, delayMs);
          timers.add(timer);
        },
        working: () => {},
      };
    };

    const running = (async () => {
      logger.info({ subject, transport: 'in-process bus' }, 'command stream found');
      while (!signal.aborted) {
        const next = queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        try {
          const { message } = next;
          await observeCommand(cluster, message.subject, message.headers, wrap(next), (m) =>
            onMessage(m, signal),
          );
        } catch (error) {
          if (signal.aborted) break;
          logger.error({ err: error, subject, seq: next.message.seq }, 'handling a command failed');
        }
      }
    })();

    return {
      async stop() {
        controller.abort(new Error('command consumer stopped'));
        unsubscribe();
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        await running;
      },
    };
  };
}
