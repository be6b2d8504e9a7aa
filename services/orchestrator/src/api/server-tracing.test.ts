/**
 * The HTTP API's server spans (docs/observability.md): a request continues the caller's W3C
 * `traceparent`, so what an operator action decides (an outbox row's trace context, written while
 * the operation runs) joins the caller's trace; without one a request starts its own trace; a
 * failing request marks its span; while tracing is off, no trace context is taken or made.
 */
import { type EventStore, openPGliteEventStore } from '@aviary/event-store';
import { headersWithSpan, SpanKinds } from '@aviary/messaging';
import { isTracingEnabled } from '@aviary/platform';
import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Actor, OperatorActionInput } from '../ports.ts';
import { type ApiServer, createApiServer } from './server.ts';
import { FakeOperations, FakeReadModel, recordingLogger } from './test-fakes.ts';

const OPERATOR = 'operator-token-0123456789';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

/** Operations that decide as the engine does: the outbox row takes the active trace context. */
class DecidingOperations extends FakeOperations {
  readonly decided: Readonly<Record<string, string>>[] = [];

  override async operatorAction(input: OperatorActionInput, actor: Actor) {
    const result = await super.operatorAction(input, actor);
    this.decided.push(headersWithSpan('create aviary.v1.cluster.{cluster}.cmd', {}));
    return result;
  }
}

let store: EventStore;
beforeAll(async () => {
  store = await openPGliteEventStore();
});
afterAll(async () => {
  await store.close();
});

let server: ApiServer;
let base: string;
let operations: DecidingOperations;
let tracing: TestTracing | undefined;

beforeEach(async () => {
  operations = new DecidingOperations();
  server = createApiServer({
    operations,
    readModel: new FakeReadModel(),
    store,
    tokens: `otto:operator:${OPERATOR}`,
    logger: recordingLogger(),
  });
  base = (await server.listen(0)).url;
});
afterEach(async () => {
  await server.close();
  await tracing?.stop();
  tracing = undefined;
});

const pause = (headers: Record<string, string> = {}) =>
  fetch(`${base}/api/v1/releases/shop.checkout.3/actions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify({ action: 'pause', reason: 'looking into it' }),
  });

const ACTIONS_SPAN = 'POST /api/v1/releases/{id}/actions';

describe('the HTTP API while tracing is on', () => {
  it('serves an operator action in a server span continuing the caller’s traceparent, so its decision joins the caller’s trace', async () => {
    tracing = startTestTracing('orchestrator');
    const response = await pause({
      traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
      tracestate: 'vendor=x',
    });
    expect(response.status).toBe(202);
    const span = await tracing.span(ACTIONS_SPAN);
    expect(span.kind).toBe(SpanKinds.Server);
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(parentSpanId(span)).toBe(CALLER_SPAN);
    expect(span.spanContext().traceState?.get('vendor')).toBe('x');
    expect(span.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/releases/{id}/actions',
      'url.path': '/api/v1/releases/shop.checkout.3/actions',
      'http.response.status_code': 202,
    });

    // The decision made while serving it: a child of the request, in the caller's trace.
    const create = await tracing.span('create aviary.v1.cluster.{cluster}.cmd');
    expect(parentSpanId(create)).toBe(span.spanContext().spanId);
    expect(operations.decided[0]?.traceparent).toBe(
      `00-${TRACE_ID}-${create.spanContext().spanId}-01`,
    );
  });

  it('starts a trace of its own without a traceparent, and names an unknown route by its method', async () => {
    tracing = startTestTracing('orchestrator');
    expect((await pause()).status).toBe(202);
    const span = await tracing.span(ACTIONS_SPAN);
    expect(parentSpanId(span)).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);

    tracing.reset();
    const missing = await fetch(`${base}/nothing-here`);
    expect(missing.status).toBe(404);
    const unknown = await tracing.span('GET');
    expect(unknown.attributes).toMatchObject({ 'http.response.status_code': 404 });
    expect(unknown.attributes['http.route']).toBeUndefined();
  });

  it('marks the span failed when the server fails, not when a request is refused', async () => {
    tracing = startTestTracing('orchestrator');
    operations.failWith = new Error('the log is away');
    expect((await pause()).status).toBe(500);
    const failed = await tracing.span(ACTIONS_SPAN);
    expect(failed.status).toMatchObject({ code: 2, message: 'the log is away' });
    expect(failed.attributes['http.response.status_code']).toBe(500);

    tracing.reset();
    operations.failWith = undefined;
    expect((await pause({ authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    // Refused before routing (authentication comes first): named by its method only.
    const refused = await tracing.span('POST');
    expect(refused.status.code).toBe(0);
    expect(refused.attributes['http.response.status_code']).toBe(401);
  });
});

describe('the HTTP API while tracing is off', () => {
  it('takes no trace context from the request and gives none to its decisions', async () => {
    expect(isTracingEnabled()).toBe(false);
    const response = await pause({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` });
    expect(response.status).toBe(202);
    expect(operations.decided).toEqual([{}]);
  });
});
