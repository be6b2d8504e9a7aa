import type { OutboxPublisher } from '@aviary/event-store';
import type { JetStreamPublisher } from '@aviary/messaging';
import { OUTBOX_MSG_ID_HEADER } from './engine/effects.ts';

/**
 * The outbox relay's publisher on NATS JetStream. `Nats-Msg-Id` is the row's `Aviary-Msg-Id`
 * header when it has one (the command or request id of an effect), else the outbox row's id, so a
 * message re-published after a crash is stored once (within the stream's duplicate window).
 * The row's other headers go out as they are: among them the `traceparent`/`tracestate` stored
 * when the message was decided (`engine/effects.ts`), which the publisher's `publish` span
 * continues, so the receiver joins the decision's trace (docs/observability.md).
 */
export function jetStreamOutboxPublisher(publisher: JetStreamPublisher): OutboxPublisher {
  return {
    async publish(message, signal) {
      const { [OUTBOX_MSG_ID_HEADER]: msgId, ...headers } = message.headers ?? {};
      await publisher.publish(message.subject, message.payload, {
        msgId: msgId ?? message.id,
        signal,
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
      });
    },
  };
}
