import {
  AckPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { testEnv, uniqueName } from '../../../test/env.ts';
import type { MessagingLogger } from '../src/connection.ts';
import { connectNats, type NatsClient } from '../src/connection.ts';
import { streamNames } from '../src/streams.ts';
import { type MessagingNamespace, messagingNamespace } from '../src/subjects.ts';

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly msg: string;
}

/** A logger that keeps what it is given, for assertions. */
export function recordingLogger(): MessagingLogger & { readonly entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (fields: object, msg: string): void => {
      entries.push({ level, fields, msg });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A connection and a namespace of its own for one test; `cleanup` deletes its streams. */
export async function natsFixture(): Promise<{
  client: NatsClient;
  jsm: JetStreamManager;
  js: JetStreamClient;
  namespace: MessagingNamespace;
  logger: ReturnType<typeof recordingLogger>;
  cleanup(): Promise<void>;
}> {
  const logger = recordingLogger();
  const namespace = messagingNamespace(uniqueName('msg'));
  const client = await connectNats({ servers: testEnv.natsUrl, name: 'messaging-test', logger });
  const jsm = await client.jetstreamManager();
  return {
    client,
    jsm,
    js: client.jetstream,
    namespace,
    logger,
    async cleanup() {
      for (const name of Object.values(streamNames(namespace))) {
        await jsm.streams.delete(name).catch(() => false);
      }
      await client.close();
    },
  };
}

/**
 * Every message of `stream` on `subject`, read by a temporary explicit-ack pull consumer (the only
 * kind a work-queue stream allows); nothing is acknowledged.
 */
export async function readAll(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<JsMsg[]> {
  const name = uniqueName('read');
  await jsm.consumers.add(stream, {
    name,
    filter_subject: subject,
    ack_policy: AckPolicy.Explicit,
    inactive_threshold: nanos(30_000),
  });
  try {
    const consumer = await js.consumers.get(stream, name);
    const { num_pending: pending } = await consumer.info();
    const messages: JsMsg[] = [];
    if (pending === 0) return messages;
    for await (const message of await consumer.fetch({ max_messages: pending, expires: 5000 })) {
      messages.push(message);
    }
    return messages;
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => false);
  }
}
