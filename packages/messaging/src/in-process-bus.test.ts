import { ValidationError } from '@aviary/core';
import { isTracingEnabled } from '@aviary/platform';
import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { type BusMessage, InProcessBus } from './in-process-bus.ts';
import { consumeWithSpan, headersWithSpan, withSpan } from './tracing.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('in-process bus', () => {
  it('delivers to matching subscribers in publish order, with NATS wildcards', async () => {
    const bus = new InProcessBus();
    const all: string[] = [];
    const one: string[] = [];
    bus.subscribe('aviary.v1.cluster.>', (m) => void all.push(m.subject));
    bus.subscribe('aviary.v1.cluster.*.cmd', (m) => void one.push(m.subject));
    await bus.publish('aviary.v1.cluster.eu-1.cmd', bytes('a'), { msgId: '1' });
    await bus.publish('aviary.v1.cluster.eu-1.obs.heartbeat', bytes('b'), { msgId: '2' });
    await bus.publish('aviary.v1.analysis.req', bytes('c'), { msgId: '3' });
    expect(all).toEqual(['aviary.v1.cluster.eu-1.cmd', 'aviary.v1.cluster.eu-1.obs.heartbeat']);
    expect(one).toEqual(['aviary.v1.cluster.eu-1.cmd']);
  });

  it('drops a re-publish of the same id within the window and answers like JetStream', async () => {
    let now = 0;
    const bus = new InProcessBus({ duplicateWindowMs: 1000, now: () => now });
    const got: BusMessage[] = [];
    bus.subscribe('s.>', (m) => void got.push(m));
    expect(
      await bus.publish('s.a', bytes('x'), { msgId: 'cmd-1', headers: { traceparent: 't' } }),
    ).toEqual({
      stream: 'in-process',
      seq: 1,
      duplicate: false,
    });
    expect(await bus.publish('s.a', bytes('x'), { msgId: 'cmd-1' })).toEqual({
      stream: 'in-process',
      seq: 1,
      duplicate: true,
    });
    now = 1500;
    expect(await bus.publish('s.a', bytes('x'), { msgId: 'cmd-1' })).toMatchObject({
      seq: 2,
      duplicate: false,
    });
    expect(got.map((m) => [m.seq, m.msgId, m.headers.traceparent])).toEqual([
      [1, 'cmd-1', 't'],
      [2, 'cmd-1', undefined],
    ]);
  });

  it('reports a failing handler without stopping delivery to the others', async () => {
    const errors: string[] = [];
    const bus = new InProcessBus({ onHandlerError: (e) => errors.push(String(e)) });
    const got: string[] = [];
    bus.subscribe('a', () => {
      throw new Error('boom');
    });
    const off = bus.subscribe('a', (m) => void got.push(m.msgId));
    await bus.publish('a', bytes(''), { msgId: 'x' });
    off();
    await bus.publish('a', bytes(''), { msgId: 'y' });
    expect(errors).toEqual(['Error: boom', 'Error: boom']);
    expect(got).toEqual(['x']);
  });

  it('rejects bad subjects, filters and ids', async () => {
    const bus = new InProcessBus();
    await expect(bus.publish('a.*', bytes(''), { msgId: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(bus.publish('a..b', bytes(''), { msgId: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(bus.publish('a', bytes(''), { msgId: '' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(() => bus.subscribe('a.>.b', () => {})).toThrow(ValidationError);
    expect(() => bus.subscribe('a.b*', () => {})).toThrow(ValidationError);
  });
});

describe('in-process bus and trace context', () => {
  let tracing: TestTracing | undefined;
  afterEach(async () => {
    await tracing?.stop();
    tracing = undefined;
  });

  it('carries the publish span’s traceparent to subscribers, which run outside the publisher’s span', async () => {
    tracing = startTestTracing();
    const bus = new InProcessBus();
    const got: BusMessage[] = [];
    let activeInSubscriber: unknown = 'unset';
    bus.subscribe('aviary.v1.cluster.*.cmd', (m) => {
      got.push(m);
      activeInSubscriber = trace.getActiveSpan();
    });
    bus.subscribe('aviary.v1.cluster.*.cmd', (m) =>
      consumeWithSpan(m.subject, m.headers, {}, () => undefined),
    );
    await withSpan('decide', {}, () =>
      bus.publish('aviary.v1.cluster.eu-1.cmd', bytes('x'), {
        msgId: 'c1',
        headers: { 'x-app': 'a' },
      }),
    );
    const decide = await tracing.span('decide');
    const publish = await tracing.span('publish aviary.v1.cluster.{cluster}.cmd');
    const processed = await tracing.span('process aviary.v1.cluster.{cluster}.cmd');
    expect(parentSpanId(publish)).toBe(decide.spanContext().spanId);
    expect(publish.attributes).toMatchObject({
      'messaging.destination.name': 'aviary.v1.cluster.eu-1.cmd',
      'messaging.message.id': 'c1',
      'messaging.nats.stream': 'in-process',
      'messaging.nats.sequence': 1,
      'messaging.nats.duplicate': false,
    });
    expect(got[0]?.headers).toEqual({
      'x-app': 'a',
      traceparent: `00-${decide.spanContext().traceId}-${publish.spanContext().spanId}-01`,
    });
    expect(activeInSubscriber).toBeUndefined();
    expect(parentSpanId(processed)).toBe(publish.spanContext().spanId);
    expect(processed.spanContext().traceId).toBe(decide.spanContext().traceId);
  });

  it('continues the trace an outbox row’s headers carry, published outside any span', async () => {
    tracing = startTestTracing();
    const bus = new InProcessBus();
    const got: BusMessage[] = [];
    bus.subscribe('s.>', (m) => void got.push(m));
    const row = await withSpan('ingest', {}, () => headersWithSpan('create s.a', {}));
    await bus.publish('s.a', bytes('x'), { msgId: 'r1', headers: row });
    const create = await tracing.span('create s.a');
    const publish = await tracing.span('publish s.a');
    expect(parentSpanId(publish)).toBe(create.spanContext().spanId);
    expect(got[0]?.headers.traceparent).toBe(
      `00-${create.spanContext().traceId}-${publish.spanContext().spanId}-01`,
    );
  });

  it('adds no header and makes no span while tracing is off', async () => {
    expect(isTracingEnabled()).toBe(false);
    const bus = new InProcessBus();
    const got: BusMessage[] = [];
    bus.subscribe('s.>', (m) => void got.push(m));
    await withSpan('decide', {}, () =>
      bus.publish('s.a', bytes('x'), { msgId: 'o1', headers: { 'x-app': 'a' } }),
    );
    expect(got[0]?.headers).toEqual({ 'x-app': 'a' });
  });
});
