import { fileURLToPath } from 'node:url';
import { connectNats, ensureStreams, messagingNamespace, streamNames } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;
const namespaces: string[] = [];

afterEach(async () => {
  const nats = await connectNats({
    servers: testEnv.natsUrl,
    name: 'agent-test-cleanup',
    logger: quiet(),
  });
  const jsm = await nats.jetstreamManager();
  for (const name of namespaces.splice(0)) {
    for (const stream of Object.values(streamNames(messagingNamespace(name)))) {
      await jsm.streams.delete(stream).catch(() => false);
    }
  }
  await nats.close();
});

function quiet() {
  return createLogger({ service: 'test', level: 'silent' });
}

function startAgent(namespace: string, env: Record<string, string> = {}) {
  return spawnService(main, {
    env: {
      AVIARY_CLUSTER_NAME: 'eu-1',
      AVIARY_NATS_URL: testEnv.natsUrl,
      AVIARY_MESSAGING_NAMESPACE: namespace,
      AVIARY_LOG_LEVEL: 'debug',
      ...env,
    },
  });
}

describe('cluster-agent main', () => {
  it('connects, finds its command stream, says it does nothing else yet, and stops on SIGTERM', async () => {
    const namespace = uniqueName('agent');
    namespaces.push(namespace);
    const nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'agent-test',
      logger: quiet(),
    });
    await ensureStreams(await nats.jetstreamManager(), {
      namespace: messagingNamespace(namespace),
    });
    await nats.close();

    const agent = startAgent(namespace);
    const ready = await agent.waitForLine(byMsg('ready'));
    expect(ready).toMatchObject({ service: 'cluster-agent', cluster: 'eu-1' });
    expect(agent.lines.find(byMsg('command stream found'))).toMatchObject({
      subject: `${namespace}.v1.cluster.eu-1.cmd`,
      stream: `${namespace.toUpperCase()}_CMD`,
    });
    expect(
      agent.lines.some(byMsg('agent connected; command handling arrives with the agent issue')),
    ).toBe(true);

    const { code } = await agent.stop('SIGTERM');

    expect(code).toBe(0);
    expect(agent.lines.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });

  it('warns, and still starts, when no stream stores its command subject yet', async () => {
    const agent = startAgent(uniqueName('agent'));
    await agent.waitForLine(byMsg('ready'));
    const warning = agent.lines.find((l) => l.level === 'warn');
    expect(String(warning?.msg)).toContain('no stream stores this agent’s command subject yet');
    expect((await agent.stop('SIGTERM')).code).toBe(0);
  });

  it('exits 1 naming every bad variable, without echoing secrets', async () => {
    const agent = startAgent('x', {
      AVIARY_CLUSTER_NAME: 'EU.1',
      AVIARY_NATS_URL: 'http://agent:hunter2@nats:4222',
      AVIARY_MESSAGING_NAMESPACE: 'Bad.Name',
    });
    const { code } = await agent.exited;
    expect(code).toBe(1);
    const fatal = agent.lines.find((l) => l.level === 'fatal');
    expect(fatal?.issues).toEqual([
      {
        path: 'AVIARY_CLUSTER_NAME',
        message:
          "must be a DNS-1123 label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
      },
      { path: 'AVIARY_NATS_URL', message: 'must be a nats:// or tls:// URL' },
      {
        path: 'AVIARY_MESSAGING_NAMESPACE',
        message: "must be 1-64 lowercase letters, digits, '_' or '-'",
      },
    ]);
    expect(agent.stderr()).toContain('AVIARY_CLUSTER_NAME');
    expect(JSON.stringify(agent.lines) + agent.stderr()).not.toContain('hunter2');
  });

  it('exits 1 when NATS cannot be reached', async () => {
    const agent = startAgent(uniqueName('agent'), { AVIARY_NATS_URL: 'nats://127.0.0.1:1' });
    const { code } = await agent.exited;
    expect(code).toBe(1);
    expect(agent.lines.find(byMsg('start failed'))).toMatchObject({ level: 'error' });
  });
});
