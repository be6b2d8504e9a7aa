/**
 * Effects: the decision events that something be sent become outbox messages, written in the same
 * transaction as the events and published by the outbox relay (ARCHITECTURE.md, "Outbox").
 *
 * - Agent commands (`…Requested` events carrying an `AgentCommand`) go to the cluster's command
 *   subject; analysis requests to the analysis request subject. The payload is the message's
 *   canonical protobuf JSON, the form the agent and the analyzer decode.
 * - The NATS message id (`Nats-Msg-Id`) is the command or request id, so JetStream stores a
 *   re-send within its duplicate window once and the agent's own dedup answers a later one. The
 *   outbox row's id is the event's id, unique even for the decider's re-sends of one command.
 * - Webhook calls and notifications are not published: the webhook dispatcher and the notifier
 *   follow the log with their own checkpointed subscriptions.
 */
import type { OutboxMessage } from '@aviary/event-store';
import { analysisRequestSubject, commandSubject, type MessagingNamespace } from '@aviary/messaging';
import type { AgentCommandJson, AnalysisRequestJson } from '@aviary/proto';

const COMMAND_EVENTS = new Set([
  'ClusterCanaryInitializationRequested',
  'CanaryScaleRequested',
  'CanaryWeightRequested',
  'CanaryPromotionRequested',
  'CanaryScaleToZeroRequested',
  'CanaryFinalizationRequested',
  'ClusterRevertRequested',
]);

const encoder = new TextEncoder();

/**
 * The outbox row's header naming the NATS message id when it differs from the row's id; the
 * orchestrator's outbox publisher sends it as `Nats-Msg-Id` and drops the header.
 */
export const OUTBOX_MSG_ID_HEADER = 'Aviary-Msg-Id';

export interface EffectEvent {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
}

/** The outbox messages of a batch of decided events (in their order). */
export function outboxMessagesOf(
  events: readonly EffectEvent[],
  namespace: MessagingNamespace,
  headers: Readonly<Record<string, string>> = {},
): OutboxMessage[] {
  const messages: OutboxMessage[] = [];
  for (const event of events) {
    if (COMMAND_EVENTS.has(event.type)) {
      const command = (event.data as { command?: AgentCommandJson }).command;
      if (command?.commandId === undefined || command.cluster === undefined) continue;
      messages.push({
        id: event.id,
        subject: commandSubject(command.cluster, namespace),
        payload: encoder.encode(JSON.stringify(command)),
        headers: { ...headers, [OUTBOX_MSG_ID_HEADER]: command.commandId },
      });
    } else if (event.type === 'AnalysisRequested') {
      const request = (event.data as { request?: AnalysisRequestJson }).request;
      if (request?.requestId === undefined) continue;
      messages.push({
        id: event.id,
        subject: analysisRequestSubject(namespace),
        payload: encoder.encode(JSON.stringify(request)),
        headers: { ...headers, [OUTBOX_MSG_ID_HEADER]: request.requestId },
      });
    }
  }
  return messages;
}

/** True for the effect events that carry an agent command. */
export const isCommandEvent = (type: string): boolean => COMMAND_EVENTS.has(type);
