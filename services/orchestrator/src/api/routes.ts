/**
 * The routes of the HTTP API: who may call each (public, viewer, operator, admin), what it reads
 * from the request (validated with the schemas of `validation.ts`) and what it asks of the read
 * model or the engine. `docs/http-api.md` describes them for users.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AviaryError, ErrorCode } from '@aviary/core';
import type { Actor, ApplicationRef, Operations, ReadModel, Role } from '../ports.ts';
import { readJsonBody, readOptionalJsonBody, readTextBody, requireMediaType } from './body.ts';
import { type EventStreamContext, streamLog, streamRelease } from './event-streams.ts';
import { badRequest } from './http-errors.ts';
import { replayRelease, whatIfRelease } from './replay.ts';
import type { RouteDefinition } from './router.ts';
import {
  actionBody,
  applicationPath,
  gatePath,
  noQuery,
  OPERATOR_ACTIONS,
  parseInput,
  queryObject,
  reasonBody,
  releasePath,
  releasesQuery,
  timelineQuery,
  whatIfBody,
} from './validation.ts';

/** Media types `POST /api/v1/applications` accepts. */
export const SPEC_MEDIA_TYPES = ['application/yaml', 'text/yaml', 'application/json'] as const;

export interface ApiDependencies extends EventStreamContext {
  readonly operations: Operations;
  readonly readModel: ReadModel;
  readonly maxBodyBytes: number;
  readonly ready: () => boolean;
}

export interface ApiRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The token's holder; set on every route that is not public. */
  readonly actor: Actor | undefined;
}

/** A JSON response, or `STREAMED` when the handler wrote the response itself (SSE). */
export type Reply =
  | {
      readonly status: number;
      readonly body: unknown;
      readonly headers?: Readonly<Record<string, string>>;
    }
  | typeof STREAMED;
export const STREAMED = Symbol('streamed');

export interface ApiRoute {
  /** The least role that may call the route, or `public` (no token needed). */
  readonly access: Role | 'public';
  handle(deps: ApiDependencies, request: ApiRequest): Promise<Reply>;
}

type Handler = ApiRoute['handle'];

function route(
  method: 'GET' | 'POST',
  pattern: string,
  access: ApiRoute['access'],
  handle: Handler,
): RouteDefinition<ApiRoute> {
  return { method, pattern, value: { access, handle } };
}

const ok = (body: unknown) => ({ status: 200, body });

function actorOf(request: ApiRequest): Actor {
  if (!request.actor) throw new Error('route without an authenticated actor');
  return request.actor;
}

function lastEventId(req: IncomingMessage): string | undefined {
  const value = req.headers['last-event-id'];
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function applicationUrl(ref: ApplicationRef): string {
  return `/api/v1/applications/${ref.namespace}/${ref.name}`;
}

async function requireRelease(readModel: ReadModel, releaseId: string): Promise<void> {
  if ((await readModel.release(releaseId)) === undefined) {
    throw new AviaryError(ErrorCode.NotFound, `release ${releaseId} not found`);
  }
}

/** Every route of the API. */
export function apiRoutes(): RouteDefinition<ApiRoute>[] {
  return [
    route('GET', '/healthz', 'public', async () => ok({ status: 'ok' })),
    route('GET', '/readyz', 'public', async (deps) =>
      deps.ready() ? ok({ status: 'ready' }) : { status: 503, body: { status: 'not ready' } },
    ),

    // ---- applications and gates
    route('GET', '/api/v1/applications', 'viewer', async (deps, { query }) => {
      parseInput(noQuery, queryObject(query), 'query');
      return ok({ applications: await deps.readModel.applications() });
    }),
    route('POST', '/api/v1/applications', 'operator', async (deps, request) => {
      parseInput(noQuery, queryObject(request.query), 'query');
      requireMediaType(request.req, SPEC_MEDIA_TYPES);
      const document = await readTextBody(request.req, deps.maxBodyBytes);
      if (document.trim() === '') {
        throw badRequest('body', 'is empty: send a Rollout (or Flagger Canary) document');
      }
      const result = await deps.operations.applySpec(document, actorOf(request));
      return result.changed
        ? { status: 201, body: result, headers: { location: applicationUrl(result.application) } }
        : ok(result);
    }),
    route('GET', '/api/v1/applications/{namespace}/{name}', 'viewer', async (deps, request) => {
      const ref = parseInput(applicationPath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      const view = await deps.readModel.application(ref);
      if (!view) {
        throw new AviaryError(
          ErrorCode.NotFound,
          `application ${ref.namespace}/${ref.name} not found`,
        );
      }
      return ok(view);
    }),
    route(
      'GET',
      '/api/v1/applications/{namespace}/{name}/gates/{gate}',
      'viewer',
      async (deps, request) => {
        const { gate, ...ref } = parseInput(gatePath, request.params, 'path');
        parseInput(noQuery, queryObject(request.query), 'query');
        const open = deps.operations.gateOpen(ref, gate);
        return { status: open ? 200 : 403, body: { open } };
      },
    ),
    ...(['open', 'close'] as const).map((change) =>
      route(
        'POST',
        `/api/v1/applications/{namespace}/{name}/gates/{gate}/${change}`,
        'operator',
        async (deps, request) => {
          const { gate, ...ref } = parseInput(gatePath, request.params, 'path');
          parseInput(noQuery, queryObject(request.query), 'query');
          const body = await readOptionalJsonBody(request.req, deps.maxBodyBytes);
          const { reason } = parseInput(reasonBody, body ?? {}, 'request body');
          const open = change === 'open';
          await deps.operations.setGate(ref, gate, open, actorOf(request), reason || undefined);
          return ok({ namespace: ref.namespace, name: ref.name, gate, open });
        },
      ),
    ),

    // ---- releases
    route('GET', '/api/v1/releases', 'viewer', async (deps, { query }) => {
      const filter = parseInput(releasesQuery, queryObject(query), 'query');
      return ok({
        releases: await deps.readModel.releases({
          ...(filter.application ? { application: filter.application } : {}),
          ...(filter.active !== undefined ? { active: filter.active } : {}),
          ...(filter.limit !== undefined ? { limit: filter.limit } : {}),
        }),
      });
    }),
    route('GET', '/api/v1/releases/{id}', 'viewer', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      const view = await deps.readModel.release(id);
      if (!view) throw new AviaryError(ErrorCode.NotFound, `release ${id} not found`);
      return ok(view);
    }),
    route('GET', '/api/v1/releases/{id}/canaries', 'viewer', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      await requireRelease(deps.readModel, id);
      return ok({ canaries: await deps.readModel.canaries(id) });
    }),
    route('GET', '/api/v1/releases/{id}/timeline', 'viewer', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      const { after, limit } = parseInput(timelineQuery, queryObject(request.query), 'query');
      await requireRelease(deps.readModel, id);
      const entries = await deps.readModel.timeline(id, {
        ...(after !== undefined ? { afterVersion: after } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      return ok({ entries });
    }),
    route('GET', '/api/v1/releases/{id}/events', 'viewer', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      await streamRelease(request.res, id, lastEventId(request.req), deps);
      return STREAMED;
    }),
    route('POST', '/api/v1/releases/{id}/actions', 'operator', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      const body = parseInput(
        actionBody,
        await readJsonBody(request.req, deps.maxBodyBytes),
        'request body',
      );
      const result = await deps.operations.operatorAction(
        {
          releaseId: id,
          action: OPERATOR_ACTIONS[body.action],
          ...(body.cluster ? { cluster: body.cluster } : {}),
          ...(body.reason ? { reason: body.reason } : {}),
        },
        actorOf(request),
      );
      return { status: 202, body: { releaseId: result.releaseId } };
    }),
    route('POST', '/api/v1/releases/{id}/retry', 'operator', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      const body = await readOptionalJsonBody(request.req, deps.maxBodyBytes);
      const { reason } = parseInput(reasonBody, body ?? {}, 'request body');
      const result = await deps.operations.retryRelease(id, actorOf(request), reason || undefined);
      return {
        status: 201,
        body: { releaseId: result.releaseId },
        headers: { location: `/api/v1/releases/${result.releaseId}` },
      };
    }),

    // ---- replay and what-if (computed from the log; nothing is appended, so a viewer may ask)
    route('GET', '/api/v1/releases/{id}/replay', 'viewer', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      return ok(await replayRelease(deps.store, id));
    }),
    route('POST', '/api/v1/releases/{id}/what-if', 'viewer', async (deps, request) => {
      const { id } = parseInput(releasePath, request.params, 'path');
      parseInput(noQuery, queryObject(request.query), 'query');
      const body = parseInput(
        whatIfBody,
        await readJsonBody(request.req, deps.maxBodyBytes),
        'request body',
      );
      return ok(await whatIfRelease(deps.store, id, body.analysis));
    }),

    // ---- who am I (the CLI checks its token with it)
    route('GET', '/api/v1/whoami', 'viewer', async (_deps, request) => {
      parseInput(noQuery, queryObject(request.query), 'query');
      const { name, role } = actorOf(request);
      return ok({ name, role });
    }),

    // ---- fleet and log
    route('GET', '/api/v1/clusters', 'viewer', async (deps, { query }) => {
      parseInput(noQuery, queryObject(query), 'query');
      return ok({ clusters: await deps.readModel.clusters() });
    }),
    route('GET', '/api/v1/events', 'viewer', async (deps, request) => {
      parseInput(noQuery, queryObject(request.query), 'query');
      await streamLog(request.res, lastEventId(request.req), deps);
      return STREAMED;
    }),
  ];
}
