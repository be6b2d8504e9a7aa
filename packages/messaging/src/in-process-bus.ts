import { ValidationError } from '@aviary/core';
import { isTracingEnabled } from '@aviary/platform';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { PublishAck, PublishOptions } from './publisher.ts';
import {
  extractTraceContext,
  hasTraceContext,
  injectTraceHeaders,
  messagingAttributes,
  SpanKinds,
  subjectTemplate,
  withSpan,
} from './tracing.ts';

/** A message as the in-process bus delivers it. */
export interface BusMessage {
  readonly subject: string;
  readonly seq: number;
  readonly msgId: string;
  readonly payload: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

export interface InProcessBusOptions {
  /** Publishes of an id seen within this window are dropped (JetStream's duplicate window). */
  readonly duplicateWindowMs?: number;
  /** Called when a subscriber's handler throws; the message is not re-delivered. */
  readonly onHandlerError?: (error: unknown, message: BusMessage) => void;
  /** Clock for the duplicate window (tests). */
  readonly now?: () => number;
}

/**
 * The bus of `aviary dev`, when no NATS server is given: the same publish contract as the
 * JetStream publisher (message ids de-duplicated within a window, an acknowledgement with a
 * sequence), delivering to subscribers in this process, in publish order, with NATS subject
 * wildcards (`*` one token, `>` the rest). It keeps nothing across restarts: the outbox in the
 * event log is what survives one.
 *
 * Trace context travels as on NATS (docs/observability.md): while tracing is on, a publish is a
 * `publish` span, child of the context already in `options.headers` (an outbox row's decision) or
 * else of the active span, and the delivered message's headers carry that span's `traceparent`;
 * subscribers run outside the publisher's context, as a NATS consumer would, so the trace they
 * continue is the one in the headers. While tracing is off, headers pass through untouched.
 */
export class InProcessBus {
  readonly #subscribers = new Set<{
    pattern: readonly string[];
    handler: (m: BusMessage) => unknown;
  }>();
  readonly #seen = new Map<string, { seq: number; at: number }>();
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #onHandlerError: (error: unknown, message: BusMessage) => void;
  #seq = 0;

  constructor(options: InProcessBusOptions = {}) {
    this.#windowMs = options.duplicateWindowMs ?? 120_000;
    this.#now = options.now ?? Date.now;
    this.#onHandlerError = options.onHandlerError ?? (() => {});
  }

  async publish(
    subject: string,
    payload: Uint8Array,
    options: PublishOptions,
  ): Promise<PublishAck> {
    const tokens = subjectTokens(subject, 'subject', false);
    if (typeof options.msgId !== 'string' || options.msgId.length === 0) {
      throw new ValidationError('invalid publish', [
        { path: 'msgId', message: 'must be a non-empty string' },
      ]);
    }
    if (!isTracingEnabled()) return this.#store(subject, tokens, payload, options, options.headers);
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
        const ack = await this.#store(
          subject,
          tokens,
          payload,
          options,
          injectTraceHeaders(options.headers),
        );
        span?.setAttributes({
          'messaging.nats.stream': ack.stream,
          'messaging.nats.sequence': ack.seq,
          'messaging.nats.duplicate': ack.duplicate,
        });
        return ack;
      },
    );
  }

  /** De-duplicates, numbers and delivers one message (with `headers` as it is to be sent). */
  async #store(
    subject: string,
    tokens: readonly string[],
    payload: Uint8Array,
    options: PublishOptions,
    headers: Readonly<Record<string, string>> | undefined,
  ): Promise<PublishAck> {
    const now = this.#now();
    this.#forgetBefore(now - this.#windowMs);
    const seen = this.#seen.get(options.msgId);
    if (seen) return { stream: 'in-process', seq: seen.seq, duplicate: true };
    const seq = ++this.#seq;
    this.#seen.set(options.msgId, { seq, at: now });
    const message: BusMessage = {
      subject,
      seq,
      msgId: options.msgId,
      payload,
      headers: { ...headers },
    };
    const deliver = async () => {
      for (const subscriber of this.#subscribers) {
        if (!matches(subscriber.pattern, tokens)) continue;
        try {
          await subscriber.handler(message);
        } catch (error) {
          this.#onHandlerError(error, message);
        }
      }
    };
    // A subscriber is not inside the publish: it continues the trace the headers carry.
    if (isTracingEnabled()) await context.with(ROOT_CONTEXT, deliver);
    else await deliver();
    return { stream: 'in-process', seq, duplicate: false };
  }

  /** Delivers every later message whose subject matches `filter`; returns unsubscribe. */
  subscribe(filter: string, handler: (message: BusMessage) => unknown): () => void {
    const subscriber = { pattern: subjectTokens(filter, 'filter', true), handler };
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  #forgetBefore(cutoff: number): void {
    for (const [id, entry] of this.#seen) {
      if (entry.at >= cutoff) break; // insertion order is time order
      this.#seen.delete(id);
    }
  }
}

function subjectTokens(subject: string, path: string, wildcards: boolean): readonly string[] {
  const tokens = typeof subject === 'string' ? subject.split('.') : [];
  const bad =
    tokens.length === 0 ||
    tokens.some(
      (t, i) =>
        t.length === 0 ||
        /\s/.test(t) ||
        (!wildcards && (t === '*' || t === '>')) ||
        (t.length > 1 && /[*>]/.test(t)) ||
        (t === '>' && i !== tokens.length - 1),
    );
  if (bad) {
    throw new ValidationError('invalid subject', [
      {
        path,
        message: `${JSON.stringify(subject)} is not a valid NATS ${wildcards ? 'subject filter' : 'subject'}`,
      },
    ]);
  }
  return tokens;
}

function matches(pattern: readonly string[], tokens: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return tokens.length > i;
    if (i >= tokens.length) return false;
    if (p !== '*' && p !== tokens[i]) return false;
  }
  return pattern.length === tokens.length;
}
