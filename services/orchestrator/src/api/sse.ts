/**
 * One server-sent events response: the headers, messages (`id:`, `event:`, `data:`), a keep-alive
 * comment every `keepAliveMs`, and bounded buffering. The writer never buffers without limit: when
 * the bytes the socket has not yet taken pass `maxBufferedBytes`, or a writer waiting for the
 * socket to drain waits longer than `drainTimeoutMs`, the stream ends with a final
 * `event: overflow` message (its data names the last id sent, to resume from with
 * `Last-Event-ID`), and the connection is destroyed if the client does not take even that in time.
 */
import type { ServerResponse } from 'node:http';

export interface SseOptions {
  /** Interval of the keep-alive comment (default 15 s). */
  readonly keepAliveMs: number;
  /** Bytes queued for the socket beyond which the client is too slow (default 1 MiB). */
  readonly maxBufferedBytes: number;
  /** How long a stream waits for a full socket buffer to drain before giving up (default 30 s). */
  readonly drainTimeoutMs: number;
}

export const DEFAULT_SSE_OPTIONS: SseOptions = {
  keepAliveMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  drainTimeoutMs: 30_000,
};

/** How a stream ended. */
export type SseEnd = 'client' | 'overflow' | 'server' | 'error';

export interface SseWriter {
  /** Aborted when the stream has ended, for whatever reason. */
  readonly signal: AbortSignal;
  /**
   * Sends one message (without `id:` when `id` is undefined); false when the stream has ended
   * (now or before), e.g. because this message overflowed the buffer.
   */
  send(id: string | undefined, event: string, data: unknown): boolean;
  /**
   * Resolves once the socket has taken what was buffered (at once when nothing waits), or the
   * stream has ended (the wait overflowed after `drainTimeoutMs`, or the client left).
   */
  drained(): Promise<void>;
  /** Ends the stream with a final `event: error` message. */
  fail(code: string, message: string): void;
  /** Ends the stream (server shutdown). */
  end(): void;
  /** Resolves with how the stream ended. */
  readonly ended: Promise<SseEnd>;
}

/** Writes the SSE headers and returns the writer of the stream. */
export function openSse(res: ServerResponse, options: SseOptions): SseWriter {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // Reverse proxies (NGINX) must not buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.write(': stream open\n\n');

  const controller = new AbortController();
  let lastId: string | undefined;
  let resolveEnded: (how: SseEnd) => void = () => {};
  const ended = new Promise<SseEnd>((resolve) => {
    resolveEnded = resolve;
  });

  const finish = (how: SseEnd, final?: string) => {
    if (controller.signal.aborted) return;
    clearInterval(keepAlive);
    controller.abort();
    resolveEnded(how);
    if (how === 'client') return;
    if (final !== undefined) res.write(final);
    // The connection is not reused: once the client has everything, it is closed.
    res.end(() => res.socket?.end());
    // A client that does not read cannot hold the connection (and its buffer) forever.
    const destroy = setTimeout(() => res.destroy(), options.drainTimeoutMs);
    destroy.unref();
    res.once('close', () => clearTimeout(destroy));
  };
  const overflow = (reason: string) =>
    finish('overflow', message(undefined, 'overflow', { reason, lastEventId: lastId ?? null }));
  const checkBuffer = (): boolean => {
    if (res.writableLength <= options.maxBufferedBytes) return true;
    overflow(`the client did not keep up: more than ${options.maxBufferedBytes} bytes waited`);
    return false;
  };

  const keepAlive = setInterval(() => {
    res.write(': keep-alive\n\n');
    checkBuffer();
  }, options.keepAliveMs);
  keepAlive.unref();
  res.once('close', () => finish('client'));

  return {
    signal: controller.signal,
    ended,
    send(id, event, data) {
      if (controller.signal.aborted) return false;
      res.write(message(id, event, data));
      if (id !== undefined) lastId = id;
      return checkBuffer();
    },
    async drained() {
      if (controller.signal.aborted || !res.writableNeedDrain) return;
      const signal = controller.signal;
      const outcome = await new Promise<'drained' | 'timeout' | 'ended'>((resolve) => {
        const done = (value: 'drained' | 'timeout' | 'ended') => {
          clearTimeout(timer);
          res.off('drain', onDrain);
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        };
        const onDrain = () => done('drained');
        const onAbort = () => done('ended');
        const timer = setTimeout(() => done('timeout'), options.drainTimeoutMs);
        res.on('drain', onDrain);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (outcome === 'timeout') {
        overflow(
          `the client did not keep up: its buffer did not drain within ${options.drainTimeoutMs} ms`,
        );
      }
    },
    fail(code, text) {
      finish('error', message(undefined, 'error', { code, message: text }));
    },
    end() {
      finish('server');
    },
  };
}

/** One SSE message. Data is JSON on one line, so it never contains a line break. */
function message(id: string | undefined, event: string, data: unknown): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
