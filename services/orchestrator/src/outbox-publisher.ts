import type { OutboxPublisher } from '@aviary/event-store';
import type { JetStreamPublisher } from '@aviary/messaging';

/**
 * The outbox relay's publisher on NATS JetStream: the outbox message id becomes `Nats-Msg-Id`,
 * so a message re-published after a crash is stored once (within the stream's duplicate window).
 */
export function jetStreamOutboxPublisher(publisher: JetStreamPublisher): OutboxPublisher {
  return {
    async publish(message, signal) {
      await publisher.publish(message.subject, message.payload, {
        msgId: message.id,
        signal,
        ...(message.headers ? { headers: message.headers } : {}),
      });
    },
  };
}
