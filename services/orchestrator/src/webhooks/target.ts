/**
 * Where a webhook goes: an `http:` / `https:` URL, or a manual gate of the application
 * (`aviary-gate:<gate>`), answered by the engine's gate state instead of an HTTP call (what
 * Flagger's load tester `/gate/check` did, without the load tester).
 */

export const GATE_SCHEME = 'aviary-gate:';

/** DNS label: lower-case letters, digits and `-`, starting and ending alphanumeric, ≤ 63. */
const GATE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type WebhookTarget =
  | { readonly kind: 'http'; readonly url: URL }
  | { readonly kind: 'gate'; readonly gate: string }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Whether a gate name is valid (a DNS label). */
export function isValidGateName(gate: string): boolean {
  return GATE_NAME.test(gate);
}

/** Classifies a webhook URL; reasons never repeat the URL beyond its scheme. */
export function webhookTarget(raw: string): WebhookTarget {
  if (raw === '') return { kind: 'invalid', reason: 'the webhook has no url' };
  if (raw.startsWith(GATE_SCHEME)) {
    const gate = raw.slice(GATE_SCHEME.length);
    return isValidGateName(gate)
      ? { kind: 'gate', gate }
      : {
          kind: 'invalid',
          reason: `invalid gate name ${JSON.stringify(gate.slice(0, 80))} in ${GATE_SCHEME}<gate>: expected a DNS label (lower-case letters, digits and '-', at most 63)`,
        };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { kind: 'invalid', reason: 'the webhook url is not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      kind: 'invalid',
      reason: `unsupported webhook url scheme ${JSON.stringify(url.protocol)}: only http:, https: and ${GATE_SCHEME}<gate> are called`,
    };
  }
  return { kind: 'http', url };
}
