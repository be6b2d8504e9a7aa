import { ErrorCode, isAviaryError } from '@aviary/core';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { natsFixture } from '../test/helpers.ts';
import { ensureStreams, findStreamForSubject, streamNames } from './streams.ts';
import { analysisResultSubject, commandSubject } from './subjects.ts';

let nats: Awaited<ReturnType<typeof natsFixture>>;

beforeEach(async () => {
  nats = await natsFixture();
});

afterEach(async () => {
  await nats.cleanup();
});

describe('ensureStreams', () => {
  it('creates the three streams with file storage, duplicate windows and max ages', async () => {
    const results = await ensureStreams(nats.jsm, { namespace: nats.namespace });
    const names = streamNames(nats.namespace);
    expect(results.map((r) => [r.name, r.action])).toEqual([
      [names.observations, 'created'],
      [names.commands, 'created'],
      [names.analysis, 'created'],
    ]);

    const obs = (await nats.jsm.streams.info(names.observations)).config;
    expect(obs).toMatchObject({
      subjects: [`${nats.namespace.subjectRoot}.v1.cluster.*.obs.*`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(2 * 60_000),
      max_age: nanos(7 * 24 * 3_600_000),
    });
    const cmd = (await nats.jsm.streams.info(names.commands)).config;
    expect(cmd).toMatchObject({
      subjects: [`${nats.namespace.subjectRoot}.v1.cluster.*.cmd`],
      storage: StorageType.File,
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(10 * 60_000),
    });
    const analysis = (await nats.jsm.streams.info(names.analysis)).config;
    expect([...analysis.subjects].sort()).toEqual([
      `${nats.namespace.subjectRoot}.v1.analysis.req`,
      `${nats.namespace.subjectRoot}.v1.analysis.res`,
    ]);
    expect(await nats.jsm.streams.find(commandSubject('eu-1', nats.namespace))).toBe(
      names.commands,
    );
  });

  it('is idempotent: a second run changes nothing', async () => {
    await ensureStreams(nats.jsm, { namespace: nats.namespace });
    const before = await nats.jsm.streams.info(streamNames(nats.namespace).observations);

    const again = await ensureStreams(nats.jsm, { namespace: nats.namespace });

    expect(again.map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    const after = await nats.jsm.streams.info(streamNames(nats.namespace).observations);
    expect(after.created).toBe(before.created);
    expect(after.config).toEqual(before.config);
  });

  it('updates streams whose settings changed, and keeps their messages', async () => {
    await ensureStreams(nats.jsm, { namespace: nats.namespace });
    const subject = `${nats.namespace.subjectRoot}.v1.cluster.eu-1.obs.heartbeat`;
    await nats.js.publish(subject, new Uint8Array([1]), { msgID: 'keep-me' });

    const results = await ensureStreams(nats.jsm, {
      namespace: nats.namespace,
      duplicateWindowMs: 30_000,
      commandDuplicateWindowMs: 20 * 60_000,
    });

    expect(results.map((r) => [r.key, r.action, r.changed])).toEqual([
      ['observations', 'updated', ['duplicate_window']],
      ['commands', 'updated', ['duplicate_window']],
      ['analysis', 'updated', ['duplicate_window']],
    ]);
    const obs = await nats.jsm.streams.info(streamNames(nats.namespace).observations);
    expect(obs.config.duplicate_window).toBe(nanos(30_000));
    expect(obs.state.messages).toBe(1);
  });

  it('refuses, with a CONFIG error, a stream whose retention cannot be changed in place', async () => {
    const names = streamNames(nats.namespace);
    await nats.jsm.streams.add({
      name: names.commands,
      subjects: [`${nats.namespace.subjectRoot}.v1.cluster.*.cmd`],
      retention: RetentionPolicy.Limits,
    });

    const failure = await ensureStreams(nats.jsm, { namespace: nats.namespace }).catch((e) => e);

    expect(isAviaryError(failure, ErrorCode.Config)).toBe(true);
    expect(String(failure.message)).toContain(
      `stream ${names.commands} exists with retention limits`,
    );
  });

  it('rejects settings JetStream would refuse before touching the server', async () => {
    await expect(
      ensureStreams(nats.jsm, { namespace: nats.namespace, duplicateWindowMs: 10 }),
    ).rejects.toMatchObject({ code: ErrorCode.Validation });
    await expect(nats.jsm.streams.info(streamNames(nats.namespace).observations)).rejects.toThrow();
  });

  it('stops with ABORTED when its signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      ensureStreams(nats.jsm, { namespace: nats.namespace, signal: controller.signal }),
    ).rejects.toMatchObject({ code: ErrorCode.Aborted });
  });

  it('finds the stream of a subject, or says there is none', async () => {
    const subject = analysisResultSubject(nats.namespace);
    expect(await findStreamForSubject(nats.jsm, subject)).toBeUndefined();
    await ensureStreams(nats.jsm, { namespace: nats.namespace });
    expect(await findStreamForSubject(nats.jsm, subject)).toBe(
      streamNames(nats.namespace).analysis,
    );
  });
});
