import { createLogger, isTracingEnabled } from '@aviary/platform';
import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import {
  consumeWithSpan,
  extractTraceContext,
  hasTraceContext,
  injectTraceHeaders,
  subjectTemplate,
  withSpan,
} from './tracing.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

describe('trace headers while tracing is off', () => {
  it('adds no header, extracts nothing and runs work without a span', async () => {
    expect(isTracingEnabled()).toBe(false);
    const headers = { 'x-app': 'a' };
    const result = await withSpan('outer', {}, async (span) => {
      expect(span).toBeUndefined();
      return injectTraceHeaders(headers);
    });
    expect(result).toBe(headers);
    expect(extractTraceContext({ traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` })).toBe(
      ROOT_CONTEXT,
    );
    await expect(consumeWithSpan('a.b', undefined, {}, () => 7)).resolves.toBe(7);
  });
});

describe('trace headers while tracing is on', () => {
  let tracing: TestTracing | undefined;
  afterEach(async () => {
    await tracing?.stop();
    tracing = undefined;
  });

  it('injects the active span as traceparent and extracts it again', async () => {
    tracing = startTestTracing();
    let injected: Readonly<Record<string, string>> = {};
    await withSpan('decide', {}, () => {
      injected = injectTraceHeaders({ 'x-app': 'a' });
    });
    const decide = await tracing.span('decide');
    expect(injected['x-app']).toBe('a');
    const match = TRACEPARENT.exec(injected.traceparent ?? '');
    expect(match?.[1]).toBe(decide.spanContext().traceId);
    expect(match?.[2]).toBe(decide.spanContext().spanId);
    expect(hasTraceContext(injected)).toBe(true);

    const extracted = trace.getSpanContext(extractTraceContext(injected));
    expect(extracted).toMatchObject({
      traceId: decide.spanContext().traceId,
      spanId: decide.spanContext().spanId,
      isRemote: true,
    });
  });

  it('reads NATS message headers too, and keeps tracestate', async () => {
    tracing = startTestTracing();
    const traceId = 'a'.repeat(32);
    const spanId = 'b'.repeat(16);
    const headers = natsHeaders();
    headers.set('traceparent', `00-${traceId}-${spanId}-01`);
    headers.set('tracestate', 'vendor=x');
    const spanContext = trace.getSpanContext(extractTraceContext(headers));
    expect(spanContext?.traceId).toBe(traceId);
    expect(spanContext?.traceState?.get('vendor')).toBe('x');
    const reinjected = injectTraceHeaders({}, extractTraceContext(headers));
    expect(reinjected.tracestate).toBe('vendor=x');
  });

  it('makes the consumer span a child of the message, and work inside it its children', async () => {
    tracing = startTestTracing();
    let headers: Readonly<Record<string, string>> = {};
    await withSpan('decide', {}, () => {
      headers = injectTraceHeaders();
    });
    // The consuming loop's own span must not become the parent.
    await withSpan('loop', {}, () =>
      consumeWithSpan('aviary.v1.cluster.eu-1.cmd', headers, { 'aviary.cluster': 'eu-1' }, () =>
        withSpan('kube patch', { kind: SpanKind.CLIENT }, () => undefined),
      ),
    );
    const decide = await tracing.span('decide');
    const processed = await tracing.span('process aviary.v1.cluster.{cluster}.cmd');
    const kube = await tracing.span('kube patch');
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(processed.spanContext().traceId).toBe(decide.spanContext().traceId);
    expect(parentSpanId(processed)).toBe(decide.spanContext().spanId);
    expect(parentSpanId(kube)).toBe(processed.spanContext().spanId);
    expect(processed.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': 'aviary.v1.cluster.eu-1.cmd',
      'aviary.cluster': 'eu-1',
    });
  });

  it('starts a new trace for a message without context, and records errors', async () => {
    tracing = startTestTracing();
    await expect(
      consumeWithSpan('aviary.v1.analysis.req', {}, {}, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const span = await tracing.span('process aviary.v1.analysis.req');
    expect(parentSpanId(span)).toBeUndefined();
    expect(span.status.code).toBe(2);
    expect(span.events.map((e) => e.name)).toContain('exception');
  });

  it('is off again after stop', async () => {
    tracing = startTestTracing();
    await tracing.stop();
    tracing = undefined;
    expect(isTracingEnabled()).toBe(false);
    expect(await withSpan('x', {}, () => injectTraceHeaders({}))).toEqual({});
  });
});

describe('correlation ids on log lines', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      service: 'test',
      level: 'info',
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    return { lines, logger };
  };

  it('puts the message’s ids on every line written while handling it, tracing off', async () => {
    const { lines, logger } = capture();
    await consumeWithSpan(
      'aviary.v1.cluster.eu-1.cmd',
      undefined,
      { 'aviary.command.id': 'c-1', 'aviary.release.id': 'r-1' },
      async () => {
        await Promise.resolve();
        logger.info({ commandId: 'own' }, 'inside');
      },
    );
    logger.info('after');
    expect(lines[0]).toMatchObject({ cluster: 'eu-1', releaseId: 'r-1', commandId: 'own' });
    expect(lines[0]).not.toHaveProperty('traceId');
    expect(lines[1]).not.toHaveProperty('releaseId');
  });

  it('adds the trace and span ids while tracing is on', async () => {
    const { lines, logger } = capture();
    const tracing = startTestTracing();
    try {
      await consumeWithSpan('aviary.v1.analysis.req', {}, { 'aviary.request.id': 'q-1' }, () =>
        logger.info('inside'),
      );
      const span = await tracing.span('process aviary.v1.analysis.req');
      expect(lines[0]).toMatchObject({
        requestId: 'q-1',
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
    } finally {
      await tracing.stop();
    }
  });
});

describe('subjectTemplate', () => {
  it('hides the cluster token only', () => {
    expect(subjectTemplate('aviary.v1.cluster.eu-1.obs.heartbeat')).toBe(
      'aviary.v1.cluster.{cluster}.obs.heartbeat',
    );
    expect(subjectTemplate('aviary.v1.analysis.res')).toBe('aviary.v1.analysis.res');
  });
});
