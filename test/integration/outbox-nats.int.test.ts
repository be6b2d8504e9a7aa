import {
  type EventStore,
  type OutboxPublisher,
  OutboxRelay,
  openPostgresEventStore,
} from '@aviary/event-store';
import {
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  ensureStreams,
  messagingNamespace,
  type NatsClient,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { AckPolicy, type JsMsg } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresHarness } from '../../packages/event-store/src/backends/postgres-harness.ts';
import { tick } from '../../packages/event-store/src/event-store.contract.ts';
import { jetStreamOutboxPublisher } from '../../services/orchestrator/src/outbox-publisher.ts';
import { testEnv, uniqueName } from '../env.ts';

/**
 * The outbox end to end on the real PostgreSQL and NATS JetStream: decisions committed with their
 * commands, a relay that dies mid-drain (after JetStream stored some messages, before it could
 * mark them published), a restarted relay in a new "process", and an agent's consumer that must
 * see every command exactly once, in order.
 */
describe('outbox to NATS JetStream', () => {
  const logger = createLogger({ service: 'test', level: 'silent' });
  let harness: Awaited<ReturnType<typeof openPostgresHarness>>;
  let nats: NatsClient;
  const namespace = messagingNamespace(uniqueName('outbox'));

  beforeEach(async () => {
    harness = await openPostgresHarness();
    nats = await connectNats({ servers: testEnv.natsUrl, name: 'outbox-test', logger });
    await ensureStreams(await nats.jetstreamManager(), { namespace });
  });
  afterEach(async () => {
    const jsm = await nats.jetstreamManager();
    for (const stream of Object.values(streamNames(namespace)))
      await jsm.streams.delete(stream).catch(() => false);
    await nats.close();
    await harness.close();
  });

  const command = (id: string, cluster: string) => ({
    id,
    subject: commandSubject(cluster, namespace),
    payload: new TextEncoder().encode(JSON.stringify({ commandId: id, cluster })),
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  });

  /** Every message the agent of `cluster` would consume, acknowledged as an agent would. */
  async function consumeAll(cluster: string): Promise<JsMsg[]> {
    const jsm = await nats.jetstreamManager();
    const stream = streamNames(namespace).commands;
    const durable = `agent-${cluster}`;
    await jsm.consumers.add(stream, {
      durable_name: durable,
      filter_subject: commandSubject(cluster, namespace),
      ack_policy: AckPolicy.Explicit,
    });
    const consumer = await nats.jetstream.consumers.get(stream, durable);
    const received: JsMsg[] = [];
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
      let count = 0;
      for await (const message of batch) {
        received.push(message);
        message.ack();
        count++;
      }
      if (count === 0) return received;
    }
  }

  it('delivers every command exactly once after crashes between commit and publish and between publish and mark', async () => {
    const store: EventStore = harness.store;
    // Three decisions, each committed with its commands. No relay runs yet: the "process" that
    // committed them dies before publishing anything.
    await store.append('release-a', [tick(1)], {
      expectedVersion: 'no_stream',
      outbox: [command('cmd-1', 'eu-1'), command('cmd-2', 'us-1')],
    });
    await store.append('release-a', [tick(2)], {
      expectedVersion: 1n,
      outbox: [command('cmd-3', 'eu-1'), command('cmd-4', 'us-1')],
    });
    await store.append('release-a', [tick(3)], {
      expectedVersion: 2n,
      outbox: [command('cmd-5', 'eu-1'), command('cmd-6', 'eu-1')],
    });

    // A relay in a second process: JetStream stores four messages, then the process freezes
    // before it can mark any of them published, and is killed.
    const js = createJetStreamPublisher(nats.jetstream);
    const acks: { id: string; duplicate: boolean }[] = [];
    const recording: OutboxPublisher = {
      async publish(message, signal) {
        const ack = await js.publish(message.subject, message.payload, {
          msgId: message.id,
          signal,
          ...(message.headers ? { headers: message.headers } : {}),
        });
        acks.push({ id: message.id, duplicate: ack.duplicate });
      },
    };
    const doomed = await openPostgresEventStore({
      connectionString: harness.connectionString,
      migrate: false,
    });
    let published = 0;
    let freeze: (() => void) | undefined;
    const crashing = new OutboxRelay({
      outbox: doomed.outbox,
      logger,
      publisher: {
        async publish(message, signal) {
          if (published === 4) {
            await new Promise<void>((resolve) => {
              freeze = resolve;
            });
            throw new Error('process killed');
          }
          await recording.publish(message, signal);
          published++;
        },
      },
    });
    const draining = crashing.drainOnce();
    await expect.poll(() => freeze !== undefined).toBe(true);
    await doomed.close(); // the process is gone: its connections are closed under it
    freeze?.();
    await expect(draining).rejects.toThrow();
    expect(await store.outbox.depth()).toBe(6);

    // The restarted orchestrator's relay publishes everything still pending; JetStream drops the
    // four copies it already stored.
    const restarted = new OutboxRelay({ outbox: store.outbox, logger, publisher: recording });
    expect(await restarted.drainOnce()).toBe(6);
    expect(await store.outbox.depth()).toBe(0);
    expect(acks.map((a) => `${a.id}${a.duplicate ? ' (duplicate)' : ''}`)).toEqual([
      'cmd-1',
      'cmd-2',
      'cmd-3',
      'cmd-4',
      'cmd-1 (duplicate)',
      'cmd-2 (duplicate)',
      'cmd-3 (duplicate)',
      'cmd-4 (duplicate)',
      'cmd-5',
      'cmd-6',
    ]);

    const eu = await consumeAll('eu-1');
    const us = await consumeAll('us-1');
    expect(eu.map((m) => m.json<{ commandId: string }>().commandId)).toEqual([
      'cmd-1',
      'cmd-3',
      'cmd-5',
      'cmd-6',
    ]);
    expect(us.map((m) => m.json<{ commandId: string }>().commandId)).toEqual(['cmd-2', 'cmd-4']);
    expect(eu[0]?.headers?.get('Nats-Msg-Id')).toBe('cmd-1');
    expect(eu[0]?.headers?.get('traceparent')).toBe(
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    );
  });

  it('keeps a message that cannot be published, and later ones on its subject, until it can', async () => {
    await harness.store.append('release-a', [tick(1)], {
      expectedVersion: 'no_stream',
      outbox: [command('cmd-1', 'eu-1'), command('cmd-2', 'eu-1'), command('cmd-3', 'us-1')],
    });
    const real = jetStreamOutboxPublisher(createJetStreamPublisher(nats.jetstream));
    let failing = true;
    const relay = new OutboxRelay({
      outbox: harness.store.outbox,
      logger,
      retryBaseMs: 0,
      publisher: {
        publish: (message, signal) =>
          failing && message.id === 'cmd-1'
            ? Promise.reject(new Error('nats: timeout'))
            : real.publish(message, signal),
      },
    });
    expect(await relay.drainOnce()).toBe(1); // cmd-3 only: cmd-2 waits behind cmd-1
    expect((await harness.store.outbox.pending(10)).map((m) => [m.id, m.attempts])).toEqual([
      ['cmd-1', 1],
      ['cmd-2', 0],
    ]);
    failing = false;
    expect(await relay.drainOnce()).toBe(2);
    expect(
      (await consumeAll('eu-1')).map((m) => m.json<{ commandId: string }>().commandId),
    ).toEqual(['cmd-1', 'cmd-2']);
  });

  it('a running relay publishes what an append commits, woken by the append', async () => {
    const relay = new OutboxRelay({
      outbox: harness.store.outbox,
      logger,
      pollIntervalMs: 600_000,
      publisher: jetStreamOutboxPublisher(createJetStreamPublisher(nats.jetstream)),
    });
    relay.start();
    try {
      await harness.store.append('release-a', [tick(1)], {
        expectedVersion: 'no_stream',
        outbox: [command('cmd-1', 'eu-1')],
      });
      await expect.poll(() => harness.store.outbox.depth(), { timeout: 10_000 }).toBe(0);
    } finally {
      await relay.stop();
    }
    expect(
      (await consumeAll('eu-1')).map((m) => m.json<{ commandId: string }>().commandId),
    ).toEqual(['cmd-1']);
  });
});
