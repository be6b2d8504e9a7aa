/**
 * Delivers one notification to one provider: a JSON POST with a timeout (Flagger's notifier: 5 s),
 * tried again on a timeout, a connection error, 429 or 5xx, a few times with backoff (1 s, 2 s…,
 * or the server's `Retry-After` up to 10 s). Any 2xx is delivered (Teams answers 202). A failure
 * is returned, never thrown: notifications must not hold up the release's log. Only the caller's
 * AbortSignal throws (`ABORTED`).
 *
 * The address is a secret: results describe the provider by name and type, and any text that
 * comes back (a response body, an error) is scrubbed of the address and its path and query.
 */
import { throwIfAborted } from '@aviary/core';
import { redactUrlsInText } from '@aviary/platform';
import { type HttpPostResult, httpPost, TransportFailure } from '../webhooks/http-post.ts';
import { abortableSleep } from '../webhooks/sleep.ts';
import { deliveryUrl, payloadFor } from './format.ts';
import type { Notification } from './notification.ts';
import type { AlertProvider } from './providers.ts';

export interface DeliveryOptions {
  /** Per attempt (default 5 s, Flagger's). */
  readonly timeoutMs: number;
  /** Attempts in all (default 3). */
  readonly attempts: number;
  /** Wait before retry n: `backoffMs · 2^(n−1)`, at most `maxBackoffMs` (default 1 s / 10 s). */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** `User-Agent` (default `aviary-orchestrator`). */
  readonly userAgent: string;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  timeoutMs: 5_000,
  attempts: 3,
  backoffMs: 1_000,
  maxBackoffMs: 10_000,
  userAgent: 'aviary-orchestrator',
};

const MAX_RESPONSE_BYTES = 16 * 1024;
const DETAIL_CHARS = 200;

export type DeliveryResult =
  | { readonly ok: true; readonly attempts: number; readonly status: number }
  | {
      readonly ok: false;
      readonly attempts: number;
      /** HTTP status of the last attempt; 0 without a response. */
      readonly status: number;
      /** Scrubbed of the address. */
      readonly reason: string;
    };

export async function deliverNotification(
  notification: Notification,
  provider: AlertProvider,
  options: DeliveryOptions,
  signal: AbortSignal,
): Promise<DeliveryResult> {
  throwIfAborted(signal, `notification to ${provider.name}`);
  const url = deliveryUrl(provider);
  const body = JSON.stringify(payloadFor(notification, provider));
  const attempts = Math.max(1, options.attempts);
  for (let attempt = 1; ; attempt++) {
    const response = await httpPost({
      url,
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': options.userAgent,
        'x-aviary-notification-id': notification.id,
      },
      timeoutMs: options.timeoutMs,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      signal,
    });
    if (response.kind === 'response' && response.status >= 200 && response.status < 300) {
      return { ok: true, attempts: attempt, status: response.status };
    }
    if (attempt >= attempts || !retryable(response)) {
      return {
        ok: false,
        attempts: attempt,
        status: response.kind === 'response' ? response.status : 0,
        reason: describe(response, provider),
      };
    }
    await abortableSleep(
      waitBefore(attempt, response, options),
      signal,
      `notification to ${provider.name}`,
    );
  }
}

function retryable(response: HttpPostResult): boolean {
  if (response.kind === 'failure') {
    return (
      response.failure !== TransportFailure.Tls && response.failure !== TransportFailure.Redirect
    );
  }
  return response.status === 429 || response.status >= 500;
}

function waitBefore(attempt: number, response: HttpPostResult, options: DeliveryOptions): number {
  if (response.kind === 'response' && response.retryAfterMs !== undefined) {
    return Math.min(options.maxBackoffMs, response.retryAfterMs);
  }
  return Math.min(options.maxBackoffMs, options.backoffMs * 2 ** (attempt - 1));
}

function describe(response: HttpPostResult, provider: AlertProvider): string {
  if (response.kind === 'failure') return scrubAddress(response.detail, provider.address);
  const text = scrubAddress(response.body, provider.address).replace(/\s+/g, ' ').trim();
  const excerpt = text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text;
  return `HTTP ${response.status}${excerpt === '' ? '' : `: ${excerpt}`}`;
}

/**
 * Removes an address from a text: the URL as given and as normalised, its path (where webhook
 * tokens live), its query and its password; plus any `user:password@` of other URLs.
 */
export function scrubAddress(text: string, address: string): string {
  const secrets = [address];
  if (URL.canParse(address)) {
    const url = new URL(address);
    secrets.push(url.href);
    if (url.pathname.length > 1) secrets.push(url.pathname, url.pathname.replace(/\/+$/, ''));
    if (url.search.length > 1) secrets.push(url.search.slice(1));
    if (url.password !== '') secrets.push(url.password);
  }
  let scrubbed = text;
  // Longest first, so that a secret's parts do not leave pieces of it behind.
  for (const secret of secrets.filter((s) => s.length > 1).sort((a, b) => b.length - a.length)) {
    scrubbed = scrubbed.replaceAll(secret, '[redacted]');
  }
  return redactUrlsInText(scrubbed);
}
