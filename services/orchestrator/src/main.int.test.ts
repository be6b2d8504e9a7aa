import { fileURLToPath } from 'node:url';
import {
  commandSubject,
  connectNats,
  createJetStreamPublisher,
  messagingNamespace,
  type NatsClient,
  observationSubject,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import { AckPolicy } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresHarness } from '../../../packages/event-store/src/backends/postgres-harness.ts';
import { tick } from '../../../packages/event-store/src/event-store.contract.ts';
import { testEnv, uniqueName } from '../../../test/env.ts';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;

describe('orchestrator main', () => {
  let harness: Awaited<ReturnType<typeof openPostgresHarness>>;
  let nats: NatsClient;
  let namespace: string;

  beforeEach(async () => {
    harness = await openPostgresHarness();
    namespace = uniqueName('orch');
    nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'orchestrator-test',
      logger: createLogger({ service: 'test', level: 'silent' }),
    });
  });
  afterEach(async () => {
    const jsm = await nats.jetstreamManager();
    for (const stream of Object.values(streamNames(messagingNamespace(namespace)))) {
      await jsm.streams.delete(stream).catch(() => false);
    }
    await nats.close();
    await harness.close();
  });

  it('opens the log, ensures the streams, publishes what another process commits to the outbox, and stops on SIGTERM', async () => {
    const orchestrator = spawnService(main, {
      env: {
        // Trust authentication ignores the password; it is there to prove it is never logged.
        AVIARY_PG_URL: harness.connectionString.replace('postgres@', 'postgres:s3cret-pw@'),
        AVIARY_NATS_URL: testEnv.natsUrl,
        AVIARY_MESSAGING_NAMESPACE: namespace,
        AVIARY_OUTBOX_POLL_INTERVAL_MS: '10m',
      },
    });
    await orchestrator.waitForLine(byMsg('ready'), 20_000);
    expect(orchestrator.lines.find(byMsg('event log open'))).toMatchObject({
      empty: true,
      outboxDepth: 0,
    });

    // Another process commits a decision with its command: the orchestrator hears of it through
    // the database's notification (polling is ten minutes here) and publishes it.
    const subject = commandSubject('eu-1', messagingNamespace(namespace));
    await harness.store.append('release-a', [tick(1)], {
      expectedVersion: 'no_stream',
      outbox: [
        { id: 'cmd-1', subject, payload: new TextEncoder().encode('{"commandId":"cmd-1"}') },
      ],
    });
    await expect.poll(() => harness.store.outbox.depth(), { timeout: 10_000 }).toBe(0);

    const stream = streamNames(messagingNamespace(namespace)).commands;
    const jsm = await nats.jetstreamManager();
    await jsm.consumers.add(stream, {
      durable_name: 'agent-eu-1',
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
    });
    const message = await (await nats.jetstream.consumers.get(stream, 'agent-eu-1')).next({
      expires: 5000,
    });
    expect(message?.headers?.get('Nats-Msg-Id')).toBe('cmd-1');
    expect(message?.string()).toBe('{"commandId":"cmd-1"}');

    expect(await orchestrator.stop('SIGTERM')).toEqual({ code: 0 });
    expect(orchestrator.lines.some(byMsg('stopped'))).toBe(true);
    expect(JSON.stringify(orchestrator.lines)).not.toContain(
      harness.connectionString.replace('postgres://', ''),
    );
  });

  it('lets one of two orchestrators lead; the standby takes over when the leader is killed', async () => {
    const env = {
      AVIARY_PG_URL: harness.connectionString,
      AVIARY_NATS_URL: testEnv.natsUrl,
      AVIARY_MESSAGING_NAMESPACE: namespace,
      AVIARY_LEADER_RETRY_MS: '200',
    };
    const first = spawnService(main, { env });
    await first.waitForLine(byMsg('leading'), 20_000);
    const second = spawnService(main, { env });
    try {
      await second.waitForLine(byMsg('another orchestrator leads; standing by'), 20_000);
      expect(second.lines.some(byMsg('leading'))).toBe(false);
      await first.stop('SIGKILL');
      await second.waitForLine(byMsg('leading'), 20_000);
      await second.waitForLine(byMsg('recovered from the log'), 20_000);
    } finally {
      await first.stop('SIGKILL').catch(() => undefined);
      expect(await second.stop('SIGTERM')).toEqual({ code: 0 });
    }
  });

  it('drops malformed observations with a reason and keeps ingesting', async () => {
    const orchestrator = spawnService(main, {
      env: {
        AVIARY_PG_URL: harness.connectionString,
        AVIARY_NATS_URL: testEnv.natsUrl,
        AVIARY_MESSAGING_NAMESPACE: namespace,
      },
    });
    try {
      await orchestrator.waitForLine((l) => String(l.msg).startsWith('orchestrator ready'), 20_000);
      const ns = messagingNamespace(namespace);
      const publisher = createJetStreamPublisher(nats.jetstream);
      const send = (kind: string, body: string, id: string) =>
        publisher.publish(observationSubject('eu-1', kind, ns), new TextEncoder().encode(body), {
          msgId: id,
        });
      await send('heartbeat', 'not json {', 'bad-1');
      await send('heartbeat', JSON.stringify({ observationId: 'bad-2', cluster: 5 }), 'bad-2');
      await send(
        'heartbeat',
        JSON.stringify({
          observationId: 'eu-1:hb:1',
          cluster: 'eu-1',
          observedAt: '2026-11-22T00:00:00Z',
          heartbeat: { labels: { region: 'eu' }, agentVersion: '1.0.0', leaseMs: 60000 },
        }),
        'good-1',
      );
      await expect
        .poll(async () => (await harness.store.readStream('cluster-eu-1')).length, {
          timeout: 10_000,
        })
        .toBe(1);
      expect(orchestrator.lines.some(byMsg('observation is not JSON; dropped'))).toBe(true);
      expect(orchestrator.lines.find(byMsg('observation refused; dropped'))).toMatchObject({
        err: { message: expect.stringContaining('invalid observation') },
      });
      expect(orchestrator.lines.some((l) => l.level === 'fatal')).toBe(false);
    } finally {
      expect(await orchestrator.stop('SIGTERM')).toEqual({ code: 0 });
    }
  });

  it('refuses a bad configuration, naming every variable, without starting', async () => {
    const orchestrator = spawnService(main, {
      env: {
        AVIARY_PG_URL: 'mysql://db/aviary',
        AVIARY_PG_POOL_SIZE: 'many',
        AVIARY_MESSAGING_NAMESPACE: namespace,
      },
    });
    const { code } = await orchestrator.exited;
    expect(code).toBe(1);
    expect(orchestrator.stderr()).toContain(
      'AVIARY_PG_URL: must be a postgres:// or postgresql:// URL',
    );
    expect(orchestrator.stderr()).toContain('AVIARY_PG_POOL_SIZE: must be a number');
  });
});
