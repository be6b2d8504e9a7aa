import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import { SpanKind } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { natsFixture, readAll } from '../test/helpers.ts';
import { createJetStreamPublisher } from './publisher.ts';
import { ensureStreams, streamNames } from './streams.ts';
import { commandSubject, observationSubject } from './subjects.ts';
import { consumeWithSpan, injectTraceHeaders, withSpan } from './tracing.ts';

let nats: Awaited<ReturnType<typeof natsFixture>>;
let tracing: TestTracing | undefined;
const payload = new TextEncoder().encode('{}');

beforeEach(async () => {
  nats = await natsFixture();
  await ensureStreams(nats.jsm, { namespace: nats.namespace });
});

afterEach(async () => {
  await tracing?.stop();
  tracing = undefined;
  await nats.cleanup();
});

describe('a trace across a real NATS hop', () => {
  it('links decision, publish, the agent’s work and the reply as parents and children', async () => {
    tracing = startTestTracing();
    const publisher = createJetStreamPublisher(nats.js);
    const names = streamNames(nats.namespace);
    const command = commandSubject('eu-1', nats.namespace);
    const reply = observationSubject('eu-1', 'command-result', nats.namespace);

    // The orchestrator decides and stores the context with the outbox row ...
    const stored = await withSpan('decide', {}, () => injectTraceHeaders());
    // ... and the relay publishes it later, outside any span.
    await publisher.publish(command, payload, { msgId: 'cmd-1', headers: stored });

    // The agent receives it over NATS, calls Kubernetes and publishes its result.
    const [received] = await readAll(nats.js, nats.jsm, names.commands, command);
    expect(received?.headers?.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await consumeWithSpan(command, received?.headers, { 'aviary.cluster': 'eu-1' }, async () => {
      await withSpan('kube patch deployments', { kind: SpanKind.CLIENT }, () => undefined);
      await publisher.publish(reply, payload, { msgId: 'cmd-1:result' });
    });

    // The orchestrator ingests the result.
    const [result] = await readAll(nats.js, nats.jsm, names.observations, reply);
    await consumeWithSpan(reply, result?.headers, {}, () => undefined);

    const decide = await tracing.span('decide');
    const publishCommand = await tracing.span(
      `publish ${nats.namespace.subjectRoot}.v1.cluster.{cluster}.cmd`,
    );
    const processCommand = await tracing.span(
      `process ${nats.namespace.subjectRoot}.v1.cluster.{cluster}.cmd`,
    );
    const kube = await tracing.span('kube patch deployments');
    const publishResult = await tracing.span(
      `publish ${nats.namespace.subjectRoot}.v1.cluster.{cluster}.obs.command-result`,
    );
    const processResult = await tracing.span(
      `process ${nats.namespace.subjectRoot}.v1.cluster.{cluster}.obs.command-result`,
    );
    const traceId = decide.spanContext().traceId;
    for (const span of [publishCommand, processCommand, kube, publishResult, processResult]) {
      expect(span.spanContext().traceId).toBe(traceId);
    }
    expect(parentSpanId(decide)).toBeUndefined();
    expect(parentSpanId(publishCommand)).toBe(decide.spanContext().spanId);
    expect(parentSpanId(processCommand)).toBe(publishCommand.spanContext().spanId);
    expect(parentSpanId(kube)).toBe(processCommand.spanContext().spanId);
    expect(parentSpanId(publishResult)).toBe(processCommand.spanContext().spanId);
    expect(parentSpanId(processResult)).toBe(publishResult.spanContext().spanId);
    expect(publishCommand.kind).toBe(SpanKind.PRODUCER);
    expect(publishCommand.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': command,
      'messaging.message.id': 'cmd-1',
      'messaging.nats.stream': names.commands,
      'messaging.nats.duplicate': false,
    });
    expect(processCommand.kind).toBe(SpanKind.CONSUMER);
  });

  it('adds no trace header while tracing is off', async () => {
    const publisher = createJetStreamPublisher(nats.js);
    const subject = commandSubject('eu-1', nats.namespace);
    await withSpan('decide', {}, () =>
      publisher.publish(subject, payload, { msgId: 'cmd-2', headers: injectTraceHeaders() }),
    );
    const [message] = await readAll(
      nats.js,
      nats.jsm,
      streamNames(nats.namespace).commands,
      subject,
    );
    expect(message?.headers?.keys().sort()).toEqual(['Nats-Msg-Id']);
  });
});
