/**
 * One HTTP POST over `node:http` / `node:https`, with the behaviour of Go's `http.Client` that
 * Flagger's webhook and notifier calls rely on:
 *
 * - the timeout covers the whole exchange: connecting, redirects and reading the response body;
 * - redirects are followed (at most 10): 307 and 308 repeat the POST with its body, 301, 302 and
 *   303 continue with a GET without a body; a redirect to another scheme than http(s) stops;
 * - TLS verification can be skipped for this one request (`insecureSkipTlsVerify`): the request
 *   then gets a connection of its own, never shared with verified requests.
 *
 * The response body is read up to a cap; the rest is dropped. A transport failure (timeout,
 * refused connection, TLS error, malformed response) is a result, not an exception: only the
 * caller's own AbortSignal throws (`ABORTED`).
 */
import http from 'node:http';
import https from 'node:https';
import { abortedError, throwIfAborted } from '@aviary/core';
import { redactUrlsInText } from '@aviary/platform';

export const MAX_REDIRECTS = 10;

export interface HttpPostRequest {
  readonly url: URL;
  readonly body: string;
  /** Request headers (lower or mixed case); `content-length` is set from the body. */
  readonly headers: Readonly<Record<string, string>>;
  /** For the whole exchange, redirects and the response body included. */
  readonly timeoutMs: number;
  /** Skip certificate verification (https only), for this request alone. */
  readonly insecureSkipTlsVerify?: boolean;
  /** Bytes of the response body kept; the rest is dropped (`truncated`). */
  readonly maxResponseBytes: number;
  readonly maxRedirects?: number;
  /** Cancels the request: `httpPost` then throws an `ABORTED` AviaryError. */
  readonly signal?: AbortSignal;
}

/** Why no HTTP response came back. */
export const TransportFailure = {
  /** No complete response within the timeout. */
  Timeout: 'timeout',
  /** Refused, reset, unreachable or unknown host. */
  Connection: 'connection',
  /** The TLS handshake failed (certificate not trusted, expired, wrong host, protocol). */
  Tls: 'tls',
  /** Too many redirects, or one to an unsupported scheme or an invalid location. */
  Redirect: 'redirect',
  /** The server's answer was not valid HTTP. */
  Protocol: 'protocol',
} as const;
export type TransportFailure = (typeof TransportFailure)[keyof typeof TransportFailure];

export type HttpPostResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      /** The body as UTF-8, at most `maxResponseBytes` bytes of it. */
      readonly body: string;
      readonly truncated: boolean;
      /** From `Retry-After` (seconds or an HTTP date), when the server sent one. */
      readonly retryAfterMs: number | undefined;
    }
  | {
      readonly kind: 'failure';
      readonly failure: TransportFailure;
      /** What went wrong, for people: never the URL's path, query or credentials. */
      readonly detail: string;
    };

interface RawResponse {
  readonly status: number;
  readonly location: string | undefined;
  readonly retryAfter: string | undefined;
  readonly body: Buffer;
  readonly truncated: boolean;
}

const REDIRECT_TO_GET = new Set([301, 302, 303]);
const REDIRECT_KEEP_METHOD = new Set([307, 308]);

/** POSTs `body` to `url`; see the module comment for the semantics. */
export async function httpPost(request: HttpPostRequest): Promise<HttpPostResult> {
  throwIfAborted(request.signal, 'HTTP request');
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), request.timeoutMs);
  const signal =
    request.signal === undefined
      ? timeout.signal
      : AbortSignal.any([request.signal, timeout.signal]);
  const maxRedirects = request.maxRedirects ?? MAX_REDIRECTS;
  let url = request.url;
  let method = 'POST';
  let body: string | undefined = request.body;
  let headers: Record<string, string> = { ...request.headers };
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await exchange(url, method, headers, body, request, signal);
      const redirect =
        REDIRECT_TO_GET.has(response.status) || REDIRECT_KEEP_METHOD.has(response.status);
      if (!redirect || response.location === undefined) {
        return {
          kind: 'response',
          status: response.status,
          body: response.body.toString('utf8'),
          truncated: response.truncated,
          retryAfterMs: parseRetryAfter(response.retryAfter, Date.now()),
        };
      }
      if (redirects >= maxRedirects) {
        return failure(TransportFailure.Redirect, `stopped after ${maxRedirects} redirects`);
      }
      let next: URL;
      try {
        next = new URL(response.location, url);
      } catch {
        return failure(
          TransportFailure.Redirect,
          `HTTP ${response.status} redirect with an invalid Location header`,
        );
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return failure(
          TransportFailure.Redirect,
          `HTTP ${response.status} redirect to an unsupported scheme ${next.protocol}`,
        );
      }
      if (REDIRECT_TO_GET.has(response.status) && method !== 'GET') {
        method = 'GET';
        body = undefined;
        headers = withoutHeaders(headers, ['content-type', 'content-length']);
      }
      url = next;
    }
  } catch (error) {
    if (request.signal?.aborted === true) throw abortedError(request.signal, 'HTTP request');
    if (timeout.signal.aborted) {
      return failure(
        TransportFailure.Timeout,
        `timed out after ${request.timeoutMs} ms without a complete response`,
      );
    }
    return classify(error);
  } finally {
    clearTimeout(timer);
  }
}

/** `scheme://host[:port]` of a URL: what may be said about it in messages and logs. */
export function originOf(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function exchange(
  url: URL,
  method: string,
  headers: Readonly<Record<string, string>>,
  body: string | undefined,
  request: HttpPostRequest,
  signal: AbortSignal,
): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    const sent: Record<string, string | number> = { ...headers };
    if (body !== undefined) sent['content-length'] = Buffer.byteLength(body);
    const options: https.RequestOptions = { method, headers: sent, signal };
    if (url.protocol === 'https:' && request.insecureSkipTlsVerify === true) {
      // A connection of its own (no pooled agent), so the unverified session is never reused.
      options.agent = false;
      options.rejectUnauthorized = false;
    }
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const finish = () =>
        resolve({
          status: res.statusCode ?? 0,
          location: single(res.headers.location),
          retryAfter: single(res.headers['retry-after']),
          body: Buffer.concat(chunks),
          truncated,
        });
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        const room = request.maxResponseBytes - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size = request.maxResponseBytes;
          truncated = true;
          finish();
          res.destroy();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', finish);
      res.on('error', reject);
      // Settled already when complete or truncated; otherwise the connection broke mid-body.
      res.on('close', () => {
        if (!res.complete) reject(new Error('the response ended before its body was complete'));
      });
    };
    const req =
      url.protocol === 'https:'
        ? https.request(url, options, onResponse)
        : http.request(url, options, onResponse);
    req.on('error', reject);
    req.end(body);
  });
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function withoutHeaders(
  headers: Readonly<Record<string, string>>,
  names: readonly string[],
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !names.includes(name.toLowerCase())),
  );
}

function failure(kind: TransportFailure, detail: string): HttpPostResult {
  return { kind: 'failure', failure: kind, detail };
}

const CONNECTION_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNABORTED: 'connection aborted',
};

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** Names a transport error by its code; the message is scrubbed of credentials. */
function classify(error: unknown): HttpPostResult {
  const code =
    typeof error === 'object' && error !== null && 'code' in error
      ? String((error as { code: unknown }).code)
      : '';
  const message = redactUrlsInText(error instanceof Error ? error.message : String(error));
  if (TLS_CODE.test(code)) return failure(TransportFailure.Tls, `TLS error ${code}: ${message}`);
  if (code.startsWith('HPE_')) {
    return failure(TransportFailure.Protocol, `invalid HTTP response (${code})`);
  }
  const known = CONNECTION_CODES[code];
  if (known !== undefined) return failure(TransportFailure.Connection, `${known} (${code})`);
  if (message === 'socket hang up') {
    return failure(TransportFailure.Connection, 'connection closed before a response');
  }
  return failure(TransportFailure.Connection, code === '' ? message : `${code}: ${message}`);
}

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
