import { ErrorCode, ValidationError } from '@aviary/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv } from '../../../test/env.ts';
import { natsFixture, readAll, recordingLogger } from '../test/helpers.ts';
import { connectNats } from './connection.ts';
import { createJetStreamPublisher, type JetStreamPublisher } from './publisher.ts';
import { ensureStreams, streamNames } from './streams.ts';
import { analysisRequestSubject, commandSubject, observationSubject } from './subjects.ts';

let nats: Awaited<ReturnType<typeof natsFixture>>;
let publisher: JetStreamPublisher;
const payload = new TextEncoder().encode('{"weightPercent":10}');

beforeEach(async () => {
  nats = await natsFixture();
  await ensureStreams(nats.jsm, { namespace: nats.namespace });
  publisher = createJetStreamPublisher(nats.js);
});

afterEach(async () => {
  await nats.cleanup();
});

describe('JetStream publisher', () => {
  it('stores a message once when it is published twice with the same id', async () => {
    const subject = commandSubject('eu-1', nats.namespace);

    const first = await publisher.publish(subject, payload, { msgId: 'cmd-1' });
    const second = await publisher.publish(subject, payload, { msgId: 'cmd-1' });

    const stream = streamNames(nats.namespace).commands;
    expect(first).toEqual({ stream, seq: 1, duplicate: false });
    expect(second).toEqual({ stream, seq: 1, duplicate: true });
    const received = await readAll(nats.js, nats.jsm, stream, subject);
    expect(received).toHaveLength(1);
    expect((await nats.jsm.streams.info(stream)).state.messages).toBe(1);
    expect(new TextDecoder().decode(received[0]?.data)).toBe('{"weightPercent":10}');
  });

  it('stores messages with different ids separately', async () => {
    const subject = observationSubject('eu-1', 'heartbeat', nats.namespace);
    const a = await publisher.publish(subject, payload, { msgId: 'obs-a' });
    const b = await publisher.publish(subject, payload, { msgId: 'obs-b' });
    expect([a.seq, b.seq, b.duplicate]).toEqual([1, 2, false]);
    expect(
      await readAll(nats.js, nats.jsm, streamNames(nats.namespace).observations, subject),
    ).toHaveLength(2);
  });

  it('delivers the message id and the trace context headers', async () => {
    const subject = analysisRequestSubject(nats.namespace);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

    await publisher.publish(subject, payload, {
      msgId: 'req-7',
      headers: { traceparent, tracestate: 'aviary=1', 'Aviary-Causation-Id': 'evt-3' },
    });

    const [message] = await readAll(
      nats.js,
      nats.jsm,
      streamNames(nats.namespace).analysis,
      subject,
    );
    expect(message?.headers?.get('Nats-Msg-Id')).toBe('req-7');
    expect(message?.headers?.get('traceparent')).toBe(traceparent);
    expect(message?.headers?.get('tracestate')).toBe('aviary=1');
    expect(message?.headers?.get('Aviary-Causation-Id')).toBe('evt-3');
  });

  it('fails with UNAVAILABLE when no stream takes the subject', async () => {
    const subject = `${nats.namespace.subjectRoot}.v1.nowhere`;
    const failure = await publisher.publish(subject, payload, { msgId: 'x' }).catch((e) => e);
    expect(failure).toMatchObject({ code: ErrorCode.Unavailable });
    expect(failure.message).toContain('no stream takes this subject');
    expect(failure.cause).toBeInstanceOf(Error);
  });

  it('fails with UNAVAILABLE when the connection is closed', async () => {
    const other = await connectNats({
      servers: testEnv.natsUrl,
      name: 'closed-publisher-test',
      logger: recordingLogger(),
    });
    const closedPublisher = createJetStreamPublisher(other.jetstream);
    await other.close();
    const subject = commandSubject('eu-1', nats.namespace);
    await expect(
      closedPublisher.publish(subject, payload, { msgId: 'late' }),
    ).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('fails with ABORTED when its signal is already aborted, and publishes nothing', async () => {
    const subject = commandSubject('eu-1', nats.namespace);
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(
      publisher.publish(subject, payload, { msgId: 'never', signal: controller.signal }),
    ).rejects.toMatchObject({ code: ErrorCode.Aborted });
    expect(
      await readAll(nats.js, nats.jsm, streamNames(nats.namespace).commands, subject),
    ).toHaveLength(0);
  });

  it('rejects an empty id, reserved or malformed headers and wildcard subjects', async () => {
    const subject = commandSubject('eu-1', nats.namespace);
    await expect(publisher.publish(subject, payload, { msgId: ' ' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      publisher.publish(subject, payload, { msgId: 'a', headers: { 'Nats-Msg-Id': 'b' } }),
    ).rejects.toMatchObject({ code: ErrorCode.Validation });
    await expect(
      publisher.publish(subject, payload, { msgId: 'a', headers: { 'bad name': 'x' } }),
    ).rejects.toMatchObject({ code: ErrorCode.Validation });
    await expect(
      publisher.publish(`${nats.namespace.subjectRoot}.v1.cluster.*.cmd`, payload, { msgId: 'a' }),
    ).rejects.toMatchObject({ code: ErrorCode.Validation });
  });

  it('fails when the subject is not stored by the expected stream', async () => {
    const subject = commandSubject('eu-1', nats.namespace);
    const failure = await publisher
      .publish(subject, payload, {
        msgId: 'c-1',
        expectedStream: streamNames(nats.namespace).observations,
      })
      .catch((e) => e);
    expect(failure).toMatchObject({ code: ErrorCode.Unavailable });
  });
});
