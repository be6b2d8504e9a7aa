/**
 * The body of a webhook call: Flagger's `CanaryWebhookPayload`, byte-compatible with what
 * Flagger's Go client sends (fields in Go's declaration order, `metadata` omitted when empty,
 * the phase as Flagger's name, e.g. `Progressing`), so that receivers written for Flagger (the
 * flagger-loadtester, gate services) work unchanged.
 */
import type {
  CanaryPhaseJson,
  WebhookCallJson,
  WebhookPayloadJson,
  WebhookTypeJson,
} from '@aviary/proto';

/** Flagger's `status.phase` names; Flagger leaves the phase empty before initialization. */
export const FLAGGER_PHASE: Readonly<Record<CanaryPhaseJson, string>> = {
  CANARY_PHASE_UNSPECIFIED: '',
  CANARY_PHASE_INITIALIZING: 'Initializing',
  CANARY_PHASE_INITIALIZED: 'Initialized',
  CANARY_PHASE_WAITING: 'Waiting',
  CANARY_PHASE_PROGRESSING: 'Progressing',
  CANARY_PHASE_WAITING_PROMOTION: 'WaitingPromotion',
  CANARY_PHASE_PROMOTING: 'Promoting',
  CANARY_PHASE_FINALISING: 'Finalising',
  CANARY_PHASE_SUCCEEDED: 'Succeeded',
  CANARY_PHASE_FAILED: 'Failed',
};

/** Flagger's `webhooks[].type` names (`X-Aviary-Webhook-Type`). */
export const FLAGGER_WEBHOOK_TYPE: Readonly<Record<WebhookTypeJson, string>> = {
  WEBHOOK_TYPE_UNSPECIFIED: 'rollout',
  WEBHOOK_TYPE_CONFIRM_ROLLOUT: 'confirm-rollout',
  WEBHOOK_TYPE_PRE_ROLLOUT: 'pre-rollout',
  WEBHOOK_TYPE_ROLLOUT: 'rollout',
  WEBHOOK_TYPE_CONFIRM_TRAFFIC_INCREASE: 'confirm-traffic-increase',
  WEBHOOK_TYPE_CONFIRM_PROMOTION: 'confirm-promotion',
  WEBHOOK_TYPE_POST_ROLLOUT: 'post-rollout',
  WEBHOOK_TYPE_ROLLBACK: 'rollback',
  WEBHOOK_TYPE_EVENT: 'event',
};

/** Flagger's JSON body. */
export interface FlaggerWebhookPayload {
  readonly name: string;
  readonly namespace: string;
  readonly phase: string;
  readonly checksum: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * The payload of a call. For `event` webhooks Flagger adds `eventMessage`, `eventType` and
 * `timestamp` (unix milliseconds) to the metadata, over the webhook's own keys: the decider puts
 * the first two into `payload.metadata`; `timestamp` is added here (the time of the call) when
 * absent.
 */
export function webhookPayload(call: WebhookCallJson, nowMs: number): FlaggerWebhookPayload {
  const given: WebhookPayloadJson = call.payload ?? {};
  const metadata: Record<string, string> = { ...given.metadata };
  if (call.type === 'WEBHOOK_TYPE_EVENT' && metadata.timestamp === undefined) {
    metadata.timestamp = String(nowMs);
  }
  const payload = {
    name: given.name ?? '',
    namespace: given.namespace ?? '',
    phase: FLAGGER_PHASE[given.phase ?? 'CANARY_PHASE_UNSPECIFIED'],
    checksum: given.checksum ?? '',
  };
  const keys = Object.keys(metadata).sort();
  if (keys.length === 0) return payload;
  // Go's encoding/json writes map keys sorted.
  return { ...payload, metadata: Object.fromEntries(keys.map((k) => [k, metadata[k] ?? ''])) };
}
