/**
 * The orchestrator's HTTP API server on `node:http`: bearer-token authentication for `/api/`,
 * routing (404, 405 with `Allow`), role checks (403), JSON replies and errors, server-sent event
 * streams, the web dashboard's static files (`dashboard/assets.ts`, public), one access-log line
 * per request, and a close that ends every stream and stops its subscription before it returns.
 *
 * While tracing is on (docs/observability.md), each request is a server span named after its
 * route (`POST /api/v1/releases/{id}/actions`), continuing the caller's W3C `traceparent` when it
 * sends one: what the request decides (outbox rows, their commands, the agents' work) joins the
 * caller's trace. The span ends when the reply is sent, or once an event stream is open. While
 * tracing is off, nothing of this runs.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventStore } from '@aviary/event-store';
import { extractTraceContext, recordError, SpanKinds, withSpan } from '@aviary/messaging';
import { isTracingEnabled } from '@aviary/platform';
import { dashboardRoutes } from '../dashboard/assets.ts';
import type { Actor, Operations, ReadModel } from '../ports.ts';
import { type ApiToken, createAuthenticator, parseApiTokens, roleAtLeast } from './auth.ts';
import { DEFAULT_MAX_BODY_BYTES } from './body.ts';
import { errorResponse, HttpError, HttpErrorCode } from './http-errors.ts';
import { createRouter } from './router.ts';
import { type ApiDependencies, apiRoutes, STREAMED } from './routes.ts';
import { DEFAULT_SSE_OPTIONS, type SseOptions, type SseWriter } from './sse.ts';

/** How long `close` lets requests under way finish before it cuts their connections. */
const CLOSE_GRACE_MS = 5000;

/** What the server logs through: a pino logger fits. */
export interface ApiLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ApiServerOptions {
  readonly operations: Operations;
  readonly readModel: ReadModel;
  /** The event log, for the live event streams. */
  readonly store: EventStore;
  /** The accepted bearer tokens: a list, or the text `name:role:token,…` (see `parseApiTokens`). */
  readonly tokens: string | readonly ApiToken[];
  readonly logger: ApiLogger;
  /** Largest request body accepted (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Whether `/readyz` answers 200 (default: always ready). */
  readonly ready?: () => boolean;
  /** Keep-alive interval and buffering limits of the event streams. */
  readonly sse?: Partial<SseOptions>;
  /** Serve the web dashboard at `/` and `/dashboard/…` (default true; see docs/dashboard.md). */
  readonly dashboard?: boolean;
}

export interface ApiAddress {
  readonly host: string;
  readonly port: number;
  /** `http://<host>:<port>`. */
  readonly url: string;
}

export interface ApiServer {
  /** Starts listening (port 0: any free port); resolves with where. */
  listen(port: number, host?: string): Promise<ApiAddress>;
  /** Ends the event streams, stops their subscriptions, closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** Builds the API server; throws a `ValidationError` when the tokens are invalid. */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(`maxBodyBytes must be a positive integer (got ${maxBodyBytes})`);
  }
  const authenticator = createAuthenticator(parseApiTokens(options.tokens));
  // Each route knows its pattern: the server span's name and `http.route`.
  const router = createRouter(
    [...apiRoutes(), ...(options.dashboard === false ? [] : dashboardRoutes())].map((r) => ({
      ...r,
      value: { ...r.value, pattern: r.pattern },
    })),
  );
  const logger = options.logger;
  const streams = new Set<SseWriter>();
  const pending = new Set<Promise<void>>();
  const deps: ApiDependencies = {
    operations: options.operations,
    readModel: options.readModel,
    store: options.store,
    maxBodyBytes,
    ready: options.ready ?? (() => true),
    logger,
    sse: { ...DEFAULT_SSE_OPTIONS, ...options.sse },
    opened: (writer) => {
      streams.add(writer);
      void writer.ended.then(() => streams.delete(writer));
    },
  };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    span?: RequestSpan,
  ): Promise<void> => {
    const started = performance.now();
    const requestId = randomUUID();
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const queryStart = target.indexOf('?');
    const path = queryStart === -1 ? target : target.slice(0, queryStart);
    const query = new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1));
    let actor: Actor | undefined;
    res.setHeader('x-request-id', requestId);
    res.once('close', () => {
      logger.info(
        {
          requestId,
          method,
          path,
          status: res.statusCode,
          ms: Math.round((performance.now() - started) * 10) / 10,
          ...(actor ? { actor: actor.name } : {}),
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'http request',
      );
    });

    try {
      if (!path.startsWith('/')) {
        throw new HttpError(400, HttpErrorCode.Validation, 'the request target must be a path');
      }
      if (path === '/api' || path.startsWith('/api/')) {
        const authentication = authenticator.authenticate(req.headers.authorization);
        if (!authentication.ok) throw unauthenticated(authentication.reason);
        actor = authentication.actor;
      }
      const match = router.match(method, path);
      if (match.kind === 'not-found') {
        throw new HttpError(404, HttpErrorCode.RouteNotFound, `no route ${path}`);
      }
      if (match.kind === 'method-not-allowed') {
        const allow = match.allow.join(', ');
        throw new HttpError(
          405,
          HttpErrorCode.MethodNotAllowed,
          `${method} is not allowed on ${path} (allowed: ${allow})`,
          { headers: { allow } },
        );
      }
      const { access, handle: handler, pattern } = match.value;
      span?.updateName(`${method} ${pattern}`);
      span?.setAttribute('http.route', pattern);
      if (access !== 'public') {
        if (!actor) throw unauthenticated('missing');
        if (!roleAtLeast(actor.role, access)) {
          throw new HttpError(
            403,
            HttpErrorCode.Forbidden,
            `${method} ${path} needs the ${access} role; token ${actor.name} has the ${actor.role} role`,
          );
        }
      }
      const reply = await handler(deps, { req, res, params: match.params, query, actor });
      if (reply === STREAMED) return;
      sendJson(res, reply.status, reply.body, reply.headers ?? {});
    } catch (error) {
      if (res.headersSent) {
        logger.error(
          { err: error, requestId, method, path },
          'request failed after its response began',
        );
        res.destroy();
        return;
      }
      // The client left while the request was served (e.g. before an event stream opened): the
      // access log line says so, and there is nobody to answer.
      if (res.destroyed) return;
      const response = errorResponse(error, requestId);
      // A failure of the server (5xx) marks the span failed; a refused request (4xx) does not.
      if (span !== undefined && response.status >= 500) recordError(span, error);
      if (response.unexpected) {
        logger.error(
          { err: error, requestId, method, path, ...(actor ? { actor: actor.name } : {}) },
          'request failed',
        );
      }
      sendJson(res, response.status, response.body, response.headers);
    }
  };

  const server = createServer((req, res) => {
    const task = (isTracingEnabled() ? traced(req, res, handle) : handle(req, res)).catch(
      (error: unknown) => {
        logger.error({ err: error }, 'request handler failed');
        res.destroy();
      },
    );
    pending.add(task);
    void task.finally(() => pending.delete(task));
  });

  let closing: Promise<void> | undefined;
  return {
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({
            host: address.address,
            port: address.port,
            url: `http://${shown}:${address.port}`,
          });
        });
      });
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
        });
        for (const writer of streams) writer.end();
        server.closeIdleConnections();
        // Requests under way get a moment to finish; then their connections are cut.
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...pending]),
          new Promise((resolve) => {
            grace = setTimeout(resolve, CLOSE_GRACE_MS);
          }),
        ]);
        clearTimeout(grace);
        server.closeAllConnections();
        await Promise.allSettled([...pending]);
        await closed;
      })();
      return closing;
    },
  };
}

/** The request's server span, as `withSpan` gives it. */
type RequestSpan = NonNullable<Parameters<Parameters<typeof withSpan>[2]>[0]>;

/**
 * `handle` inside a server span continuing the request's `traceparent` (a new trace without
 * one): the operations it calls, and what they decide, are the span's children.
 */
function traced(
  req: IncomingMessage,
  res: ServerResponse,
  handle: (req: IncomingMessage, res: ServerResponse, span?: RequestSpan) => Promise<void>,
): Promise<void> {
  const method = req.method ?? 'GET';
  const target = req.url ?? '/';
  const carrier: Record<string, string> = {};
  for (const name of ['traceparent', 'tracestate']) {
    const value = req.headers[name];
    if (typeof value === 'string') carrier[name] = value;
  }
  return withSpan(
    method,
    {
      kind: SpanKinds.Server,
      parent: extractTraceContext(carrier),
      attributes: {
        'http.request.method': method,
        'url.path': target.split('?')[0] ?? target,
        'url.scheme': 'http',
      },
    },
    async (span) => {
      await handle(req, res, span);
      if (span === undefined) return;
      span.setAttribute('http.response.status_code', res.statusCode);
    },
  );
}

function unauthenticated(reason: 'missing' | 'malformed' | 'unknown'): HttpError {
  const messages = {
    missing: 'this needs a bearer token: send Authorization: Bearer <token>',
    malformed: 'the Authorization header must be Bearer <token>',
    unknown: 'the bearer token is not valid',
  } as const;
  return new HttpError(401, HttpErrorCode.Unauthenticated, messages[reason], {
    headers: {
      'www-authenticate':
        reason === 'missing'
          ? 'Bearer realm="aviary"'
          : 'Bearer realm="aviary", error="invalid_token"',
    },
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>>,
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
