/**
 * HMAC signatures of webhook requests (`AVIARY_WEBHOOK_SECRET`).
 *
 * Every attempt of a call carries
 * - `X-Aviary-Timestamp: <epoch seconds>` (the time of that attempt), and
 * - `X-Aviary-Signature: sha256=<hex>`, the HMAC-SHA256 under the shared secret of the string
 *   `<timestamp>.<body>`: the timestamp header's value, a dot, and the exact bytes of the body.
 *
 * A receiver recomputes the HMAC over the raw body it received (before any JSON parsing),
 * compares in constant time, and rejects timestamps too far from its clock (replays). Retries of
 * one call keep `X-Aviary-Request-Id`, so receivers can also drop duplicates.
 * `verifyWebhookSignature` is that recipe, for receivers written in TypeScript and for tests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AviaryError, ErrorCode } from '@aviary/core';

export const SIGNATURE_HEADER = 'x-aviary-signature';
export const TIMESTAMP_HEADER = 'x-aviary-timestamp';
export const REQUEST_ID_HEADER = 'x-aviary-request-id';
export const SIGNATURE_SCHEME = 'sha256';
/** Shortest secret accepted: 16 characters. */
export const MIN_SECRET_LENGTH = 16;
/** Default tolerance between the timestamp and the receiver's clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Throws `CONFIG` unless the secret is long enough to be worth signing with. */
export function checkSigningSecret(secret: string): void {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new AviaryError(
      ErrorCode.Config,
      `the webhook signing secret (AVIARY_WEBHOOK_SECRET) must be at least ${MIN_SECRET_LENGTH} characters, got ${secret.length}`,
    );
  }
}

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export function signWebhookBody(secret: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body);
  return `${SIGNATURE_SCHEME}=${mac.digest('hex')}`;
}

export interface VerifyWebhookSignatureInput {
  readonly secret: string;
  /** The raw request body, exactly as received. */
  readonly body: string | Buffer;
  /** The `X-Aviary-Timestamp` header. */
  readonly timestamp: string | undefined;
  /** The `X-Aviary-Signature` header. */
  readonly signature: string | undefined;
  /** Default 300 s. */
  readonly toleranceSeconds?: number;
  /** The receiver's clock, epoch seconds (default: now). */
  readonly nowSeconds?: number;
}

export type VerifyWebhookSignatureResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string };

/** The receiver's check of a signed request (see the module comment). */
export function verifyWebhookSignature(
  input: VerifyWebhookSignatureInput,
): VerifyWebhookSignatureResult {
  if (input.timestamp === undefined || !/^\d{1,12}$/.test(input.timestamp)) {
    return { ok: false, reason: 'missing or malformed X-Aviary-Timestamp' };
  }
  if (input.signature === undefined || !input.signature.startsWith(`${SIGNATURE_SCHEME}=`)) {
    return { ok: false, reason: 'missing X-Aviary-Signature or not sha256=' };
  }
  const timestamp = Number(input.timestamp);
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - timestamp) > tolerance) {
    return { ok: false, reason: `timestamp ${timestamp} is more than ${tolerance} s from now` };
  }
  const expected = createHmac('sha256', input.secret)
    .update(`${input.timestamp}.`)
    .update(input.body)
    .digest();
  const given = Buffer.from(input.signature.slice(SIGNATURE_SCHEME.length + 1), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'signature does not match the body' };
  }
  return { ok: true };
}
