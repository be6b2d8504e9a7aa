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
 * - Tracing (docs/observability.md): while it is on, each message is a `create` span, child of
 *   whatever span is active when the decision is made (the ingest of the observation or verdict
 *   that caused it), and its row stores that span's `traceparent`/`tracestate`, which the relay
 *   publishes later (maybe after a restart) so that the agent's or analyzer's work joins the trace.
 */
import type { OutboxMessage } from '@aviary/event-store';
import {
  analysisRequestSubject,
  commandSubject,
  headersWithSpan,
  type MessagingNamespace,
  messagingAttributes,
  SpanKinds,
  subjectTemplate,
} from '@aviary/messaging';
import { isTracingEnabled } from '@aviary/platform';
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
      const commandId = command?.commandId;
      const cluster = command?.cluster;
      if (command === undefined || commandId === undefined || cluster === undefined) continue;
      const subject = commandSubject(cluster, namespace);
      messages.push({
        id: event.id,
        subject,
        payload: encoder.encode(JSON.stringify(command)),
        headers: {
          ...traced(headers, subject, event, () => ({
            'aviary.command.id': commandId,
            'aviary.command.action': actionOf(command),
            'aviary.release.id': command.releaseId ?? '',
            'aviary.cluster': cluster,
          })),
          [OUTBOX_MSG_ID_HEADER]: commandId,
        },
      });
    } else if (event.type === 'AnalysisRequested') {
      const request = (event.data as { request?: AnalysisRequestJson }).request;
      const requestId = request?.requestId;
      if (request === undefined || requestId === undefined) continue;
      const subject = analysisRequestSubject(namespace);
      messages.push({
        id: event.id,
        subject,
        payload: encoder.encode(JSON.stringify(request)),
        headers: {
          ...traced(headers, subject, event, () => ({
            'aviary.request.id': requestId,
            'aviary.release.id': request.releaseId ?? '',
            'aviary.cluster': request.cluster ?? '',
            'aviary.check': request.checkName ?? '',
          })),
          [OUTBOX_MSG_ID_HEADER]: requestId,
        },
      });
    }
  }
  return messages;
}

/**
 * `headers` with the trace context of a `create` span for this message (ended at once: the
 * decision is made); `headers` untouched while tracing is off.
 */
function traced(
  headers: Readonly<Record<string, string>>,
  subject: string,
  event: EffectEvent,
  attributes: () => Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  // Every decided message passes here: with tracing off, nothing is built (the span's name and
  // attributes are made only for a span that will exist).
  if (!isTracingEnabled()) return headers;
  return headersWithSpan(
    `create ${subjectTemplate(subject)}`,
    {
      kind: SpanKinds.Producer,
      attributes: messagingAttributes(subject, 'create', {
        ...attributes(),
        'aviary.event.id': event.id,
        'aviary.event.type': event.type,
      }),
    },
    headers,
  );
}

/** The command's action, its oneof field (`setRoutes`, `scaleCanary`, …). */
function actionOf(command: AgentCommandJson): string {
  for (const key of Object.keys(command)) if (ACTIONS.has(key)) return key;
  return 'unknown';
}

const ACTIONS = new Set([
  'initializeTarget',
  'scaleCanary',
  'setRoutes',
  'promoteCanary',
  'scaleCanaryToZero',
  'finalizeTarget',
  'renewLease',
  'revertPrimary',
]);

/** True for the effect events that carry an agent command. */
export const isCommandEvent = (type: string): boolean => COMMAND_EVENTS.has(type);
