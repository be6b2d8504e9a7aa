/**
 * The live event streams of the API, as server-sent events:
 *
 * - `GET /api/v1/events`: every event of the log from now on. `id:` is the event's global
 *   position (`formatPosition`, `<transaction id>:<position>`); with `Last-Event-ID` the stream
 *   resumes right after that position.
 * - `GET /api/v1/releases/{id}/events`: one release's stream, first its history, then live. `id:`
 *   is the event's stream version (1, 2, …); with `Last-Event-ID: <version>` the stream resumes at
 *   the next version.
 *
 * Each message is `event: <event type>` with `data:` the JSON of
 * `{ streamId, version, position, type, data, metadata: { actor? }, recordedAt }`.
 *
 * Live events come from a non-durable subscription to the log, stopped when the client leaves.
 * A resumed stream neither loses nor repeats an event: the global stream resumes from the
 * position itself; the release stream finds the log's head before it reads the history, follows
 * the log from that head (no event of the stream appended after the history read can be at or
 * before it, see `findLogHead`), and drops what the history already sent by stream version
 * (a stream's versions are in global order).
 */
import type { ServerResponse } from 'node:http';
import { AviaryError, ErrorCode, isAviaryError } from '@aviary/core';
import {
  type CorruptEvent,
  type EventStore,
  formatPosition,
  type GlobalPosition,
  parsePosition,
  type RecordedEvent,
} from '@aviary/event-store';
import { badRequest } from './http-errors.ts';
import { findLogHead } from './log-head.ts';
import { openSse, type SseOptions, type SseWriter } from './sse.ts';

/** What a message's `data:` holds. */
export interface StreamedEvent {
  readonly streamId: string;
  readonly version: number;
  /** The global position (`formatPosition`). */
  readonly position: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly metadata: { readonly actor?: string };
  /** RFC 3339. */
  readonly recordedAt: string;
}

export interface EventStreamLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface EventStreamContext {
  readonly store: EventStore;
  readonly sse: SseOptions;
  readonly logger: EventStreamLogger;
  /** Called with every stream opened; the server ends them at close. */
  readonly opened: (writer: SseWriter) => void;
}

/** Events per `readStream` call while a release's history is sent. */
const HISTORY_PAGE = 500n;

export function streamedEvent(event: RecordedEvent): StreamedEvent {
  return {
    streamId: event.streamId,
    version: Number(event.streamVersion),
    position: formatPosition(event.position),
    type: event.type,
    data: event.data,
    metadata: event.metadata.actor === undefined ? {} : { actor: event.metadata.actor },
    recordedAt: event.recordedAt.toISOString(),
  };
}

/** `GET /api/v1/events`: every event of the log from now on, or after `Last-Event-ID`. */
export async function streamLog(
  res: ServerResponse,
  lastEventId: string | undefined,
  context: EventStreamContext,
): Promise<void> {
  let from: GlobalPosition;
  if (lastEventId !== undefined) {
    try {
      from = parsePosition(lastEventId.trim());
    } catch {
      throw badRequest(
        'Last-Event-ID',
        `must be a position "<transaction id>:<position>" as sent in id: (got ${JSON.stringify(lastEventId.slice(0, 64))})`,
      );
    }
  } else {
    from = await findLogHead(context.store, clientGone(res));
  }
  const writer = openSse(res, context.sse);
  context.opened(writer);
  await follow(context, writer, from, {
    accept: () => true,
    idOf: (event) => formatPosition(event.position),
  });
}

/**
 * `GET /api/v1/releases/{id}/events`: the stream `release-<id>` from its first version (or after
 * `Last-Event-ID`), then live. 404 when the release has no events; 400 when `Last-Event-ID` is
 * beyond its last event (an empty history is fine: the stream goes on live).
 */
export async function streamRelease(
  res: ServerResponse,
  releaseId: string,
  lastEventId: string | undefined,
  context: EventStreamContext,
): Promise<void> {
  const streamId = `release-${releaseId}`;
  let after = 0n;
  if (lastEventId !== undefined) {
    const text = lastEventId.trim();
    if (!/^\d{1,18}$/.test(text)) {
      throw badRequest(
        'Last-Event-ID',
        `must be a stream version (a whole number) as sent in id: (got ${JSON.stringify(lastEventId.slice(0, 64))})`,
      );
    }
    after = BigInt(text);
  }
  const signal = clientGone(res);
  const version = await context.store.streamVersion(streamId, signal);
  if (version === undefined) {
    throw new AviaryError(ErrorCode.NotFound, `release ${releaseId} not found (it has no events)`);
  }
  if (after > version) {
    throw badRequest(
      'Last-Event-ID',
      `version ${after} is beyond the last event of release ${releaseId} (version ${version})`,
    );
  }
  // The head first: every event of the stream appended after the history is read lies after it.
  const head = await findLogHead(context.store, signal);
  const first = await context.store.readStream(streamId, {
    fromVersion: after + 1n,
    toVersion: after + HISTORY_PAGE,
    signal,
  });

  const writer = openSse(res, context.sse);
  context.opened(writer);
  let lastVersion = after;
  try {
    let page = first;
    for (;;) {
      for (const event of page) {
        if (event.streamVersion <= lastVersion) continue;
        if (!writer.send(String(event.streamVersion), event.type, streamedEvent(event))) return;
        lastVersion = event.streamVersion;
      }
      await writer.drained();
      if (writer.signal.aborted || BigInt(page.length) < HISTORY_PAGE) break;
      page = await context.store.readStream(streamId, {
        fromVersion: lastVersion + 1n,
        toVersion: lastVersion + HISTORY_PAGE,
        signal: writer.signal,
      });
    }
  } catch (error) {
    if (writer.signal.aborted) return;
    context.logger.error({ err: error, streamId }, 'reading a release history for an event stream');
    writer.fail(
      isAviaryError(error) ? error.code : 'INTERNAL',
      `reading the history of release ${releaseId} failed; reconnect with Last-Event-ID ${lastVersion}`,
    );
    return;
  }
  if (writer.signal.aborted) return;
  await follow(context, writer, head, {
    accept: (event) => {
      if (event.streamId !== streamId || event.streamVersion <= lastVersion) return false;
      lastVersion = event.streamVersion;
      return true;
    },
    acceptCorrupt: (corrupt) => corrupt.streamId === streamId,
    idOf: (event) => String(event.streamVersion),
  });
}

/** Follows the log from `from` into the stream until the stream ends. */
async function follow(
  context: EventStreamContext,
  writer: SseWriter,
  from: GlobalPosition,
  options: {
    readonly accept: (event: RecordedEvent) => boolean;
    readonly acceptCorrupt?: (corrupt: CorruptEvent) => boolean;
    readonly idOf: (event: RecordedEvent) => string;
  },
): Promise<void> {
  const subscription = context.store.subscribe({
    from,
    signal: writer.signal,
    handler: async (events) => {
      for (const event of events) {
        if (!options.accept(event)) continue;
        if (!writer.send(options.idOf(event), event.type, streamedEvent(event))) return;
      }
      await writer.drained();
    },
    onCorrupt: (corrupt) => {
      context.logger.warn(
        {
          position: formatPosition(corrupt.position),
          streamId: corrupt.streamId,
          type: corrupt.type,
          reason: corrupt.reason,
        },
        'corrupt event passed over by an event stream',
      );
      if (options.acceptCorrupt && !options.acceptCorrupt(corrupt)) return;
      // Without an id: a resume never starts from a message sent out of order.
      writer.send(undefined, 'corrupt', {
        streamId: corrupt.streamId,
        version: Number(corrupt.streamVersion),
        position: formatPosition(corrupt.position),
        type: corrupt.type,
        reason: corrupt.reason,
      });
    },
    onError: (error, attempt) =>
      context.logger.warn({ err: error, attempt }, 'event stream read failed; retrying'),
  });
  await writer.ended;
  await subscription.stop();
}

/** Aborted when the client closes the connection before the stream opens. */
function clientGone(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  return controller.signal;
}
