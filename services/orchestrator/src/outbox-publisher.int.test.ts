import {
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  type MessagingNamespace,
  messagingNamespace,
  type NatsClient,
  streamNames,
  withSpan,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { parentSpanId, startTestTracing, type TestTracing } from '@aviary/platform/testing';
import { AckPolicy, type JsMsg } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';
import { OUTBOX_MSG_ID_HEADER, outboxMessagesOf } from './engine/effects.ts';
import { jetStreamOutboxPublisher } from './outbox-publisher.ts';

const quiet = createLogger({ service: 'outbox-test', level: 'silent' });
let nats: NatsClient;
let namespace: MessagingNamespace;
let tracing: TestTracing | undefined;

const weightRequested = {
  id: 'release-r1/obs/o7/1',
  type: 'CanaryWeightRequested',
  data: {
    command: {
      commandId: 'r1:eu-1:7',
      cluster: 'eu-1',
      releaseId: 'r1',
      setRoutes: { routes: { primaryWeightPercent: 80, canaryWeightPercent: 20 } },
    },
  },
};
const analysisRequested = {
  id: 'release-r1/obs/o8/1',
  type: 'AnalysisRequested',
  data: { request: { requestId: 'req-1', releaseId: 'r1', cluster: 'eu-1', checkName: 'errors' } },
};

beforeEach(async () => {
  namespace = messagingNamespace(uniqueName('outbox'));
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'outbox-test', logger: quiet });
  await ensureStreams(await nats.jetstreamManager(), { namespace });
});

afterEach(async () => {
  await tracing?.stop();
  tracing = undefined;
  const jsm = await nats.jetstreamManager();
  for (const stream of Object.values(streamNames(namespace))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await nats.close();
});

/** The command stream's messages, through a temporary explicit-ack consumer (a work queue's only kind). */
async function commandsOnNats(): Promise<JsMsg[]> {
  const stream = streamNames(namespace).commands;
  const name = uniqueName('read');
  const jsm = await nats.jetstreamManager();
  await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.Explicit });
  const consumer = await nats.jetstream.consumers.get(stream, name);
  const messages: JsMsg[] = [];
  for await (const m of await consumer.fetch({ max_messages: 1, expires: 2000 })) messages.push(m);
  return messages;
}

describe('the outbox and tracing', () => {
  it('stores the decision’s trace context in the row, and the relay continues it', async () => {
    tracing = startTestTracing('orchestrator');
    // Decided while ingesting an observation: the decision joins that trace.
    const rows = await withSpan('ingest observation', {}, () =>
      outboxMessagesOf([weightRequested, analysisRequested], namespace),
    );
    const [command, request] = rows;
    expect(command?.headers?.[OUTBOX_MSG_ID_HEADER]).toBe('r1:eu-1:7');
    expect(command?.headers?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(request?.headers?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const ingest = await tracing.span('ingest observation');
    const root = namespace.subjectRoot;
    const create = await tracing.span(`create ${root}.v1.cluster.{cluster}.cmd`);
    expect(parentSpanId(create)).toBe(ingest.spanContext().spanId);
    expect(create.attributes).toMatchObject({
      'aviary.command.id': 'r1:eu-1:7',
      'aviary.command.action': 'setRoutes',
      'aviary.release.id': 'r1',
      'aviary.cluster': 'eu-1',
      'aviary.event.type': 'CanaryWeightRequested',
    });
    expect(command?.headers?.traceparent).toContain(create.spanContext().spanId);

    // Published later by the relay, outside any span (maybe by another process after a restart).
    const relay = jetStreamOutboxPublisher(createJetStreamPublisher(nats.jetstream));
    if (command === undefined) throw new Error('no outbox message');
    await relay.publish(command, new AbortController().signal);
    const [message] = await commandsOnNats();
    const publish = await tracing.span(`publish ${root}.v1.cluster.{cluster}.cmd`);
    expect(parentSpanId(publish)).toBe(create.spanContext().spanId);
    expect(publish.spanContext().traceId).toBe(ingest.spanContext().traceId);
    expect(message?.headers?.get('traceparent')).toBe(
      `00-${ingest.spanContext().traceId}-${publish.spanContext().spanId}-01`,
    );
    expect(message?.headers?.get('Nats-Msg-Id')).toBe('r1:eu-1:7');
    expect(message?.headers?.has(OUTBOX_MSG_ID_HEADER)).toBe(false);
    message?.ack();
  });

  it('stores and sends no trace header while tracing is off', async () => {
    const [command] = outboxMessagesOf([weightRequested], namespace);
    expect(command?.headers).toEqual({ [OUTBOX_MSG_ID_HEADER]: 'r1:eu-1:7' });
    const relay = jetStreamOutboxPublisher(createJetStreamPublisher(nats.jetstream));
    if (command === undefined) throw new Error('no outbox message');
    await relay.publish(command, new AbortController().signal);
    const [message] = await commandsOnNats();
    expect(message?.headers?.keys()).toEqual(['Nats-Msg-Id']);
    message?.ack();
  });
});
