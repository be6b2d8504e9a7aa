/**
 * The analysis service's transport seam: where `AnalysisRequest`s come from and where verdicts
 * go. Two implementations: JetStream (`natsAnalysisTransport`, production: a durable pull consumer
 * on the analysis stream) and the in-process bus of `aviary dev` (`in-process-transport.ts`). The
 * service only needs what both can give: messages to ack, nak, term or keep alive, and a
 * publisher with message-id de-duplication.
 */
import {
  analysisRequestSubject,
  createJetStreamPublisher,
  type JetStreamPublisher,
  type MessagingNamespace,
  type NatsClient,
  streamNames,
} from '@aviary/messaging';
import type { JsMsg } from '@nats-io/jetstream';

/** One delivered request, as the service handles it (a JetStream message's subset). */
export interface RequestMessage {
  readonly data: Uint8Array;
  /** Stream (or bus) sequence, for logs. */
  readonly seq: number;
  /** A header of the message (e.g. `traceparent`), if any. */
  header(name: string): string | undefined;
  /** Acknowledges, and resolves once the acknowledgement is confirmed. */
  ackAck(): Promise<unknown>;
  /** Delivered again, after `delayMs` if given. */
  nak(delayMs?: number): void;
  /** Never delivered again. */
  term(): void;
  /** Keeps a held message alive (resets its ack timer). */
  working(): void;
}

/** The requests as they arrive; `stop()` ends the iteration. */
export interface RequestStream extends AsyncIterable<RequestMessage> {
  stop(): void;
}

export interface AnalysisTransport {
  /** Starts receiving requests (creating or updating the consumer where there is one). */
  requests(signal: AbortSignal): Promise<RequestStream>;
  /** Where verdicts are published (`Nats-Msg-Id` de-duplication). */
  readonly publisher: Pick<JetStreamPublisher, 'publish'>;
}

export interface NatsTransportOptions {
  readonly nats: NatsClient;
  readonly namespace: MessagingNamespace;
  /** Durable consumer name; default `analyzer`. */
  readonly consumerName?: string;
  /** The consumer's ack wait; default 5 min (held messages are kept alive on every tick). */
  readonly ackWaitMs?: number;
  /** Unacknowledged requests the consumer hands out at once; default 10,000. */
  readonly maxAckPending?: number;
}

/** JetStream: the durable pull consumer `analyzer` on the analysis stream, filtered to requests. */
export function natsAnalysisTransport(options: NatsTransportOptions): AnalysisTransport {
  const { nats, namespace } = options;
  return {
    publisher: createJetStreamPublisher(nats.jetstream),
    async requests(signal) {
      const durable = options.consumerName ?? 'analyzer';
      const stream = streamNames(namespace).analysis;
      const jsm = await nats.jetstreamManager({ signal });
      const config = {
        durable_name: durable,
        filter_subject: analysisRequestSubject(namespace),
        ack_policy: 'explicit',
        ack_wait: (options.ackWaitMs ?? 300_000) * 1_000_000,
        max_ack_pending: options.maxAckPending ?? 10_000,
      } as const;
      try {
        await jsm.consumers.add(stream, config);
      } catch {
        // Exists with another configuration: update what may change in place.
        await jsm.consumers.update(stream, durable, {
          filter_subject: config.filter_subject,
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending,
        });
      }
      const consumer = await nats.jetstream.consumers.get(stream, durable);
      const messages = await consumer.consume({ max_messages: 256 });
      return {
        stop: () => {
          messages.stop();
        },
        async *[Symbol.asyncIterator]() {
          for await (const msg of messages) yield wrapJsMsg(msg);
        },
      };
    },
  };
}

function wrapJsMsg(msg: JsMsg): RequestMessage {
  return {
    data: msg.data,
    seq: msg.seq,
    header: (name) => msg.headers?.get(name) || undefined,
    ackAck: () => msg.ackAck(),
    nak: (delayMs) => msg.nak(delayMs),
    term: () => msg.term(),
    working: () => msg.working(),
  };
}
