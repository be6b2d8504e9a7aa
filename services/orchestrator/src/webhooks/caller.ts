/**
 * The webhook caller: one `WebhookCall` (a `WebhookRequested` effect) made the Flagger way, and
 * its `WebhookResultRecorded`.
 *
 * - `http:` / `https:`: POST of Flagger's `CanaryWebhookPayload` (see `payload.ts`) with
 *   `Content-Type: application/json`, `X-Aviary-Request-Id` (the call's id, the same on every
 *   attempt), `X-Aviary-Cluster`, `X-Aviary-Webhook-Type`, and, with a signing secret, the HMAC
 *   headers of `signature.ts`. Status 200–202 → PASSED; any other status → FAILED (Flagger:
 *   `StatusCode > 202` is an error, so 203–299 fail too); no response (timeout, connection or TLS
 *   error) → ERROR.
 * - `aviary-gate:<gate>`: no HTTP; PASSED while the application's gate is open, FAILED ("gate
 *   <gate> is closed") otherwise.
 * - Any other URL → ERROR, without calling anything.
 *
 * Retries follow Flagger's client (go-retryablehttp with `RetryMax = retries`): a timeout or
 * connection error, 429 and 5xx other than 501 are tried again, up to `retries` more times,
 * after 1 s, 2 s, 4 s… (at most 30 s; `Retry-After` of a 429 or 503 is honoured up to that);
 * other statuses and TLS certificate errors are final. `timeout_ms` (default 10 s, Flagger's)
 * bounds each attempt.
 *
 * Messages and logs name the webhook, its cluster and the URL's origin only: never its path,
 * query or credentials, nor the signing secret.
 */
import { throwIfAborted } from '@aviary/core';
import { redactUrlsInText } from '@aviary/platform';
import type { WebhookCallJson, WebhookOutcomeJson, WebhookResultRecordedJson } from '@aviary/proto';
import type { ApplicationRef, Operations, WebhookCaller } from '../ports.ts';
import { type HttpPostResult, httpPost, originOf, TransportFailure } from './http-post.ts';
import { errorText, type ServiceLogger, silentLogger } from './logger.ts';
import { FLAGGER_WEBHOOK_TYPE, webhookPayload } from './payload.ts';
import {
  checkSigningSecret,
  REQUEST_ID_HEADER,
  SIGNATURE_HEADER,
  signWebhookBody,
  TIMESTAMP_HEADER,
} from './signature.ts';
import { abortableSleep } from './sleep.ts';
import { webhookTarget } from './target.ts';

/** Flagger's default webhook timeout. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** Response bytes read; the rest is dropped. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
/** Characters of a response body kept in a result's message. */
export const MESSAGE_BODY_CHARS = 200;
/** go-retryablehttp's defaults (`RetryWaitMin`, `RetryWaitMax`). */
export const DEFAULT_RETRY_BACKOFF = { minMs: 1_000, maxMs: 30_000 } as const;

export interface HttpWebhookCallerOptions {
  /** Answers `aviary-gate:<gate>` webhooks (the engine's `Operations.gateOpen`). */
  readonly gateOpen: Operations['gateOpen'];
  /**
   * `AVIARY_WEBHOOK_SECRET`: signs every request (see `signature.ts`); at least 16 characters.
   * Absent or empty: requests are not signed.
   */
  readonly signingSecret?: string | undefined;
  readonly logger?: ServiceLogger;
  /** Default 64 KiB. */
  readonly maxResponseBytes?: number;
  /** Wait before retry n: `minMs · 2^(n−1)`, at most `maxMs`. Default 1 s / 30 s. */
  readonly retryBackoff?: { readonly minMs: number; readonly maxMs: number };
  /** `User-Agent` header (default `aviary-orchestrator`). */
  readonly userAgent?: string;
  /** Clock in epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
}

export class HttpWebhookCaller implements WebhookCaller {
  readonly #gateOpen: Operations['gateOpen'];
  readonly #secret: string | undefined;
  readonly #logger: ServiceLogger;
  readonly #maxResponseBytes: number;
  readonly #backoff: { readonly minMs: number; readonly maxMs: number };
  readonly #userAgent: string;
  readonly #now: () => number;

  /** Throws `CONFIG` for a signing secret shorter than 16 characters. */
  constructor(options: HttpWebhookCallerOptions) {
    if (options.signingSecret !== undefined && options.signingSecret !== '') {
      checkSigningSecret(options.signingSecret);
      this.#secret = options.signingSecret;
    }
    this.#gateOpen = options.gateOpen;
    this.#logger = options.logger ?? silentLogger;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#backoff = options.retryBackoff ?? DEFAULT_RETRY_BACKOFF;
    this.#userAgent = options.userAgent ?? 'aviary-orchestrator';
    this.#now = options.now ?? Date.now;
  }

  /** Whether requests are signed. */
  get signing(): boolean {
    return this.#secret !== undefined;
  }

  /** Makes the call; never throws for its outcome, only `ABORTED` when `signal` aborts. */
  async call(
    call: WebhookCallJson,
    application: ApplicationRef,
    signal: AbortSignal,
  ): Promise<WebhookResultRecordedJson> {
    const what = `webhook ${call.name ?? ''}`;
    throwIfAborted(signal, what);
    const startedMs = this.#now();
    const target = webhookTarget(call.url ?? '');
    let outcome: Outcome;
    let origin = '';
    switch (target.kind) {
      case 'invalid':
        outcome = { outcome: 'WEBHOOK_OUTCOME_ERROR', statusCode: 0, message: target.reason };
        break;
      case 'gate':
        outcome = this.#gate(application, target.gate);
        break;
      case 'http':
        origin = originOf(target.url);
        outcome = await this.#post(call, target.url, startedMs, signal);
        break;
    }
    const result = resultOf(call, outcome, Math.max(0, Math.round(this.#now() - startedMs)));
    this.#logger.debug(
      {
        requestId: call.requestId,
        cluster: call.cluster,
        webhook: call.name,
        type: call.type,
        ...(origin === '' ? {} : { origin }),
        outcome: outcome.outcome,
        statusCode: outcome.statusCode,
        durationMs: result.durationMs ?? 0,
      },
      'webhook called',
    );
    return result;
  }

  #gate(application: ApplicationRef, gate: string): Outcome {
    let open: boolean;
    try {
      open = this.#gateOpen(application, gate);
    } catch (error) {
      return {
        outcome: 'WEBHOOK_OUTCOME_ERROR',
        statusCode: 0,
        message: `gate ${gate} could not be read: ${redactUrlsInText(errorText(error))}`,
      };
    }
    return open
      ? { outcome: 'WEBHOOK_OUTCOME_PASSED', statusCode: 0, message: `gate ${gate} is open` }
      : { outcome: 'WEBHOOK_OUTCOME_FAILED', statusCode: 0, message: `gate ${gate} is closed` };
  }

  async #post(
    call: WebhookCallJson,
    url: URL,
    startedMs: number,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const body = JSON.stringify(webhookPayload(call, startedMs));
    const attempts = 1 + (call.retries ?? 0);
    const timeoutMs =
      call.timeoutMs === undefined || call.timeoutMs === 0
        ? DEFAULT_WEBHOOK_TIMEOUT_MS
        : call.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const response = await httpPost({
        url,
        body,
        headers: this.#headers(call, body),
        timeoutMs,
        insecureSkipTlsVerify: call.disableTls === true,
        maxResponseBytes: this.#maxResponseBytes,
        signal,
      });
      if (attempt >= attempts || !retryable(response)) {
        return outcomeOf(response, url, attempt);
      }
      const waitMs = this.#waitBefore(attempt, response);
      this.#logger.debug(
        {
          requestId: call.requestId,
          webhook: call.name,
          origin: originOf(url),
          attempt,
          waitMs,
          ...(response.kind === 'response'
            ? { statusCode: response.status }
            : { failure: response.failure }),
        },
        'webhook attempt failed; retrying',
      );
      await abortableSleep(waitMs, signal, `webhook ${call.name ?? ''}`);
    }
  }

  #headers(call: WebhookCallJson, body: string): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': this.#userAgent,
      [REQUEST_ID_HEADER]: call.requestId ?? '',
      'x-aviary-cluster': call.cluster ?? '',
      'x-aviary-webhook-type': FLAGGER_WEBHOOK_TYPE[call.type ?? 'WEBHOOK_TYPE_UNSPECIFIED'],
    };
    if (this.#secret !== undefined) {
      const timestamp = Math.floor(this.#now() / 1000);
      headers[TIMESTAMP_HEADER] = String(timestamp);
      headers[SIGNATURE_HEADER] = signWebhookBody(this.#secret, timestamp, body);
    }
    return headers;
  }

  /** go-retryablehttp's DefaultBackoff: exponential, or `Retry-After` on 429 / 503. */
  #waitBefore(attempt: number, response: HttpPostResult): number {
    const { minMs, maxMs } = this.#backoff;
    if (
      response.kind === 'response' &&
      (response.status === 429 || response.status === 503) &&
      response.retryAfterMs !== undefined
    ) {
      return Math.min(maxMs, response.retryAfterMs);
    }
    return Math.min(maxMs, minMs * 2 ** (attempt - 1));
  }
}

interface Outcome {
  readonly outcome: WebhookOutcomeJson;
  readonly statusCode: number;
  readonly message: string;
}

/** go-retryablehttp's DefaultRetryPolicy. */
function retryable(response: HttpPostResult): boolean {
  if (response.kind === 'failure') {
    return (
      response.failure !== TransportFailure.Tls && response.failure !== TransportFailure.Redirect
    );
  }
  return (
    response.status === 0 ||
    response.status === 429 ||
    (response.status >= 500 && response.status !== 501)
  );
}

function outcomeOf(response: HttpPostResult, url: URL, attempts: number): Outcome {
  const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
  if (response.kind === 'failure') {
    return {
      outcome: 'WEBHOOK_OUTCOME_ERROR',
      statusCode: 0,
      message: `${response.detail} calling ${originOf(url)}${tries}`,
    };
  }
  const passed = response.status >= 200 && response.status <= 202;
  const excerpt = bodyExcerpt(response.body, response.truncated, url);
  return {
    outcome: passed ? 'WEBHOOK_OUTCOME_PASSED' : 'WEBHOOK_OUTCOME_FAILED',
    statusCode: response.status,
    message: `HTTP ${response.status}${excerpt === '' ? '' : `: ${excerpt}`}${tries}`,
  };
}

/**
 * The first `MESSAGE_BODY_CHARS` characters of a body on one line, without credentials, the
 * request's query string or the URL itself should the server echo them.
 */
function bodyExcerpt(body: string, truncated: boolean, url: URL): string {
  let text = body;
  for (const secret of [url.href, url.search.length > 1 ? url.search : '', url.password]) {
    if (secret !== '') text = text.replaceAll(secret, '[redacted]');
  }
  text = redactUrlsInText(text).replace(/\s+/g, ' ').trim();
  if (text.length > MESSAGE_BODY_CHARS) return `${text.slice(0, MESSAGE_BODY_CHARS)}…`;
  return truncated && text !== '' ? `${text}…` : text;
}

/** The result as canonical proto JSON: fields in proto order, zero values left out. */
function resultOf(
  call: WebhookCallJson,
  outcome: Outcome,
  durationMs: number,
): WebhookResultRecordedJson {
  const result: WebhookResultRecordedJson = {};
  if (call.requestId) result.requestId = call.requestId;
  if (call.cluster) result.cluster = call.cluster;
  if (call.name) result.name = call.name;
  if (call.type && call.type !== 'WEBHOOK_TYPE_UNSPECIFIED') result.type = call.type;
  result.outcome = outcome.outcome;
  if (outcome.statusCode !== 0) result.statusCode = outcome.statusCode;
  if (outcome.message !== '') result.message = outcome.message;
  if (durationMs > 0) result.durationMs = Math.min(durationMs, 0xffff_ffff);
  return result;
}
