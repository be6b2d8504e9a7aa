import { AviaryError, ErrorCode, ValidationError, type ValidationIssue } from '@aviary/core';
import { type JetStreamClient, type JetStreamPublishOptions, PubHeaders } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { abortable } from './errors.ts';
import {
  extractTraceContext,
  hasTraceContext,
  injectTraceHeaders,
  messagingAttributes,
  SpanKinds,
  subjectTemplate,
  withSpan,
} from './tracing.ts';

/** W3C trace context header names, passed through unchanged. */
export const TraceHeader = {
  TraceParent: 'traceparent',
  TraceState: 'tracestate',
} as const;

export interface PublishOptions {
  /**
   * The message's unique id, sent as `Nats-Msg-Id`: JetStream stores a message once per id within
   * the stream's duplicate window. The outbox uses its entry id, so a retry is not a second copy.
   */
  readonly msgId: string;
  /** Extra headers, e.g. `traceparent` and `tracestate`. `Nats-*` headers are reserved. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Time to wait for the stream's acknowledgement; the connection's API timeout by default. */
  readonly timeoutMs?: number;
  /** Fail unless the subject is stored by this stream (`Nats-Expected-Stream`). */
  readonly expectedStream?: string;
}

/** JetStream's acknowledgement: where the message is stored, and whether it was a duplicate. */
export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  /** True when a message with the same id was already stored; `seq` is then that message's. */
  readonly duplicate: boolean;
}

export interface JetStreamPublisher {
  /**
   * Publishes `payload` to `subject` and waits until a stream has stored it. Throws
   * ValidationError for a bad id or header, UNAVAILABLE when no stream takes the subject or no
   * acknowledgement arrives (the message may still have been stored: retry with the same
   * `msgId`), ABORTED when `signal` aborts first.
   */
  publish(subject: string, payload: Uint8Array, options: PublishOptions): Promise<PublishAck>;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * While tracing is on, each publish is a `publish` span, child of the trace context already in
 * `options.headers` (the outbox stores the decision's) or else of the active span, and the
 * message carries the publish span's context (`traceparent`, `tracestate`).
 */
export function createJetStreamPublisher(js: JetStreamClient): JetStreamPublisher {
  const send = async (
    subject: string,
    payload: Uint8Array,
    options: PublishOptions,
    extraHeaders: Readonly<Record<string, string>> | undefined,
  ): Promise<PublishAck> => {
    const headers = natsHeaders();
    for (const [name, value] of Object.entries(extraHeaders ?? {})) headers.set(name, value);
    const publishOptions: Partial<JetStreamPublishOptions> = {
      msgID: options.msgId,
      headers,
    };
    if (options.timeoutMs !== undefined) publishOptions.timeout = options.timeoutMs;
    if (options.expectedStream !== undefined) {
      publishOptions.expect = { streamName: options.expectedStream };
    }
    try {
      const ack = await abortable(
        () => js.publish(subject, payload, publishOptions),
        options.signal,
        `publishing to ${subject}`,
      );
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      throw publishError(error, subject, options);
    }
  };
  return {
    async publish(subject, payload, options) {
      const issues = validate(subject, options);
      if (issues.length > 0) throw new ValidationError('invalid publish', issues);
      return withSpan(
        `publish ${subjectTemplate(subject)}`,
        {
          kind: SpanKinds.Producer,
          ...(hasTraceContext(options.headers)
            ? { parent: extractTraceContext(options.headers) }
            : {}),
          attributes: messagingAttributes(subject, 'publish', {
            'messaging.message.id': options.msgId,
          }),
        },
        async (span) => {
          const ack = await send(subject, payload, options, injectTraceHeaders(options.headers));
          span?.setAttributes({
            'messaging.nats.stream': ack.stream,
            'messaging.nats.sequence': ack.seq,
            'messaging.nats.duplicate': ack.duplicate,
          });
          return ack;
        },
      );
    },
  };
}

function validate(subject: string, options: PublishOptions): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (subject === '' || /[\s*>]/.test(subject) || subject.split('.').includes('')) {
    issues.push({
      path: 'subject',
      message: `${JSON.stringify(subject)} is not a publishable subject`,
    });
  }
  if (options.msgId.trim() === '' || /[\r\n]/.test(options.msgId)) {
    issues.push({ path: 'msgId', message: 'must be a non-empty single-line string' });
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (!HEADER_NAME.test(name)) {
      issues.push({ path: `headers.${name}`, message: 'is not a valid header name' });
    } else if (name.toLowerCase().startsWith('nats-')) {
      issues.push({
        path: `headers.${name}`,
        message: 'is reserved for NATS: use msgId and expectedStream instead',
      });
    }
    if (/[\r\n]/.test(value)) {
      issues.push({ path: `headers.${name}`, message: 'must be a single line' });
    }
  }
  return issues;
}

function publishError(error: unknown, subject: string, options: PublishOptions): AviaryError {
  if (error instanceof AviaryError) return error;
  const name = error instanceof Error ? error.name : '';
  const detail = error instanceof Error ? error.message : String(error);
  const id = `message ${options.msgId} to ${subject}`;
  if (name === 'JetStreamNotEnabled' || isNoResponders(error)) {
    return new AviaryError(
      ErrorCode.Unavailable,
      `cannot publish ${id}: no stream takes this subject (no responders): create the streams ` +
        'first (ensureStreams) and check that JetStream is enabled',
      { cause: error },
    );
  }
  if (name === 'TimeoutError') {
    return new AviaryError(
      ErrorCode.Unavailable,
      `no acknowledgement for ${id} in time: it may have been stored, retry with the same id`,
      { cause: error },
    );
  }
  return new AviaryError(ErrorCode.Unavailable, `cannot publish ${id}: ${detail}`, {
    cause: error,
  });
}

function isNoResponders(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'NoRespondersError' ||
      (error.cause instanceof Error && error.cause.name === 'NoRespondersError'))
  );
}

/** Header name JetStream de-duplicates on (`Nats-Msg-Id`). */
export const MSG_ID_HEADER: string = PubHeaders.MsgIdHdr;
