import { connect } from 'node:net';
import {
  type EventStore,
  formatPosition,
  type NewEvent,
  openPGliteEventStore,
  type Subscription,
} from '@aviary/event-store';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, type ApiServerOptions, createApiServer } from './server.ts';
import type { SseOptions } from './sse.ts';
import { FakeOperations, FakeReadModel, recordingLogger } from './test-fakes.ts';

const VIEWER = 'viewer-token-0123456789';

let store: EventStore;
/** Every subscription the API opened, to check that each is stopped. */
const subscriptions: Subscription[] = [];
let recordingStore: EventStore;

beforeAll(async () => {
  store = await openPGliteEventStore();
  recordingStore = {
    append: (...args) => store.append(...args),
    readStream: (...args) => store.readStream(...args),
    streamVersion: (...args) => store.streamVersion(...args),
    readAll: (...args) => store.readAll(...args),
    subscribe: (options) => {
      const subscription = store.subscribe(options);
      subscriptions.push(subscription);
      return subscription;
    },
    checkpoints: store.checkpoints,
    outbox: store.outbox,
    close: () => store.close(),
  };
});
afterAll(async () => {
  await store.close();
});

const servers: ApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(sse: Partial<SseOptions> = {}): Promise<string> {
  const options: ApiServerOptions = {
    operations: new FakeOperations(),
    readModel: new FakeReadModel(),
    store: recordingStore,
    tokens: [{ name: 'vera', role: 'viewer', token: VIEWER }],
    logger: recordingLogger(),
    sse,
  };
  const server = createApiServer(options);
  servers.push(server);
  return (await server.listen(0)).url;
}

let second = 0;
function tick(): NewEvent {
  second++;
  return {
    type: 'TickRecorded',
    data: { now: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString() },
    metadata: { actor: 'otto', correlationId: 'corr-1' },
  };
}

async function append(streamId: string, count: number) {
  const events = Array.from({ length: count }, tick);
  return store.append(streamId, events, { expectedVersion: 'any' });
}

interface SseMessage {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly comment?: string;
}

/** A server-sent events client over fetch: reads and parses messages as they come. */
class SseClient {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #controller: AbortController;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  readonly messages: SseMessage[] = [];
  ended = false;

  private constructor(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    controller: AbortController,
  ) {
    this.#reader = reader;
    this.#controller = controller;
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${VIEWER}`, ...headers },
      signal: controller.signal,
    });
    if (response.status !== 200 || !response.body) {
      throw new Error(`status ${response.status}: ${await response.text()}`);
    }
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    return new SseClient(response.body.getReader(), controller);
  }

  /** Reads until `count` events (not comments) have arrived in all, or the stream ends. */
  async events(count: number, timeoutMs = 5000): Promise<SseMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#events().length < count && !this.ended) {
      if (Date.now() > deadline) {
        throw new Error(`only ${this.#events().length} of ${count} events arrived`);
      }
      await this.#readOnce(deadline - Date.now());
    }
    return this.#events();
  }

  /** Reads for `ms` and returns every message read so far. */
  async readFor(ms: number): Promise<SseMessage[]> {
    const deadline = Date.now() + ms;
    while (!this.ended && Date.now() < deadline) await this.#readOnce(deadline - Date.now());
    return this.messages;
  }

  close(): void {
    this.#controller.abort();
  }

  #events(): SseMessage[] {
    return this.messages.filter((m) => m.event !== undefined);
  }

  async #readOnce(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.#reader.read(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(1, timeoutMs));
      }),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') return;
    if (result.done) {
      this.ended = true;
      return;
    }
    this.#buffer += this.#decoder.decode(result.value, { stream: true });
    for (let end = this.#buffer.indexOf('\n\n'); end !== -1; end = this.#buffer.indexOf('\n\n')) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      this.messages.push(parseBlock(block));
    }
  }
}

function parseBlock(block: string): SseMessage {
  const message: { id?: string; event?: string; data?: string; comment?: string } = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) message.comment = line.slice(1).trim();
    else {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id' || field === 'event' || field === 'data') message[field] = value;
    }
  }
  return message;
}

/** The `index`th subscription opened, once it is. */
async function subscriptionAt(index: number): Promise<Subscription> {
  for (;;) {
    const subscription = subscriptions[index];
    if (subscription) return subscription;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const json = (m: SseMessage) => JSON.parse(m.data ?? 'null');

describe('GET /api/v1/events', () => {
  it('streams every event appended from now on, then resumes after Last-Event-ID', async () => {
    const url = await startServer();
    await append('release-before', 2);
    const client = await SseClient.open(`${url}/api/v1/events`);
    const first = await append('release-r1', 2);
    const other = await append('release-r2', 1);
    const events = await client.events(3);
    expect(events.map((m) => m.event)).toEqual(['TickRecorded', 'TickRecorded', 'TickRecorded']);
    const stored = [
      ...(await store.readStream('release-r1')),
      ...(await store.readStream('release-r2')),
    ];
    expect(events.map((m) => m.id)).toEqual(stored.map((e) => formatPosition(e.position)));
    expect(events[2]?.id).toBe(other.position && formatPosition(other.position));
    expect(first.position && formatPosition(first.position)).toBe(events[1]?.id);
    const firstStored = stored[0];
    expect(json(events[0] ?? {})).toEqual({
      streamId: 'release-r1',
      version: 1,
      position: firstStored && formatPosition(firstStored.position),
      type: 'TickRecorded',
      data: firstStored?.data,
      metadata: { actor: 'otto' },
      recordedAt: firstStored?.recordedAt.toISOString(),
    });
    client.close();

    await append('release-r1', 2);
    const resumed = await SseClient.open(`${url}/api/v1/events`, {
      'last-event-id': events[1]?.id ?? '',
    });
    const again = await resumed.events(3);
    expect(again.map((m) => json(m).streamId)).toEqual(['release-r2', 'release-r1', 'release-r1']);
    expect(again.map((m) => json(m).version)).toEqual([1, 3, 4]);
    await resumed.readFor(100);
    expect(resumed.messages.filter((m) => m.event)).toHaveLength(3);
    resumed.close();
  });

  it('answers 400 to a Last-Event-ID that is not a position, 401 without a token', async () => {
    const url = await startServer();
    const reply = await fetch(`${url}/api/v1/events`, {
      headers: { authorization: `Bearer ${VIEWER}`, 'last-event-id': '17' },
    });
    expect(reply.status).toBe(400);
    expect(
      ((await reply.json()) as { error: { message: string; issues: unknown } }).error.issues,
    ).toEqual([
      {
        path: 'Last-Event-ID',
        message: 'must be a position "<transaction id>:<position>" as sent in id: (got "17")',
      },
    ]);
    expect((await fetch(`${url}/api/v1/events`)).status).toBe(401);
  });

  it('sends a keep-alive comment', async () => {
    const url = await startServer({ keepAliveMs: 30 });
    const client = await SseClient.open(`${url}/api/v1/events`);
    const messages = await client.readFor(150);
    expect(messages.filter((m) => m.comment === 'keep-alive').length).toBeGreaterThanOrEqual(2);
    client.close();
  });

  it('stops its subscription when the client leaves', async () => {
    const url = await startServer();
    const before = subscriptions.length;
    const client = await SseClient.open(`${url}/api/v1/events`);
    await append('release-leave', 1);
    await client.events(1);
    const subscription = subscriptions[before];
    expect(subscription).toBeDefined();
    client.close();
    await expect(
      Promise.race([
        subscription?.done.then(() => 'stopped'),
        new Promise((resolve) => setTimeout(() => resolve('still running'), 2000)),
      ]),
    ).resolves.toBe('stopped');
  });

  it('ends the stream with event: overflow when the client does not read', async () => {
    const url = new URL(await startServer({ maxBufferedBytes: 64 * 1024, drainTimeoutMs: 200 }));
    const before = subscriptions.length;
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `GET /api/v1/events HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${VIEWER}\r\n\r\n`,
    );
    // Wait for the response head, then stop reading.
    await new Promise<void>((resolve) => {
      socket.once('data', (chunk: Buffer) => {
        received.push(chunk);
        socket.pause();
        resolve();
      });
    });
    // Large events fill the socket buffers quickly; appending stops once the stream gave up.
    const reason = 'r'.repeat(60_000);
    let stopped = false;
    void subscriptionAt(before).then((s) => s.done.then(() => (stopped = true)));
    for (let i = 0; i < 100 && !stopped; i++) {
      await store.append(
        'release-flood',
        Array.from({ length: 5 }, () => ({
          type: 'OperatorActionRecorded',
          data: { actor: 'otto', action: 'OPERATOR_ACTION_PAUSE', reason },
        })),
        { expectedVersion: 'any' },
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(stopped).toBe(true);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await closed;
    const text = Buffer.concat(received).toString('utf8');
    const overflow = /event: overflow\ndata: (.*)\n\n/.exec(text);
    expect(overflow).not.toBeNull();
    const data = JSON.parse(overflow?.[1] ?? '{}');
    expect(data.reason).toMatch(/^the client did not keep up: /);
    // The last id named is the last message sent before the overflow.
    const ids = [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    expect(data.lastEventId).toBe(ids.at(-1));
  });

  it('ends open streams and stops their subscriptions on close', async () => {
    const url = await startServer();
    const before = subscriptions.length;
    const client = await SseClient.open(`${url}/api/v1/events`);
    await servers.pop()?.close();
    await client.readFor(1000);
    expect(client.ended).toBe(true);
    await subscriptions[before]?.done;
  });
});

describe('GET /api/v1/releases/{id}/events', () => {
  it('sends the history, then live events; ids are stream versions; resumes after one', async () => {
    const url = await startServer();
    await append('release-hist', 3);
    await append('release-noise', 1);
    const client = await SseClient.open(`${url}/api/v1/releases/hist/events`);
    expect((await client.events(3)).map((m) => m.id)).toEqual(['1', '2', '3']);
    await append('release-noise', 2);
    await append('release-hist', 2);
    const events = await client.events(5);
    expect(events.map((m) => m.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(events.map((m) => json(m).streamId)).toEqual(Array(5).fill('release-hist'));
    expect(json(events[4] ?? {})).toMatchObject({ version: 5, metadata: { actor: 'otto' } });
    client.close();

    const resumed = await SseClient.open(`${url}/api/v1/releases/hist/events`, {
      'last-event-id': '4',
    });
    expect((await resumed.events(1)).map((m) => m.id)).toEqual(['5']);
    await append('release-hist', 1);
    expect((await resumed.events(2)).map((m) => m.id)).toEqual(['5', '6']);
    await resumed.readFor(100);
    expect(resumed.messages.filter((m) => m.event).map((m) => m.id)).toEqual(['5', '6']);
    resumed.close();

    const atEnd = await SseClient.open(`${url}/api/v1/releases/hist/events`, {
      'last-event-id': '6',
    });
    await append('release-hist', 1);
    expect((await atEnd.events(1)).map((m) => m.id)).toEqual(['7']);
    atEnd.close();
  });

  it('sends a long history in pages without losing or repeating an event', async () => {
    const url = await startServer();
    for (let i = 0; i < 3; i++) await append('release-long', 500);
    const client = await SseClient.open(`${url}/api/v1/releases/long/events`);
    const appending = append('release-long', 5);
    const events = await client.events(1505, 15_000);
    await appending;
    expect(events.map((m) => Number(m.id))).toEqual(Array.from({ length: 1505 }, (_, i) => i + 1));
    client.close();
  });

  it('answers 404 for a release without events and 400 for a Last-Event-ID beyond its end', async () => {
    const url = await startServer();
    const headers = { authorization: `Bearer ${VIEWER}` };
    const missing = await fetch(`${url}/api/v1/releases/nothing/events`, { headers });
    expect(missing.status).toBe(404);
    expect(
      ((await missing.json()) as { error: { message: string; issues: unknown } }).error,
    ).toEqual({
      code: 'NOT_FOUND',
      message: 'release nothing not found (it has no events)',
    });
    await append('release-short', 2);
    const beyond = await fetch(`${url}/api/v1/releases/short/events`, {
      headers: { ...headers, 'last-event-id': '9' },
    });
    expect(beyond.status).toBe(400);
    expect(
      ((await beyond.json()) as { error: { message: string; issues: unknown } }).error.message,
    ).toBe(
      'request Last-Event-ID: version 9 is beyond the last event of release short (version 2)',
    );
    const notANumber = await fetch(`${url}/api/v1/releases/short/events`, {
      headers: { ...headers, 'last-event-id': '1:2' },
    });
    expect(notANumber.status).toBe(400);
    const badId = await fetch(`${url}/api/v1/releases/Short/events`, { headers });
    expect(badId.status).toBe(400);
  });
});
