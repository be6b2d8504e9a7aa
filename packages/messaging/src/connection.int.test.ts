import { createServer, type Server } from 'node:net';
import { ErrorCode } from '@aviary/core';
import { afterEach, describe, expect, it } from 'vitest';
import { testEnv } from '../../../test/env.ts';
import { recordingLogger } from '../test/helpers.ts';
import { connectNats, type NatsClient, redactServer } from './connection.ts';

const opened: NatsClient[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((client) => client.close()));
});

describe('connectNats', () => {
  it('connects, opens JetStream, and drains on close', async () => {
    const logger = recordingLogger();
    const client = await connectNats({ servers: testEnv.natsUrl, name: 'conn-test', logger });
    const jsm = await client.jetstreamManager();
    expect((await jsm.getAccountInfo()).api).toBeDefined();

    await client.close();
    await client.close();

    expect(client.connection.isClosed()).toBe(true);
    expect(await client.closed).toBeUndefined();
    expect(logger.entries.map((e) => e.msg)).toEqual(['nats connected', 'nats connection closed']);
  });

  it('never logs the password or token of a server URL', async () => {
    const logger = recordingLogger();
    const { host } = new URL(testEnv.natsUrl);
    // nats-server without authorisation ignores credentials, so this connects.
    const client = await connectNats({
      servers: `nats://aviary:pa55-w0rd@${host}`,
      name: 'conn-secret-test',
      logger,
    });
    opened.push(client);
    await client.close();
    const logged = JSON.stringify(logger.entries);
    expect(logged).not.toContain('pa55-w0rd');
  });

  it('fails with UNAVAILABLE, naming the server without credentials, when nothing listens', async () => {
    const port = await freePort();
    const failure = await connectNats({
      servers: `nats://agent:top-secret@127.0.0.1:${port}`,
      name: 'conn-refused',
      logger: recordingLogger(),
      connectTimeoutMs: 2000,
    }).catch((e) => e);
    expect(failure).toMatchObject({ code: ErrorCode.Unavailable });
    expect(failure.message).toContain(`nats://agent:***@127.0.0.1:${port}`);
    expect(failure.message).not.toContain('top-secret');
  });

  it('fails with ABORTED when its signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      connectNats({
        servers: testEnv.natsUrl,
        name: 'conn-aborted',
        logger: recordingLogger(),
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ code: ErrorCode.Aborted });
  });

  it('logs a lost connection and the reconnect', async () => {
    // A TCP proxy in front of the real server that the test can cut.
    const { hostname, port } = new URL(testEnv.natsUrl);
    const proxy = await startProxy(hostname, Number(port));
    const logger = recordingLogger();
    const client = await connectNats({
      servers: `nats://127.0.0.1:${proxy.port}`,
      name: 'conn-reconnect',
      logger,
      reconnectTimeWaitMs: 100,
    });
    opened.push(client);

    proxy.cutConnections();
    await waitFor(() => logger.entries.some((e) => e.msg === 'nats reconnected'));

    const messages = logger.entries.map((e) => e.msg);
    expect(messages).toContain('nats disconnected');
    expect(logger.entries.find((e) => e.msg === 'nats disconnected')?.level).toBe('warn');
    await client.close();
    proxy.server.close();
  });
});

describe('redactServer', () => {
  it.each([
    ['nats://u:p@h:4222', 'nats://u:***@h:4222'],
    ['tls://token@h:4222', 'tls://***@h:4222'],
    ['nats://h:4222', 'nats://h:4222'],
    ['127.0.0.1:4222', '127.0.0.1:4222'],
  ])('%s → %s', (input, expected) => {
    expect(redactServer(input)).toBe(expected);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startProxy(targetHost: string, targetPort: number) {
  const { connect } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    server,
    port: address.port,
    cutConnections() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
