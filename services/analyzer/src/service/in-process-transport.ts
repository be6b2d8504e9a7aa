/**
 * The analysis service on the in-process bus of `aviary dev` (`InProcessBus` of
 * `@aviary/messaging`), where the orchestrator, the analyzer and the agents share one process.
 * Requests are taken from `analysisRequestSubject`, verdicts published on the bus itself (it
 * de-duplicates message ids as JetStream does).
 *
 * Kept from JetStream: delivery in publish order, `nak(delayMs)` delivering again after the delay,
 * `ackAck`/`term` ending a message. Not kept: durability. The subscription is made when the
 * transport is created, so create it before anything publishes requests; what is queued lives in
 * memory only (the event log's outbox is what survives a restart of the process).
 */
import {
  analysisRequestSubject,
  type BusMessage,
  type JetStreamPublisher,
  type MessagingNamespace,
} from '@aviary/messaging';
import type { AnalysisTransport, RequestMessage, RequestStream } from './transport.ts';

/** What this transport needs of the bus: `InProcessBus`'s publish and subscribe. */
export interface AnalysisBus extends Pick<JetStreamPublisher, 'publish'> {
  subscribe(filter: string, handler: (message: BusMessage) => unknown): () => void;
}

export function inProcessAnalysisTransport(
  bus: AnalysisBus,
  namespace: MessagingNamespace,
): AnalysisTransport {
  const queue: BusMessage[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let wake: (() => void) | undefined;
  let stopped = false;
  const push = (message: BusMessage) => {
    if (stopped) return;
    queue.push(message);
    wake?.();
  };
  const unsubscribe = bus.subscribe(analysisRequestSubject(namespace), push);

  const wrap = (message: BusMessage): RequestMessage => {
    let settled = false;
    const settle = () => {
      const first = !settled;
      settled = true;
      return first;
    };
    return {
      data: message.payload,
      seq: message.seq,
      header: (name) => message.headers[name],
      ackAck: async () => settle(),
      term: () => {
        settle();
      },
      nak: (delayMs) => {
        if (!settle() || stopped) return;
        const timer = setTimeout(() => {
          timers.delete(timer);
          push(message);
        }, delayMs ?? 0);
        timers.add(timer);
      },
      working: () => {},
    };
  };

  return {
    publisher: bus,
    async requests() {
      const stream: RequestStream = {
        stop() {
          stopped = true;
          unsubscribe();
          for (const timer of timers) clearTimeout(timer);
          timers.clear();
          wake?.();
        },
        async *[Symbol.asyncIterator]() {
          while (!stopped) {
            const next = queue.shift();
            if (next !== undefined) {
              yield wrap(next);
              continue;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
        },
      };
      return stream;
    },
  };
}
