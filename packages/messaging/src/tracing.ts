/**
 * Trace context across NATS: W3C `traceparent`/`tracestate` in message headers, written when a
 * message is published (or, for the outbox, when it is decided) and read when it is consumed, so
 * that one trace follows a decision from the orchestrator to an agent's Kubernetes call and back.
 *
 * Everything here is free while tracing is off (`@aviary/platform`'s `isTracingEnabled`): no
 * headers are added, no context is parsed, callbacks run as they are.
 *
 * Span names follow OpenTelemetry's messaging conventions with the cluster token of a subject
 * replaced by `{cluster}` (low cardinality): `publish aviary.v1.cluster.{cluster}.cmd`; the exact
 * subject is the `messaging.destination.name` attribute.
 */
import { isTracingEnabled, tracer, withLogFields } from '@aviary/platform';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';

/** Headers as NATS delivers them (`msg.headers`), or as a plain record (outbox rows, the bus). */
export type TraceCarrier =
  | Readonly<Record<string, string>>
  | { get(key: string): string; keys(): string[] };

const getter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) =>
    typeof carrier.keys === 'function' && typeof carrier.get === 'function'
      ? (carrier as { keys(): string[] }).keys()
      : Object.keys(carrier),
  get: (carrier, key) => {
    if (typeof carrier.get === 'function') {
      const value = (carrier as { get(key: string): string }).get(key);
      return value === '' ? undefined : value;
    }
    return (carrier as Readonly<Record<string, string>>)[key];
  },
};

/**
 * `headers` with the trace context of `ctx` (the active context by default) added; `headers`
 * itself, untouched, while tracing is off or outside any span.
 */
export function injectTraceHeaders(
  headers: Readonly<Record<string, string>> = {},
  ctx: Context = context.active(),
): Readonly<Record<string, string>> {
  if (!isTracingEnabled()) return headers;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier, {
    set: (target, key, value) => {
      target[key] = value;
    },
  });
  return Object.keys(carrier).length === 0 ? headers : { ...headers, ...carrier };
}

/** True when the headers carry a `traceparent`. */
export function hasTraceContext(headers: TraceCarrier | undefined): boolean {
  return headers !== undefined && getter.get(headers, 'traceparent') !== undefined;
}

/**
 * The context a received message continues: its `traceparent`, or a fresh root when it has none
 * (the consuming loop's own context is never the parent of a message's work).
 */
export function extractTraceContext(headers: TraceCarrier | undefined): Context {
  if (!isTracingEnabled() || headers === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, getter);
}

export const SpanKinds = {
  Internal: SpanKind.INTERNAL,
  Producer: SpanKind.PRODUCER,
  Consumer: SpanKind.CONSUMER,
  Client: SpanKind.CLIENT,
  /** A request served (the orchestrator's HTTP API). */
  Server: SpanKind.SERVER,
} as const;

export interface SpanOptions {
  readonly kind?: SpanKind;
  /** The parent; the active context by default. */
  readonly parent?: Context;
  readonly attributes?: Attributes;
}

/**
 * Runs `work` inside a new span (active for everything it awaits) and ends the span when it
 * settles; an error is recorded on the span and thrown on. While tracing is off, just `work()`.
 */
export async function withSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: Span | undefined) => Promise<T> | T,
): Promise<T> {
  if (!isTracingEnabled()) return work(undefined);
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
    async (span) => {
      try {
        return await work(span);
      } catch (error) {
        recordError(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * A span that starts and ends now (a message decided now and sent later, maybe by another
 * process) and `headers` with its context added; `headers` untouched while tracing is off.
 */
export function headersWithSpan(
  name: string,
  options: SpanOptions,
  headers: Readonly<Record<string, string>> = {},
): Readonly<Record<string, string>> {
  if (!isTracingEnabled()) return headers;
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
  );
  try {
    return injectTraceHeaders(headers, trace.setSpan(parent, span));
  } finally {
    span.end();
  }
}

/** Marks `span` failed with `error` (message only: never request bodies or headers). */
export function recordError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * Handles one received message in a `process` span continuing the message's trace, with the
 * correlation ids among `attributes` (and the cluster of a cluster subject) on every log line
 * written meanwhile (`withLogFields`). While tracing is off, only the log fields are set.
 */
export function consumeWithSpan<T>(
  subject: string,
  headers: TraceCarrier | undefined,
  attributes: Attributes,
  work: (span: Span | undefined) => Promise<T> | T,
): Promise<T> {
  const cluster = CLUSTER_OF_SUBJECT.exec(subject)?.[1];
  const all: Attributes =
    cluster === undefined || attributes['aviary.cluster'] !== undefined
      ? attributes
      : { ...attributes, 'aviary.cluster': cluster };
  return withLogFields(logFieldsOf(all), async () => {
    if (!isTracingEnabled()) return work(undefined);
    return withSpan(
      `process ${subjectTemplate(subject)}`,
      {
        kind: SpanKind.CONSUMER,
        parent: extractTraceContext(headers),
        attributes: messagingAttributes(subject, 'process', all),
      },
      work,
    );
  });
}

const CLUSTER_OF_SUBJECT = /\.v1\.cluster\.([^.]+)\./;

/** Span attributes that are correlation ids, and their log field names. */
const LOG_FIELDS: Readonly<Record<string, string>> = {
  'aviary.cluster': 'cluster',
  'aviary.release.id': 'releaseId',
  'aviary.command.id': 'commandId',
  'aviary.request.id': 'requestId',
};

/** The correlation ids among span attributes, as log fields (`releaseId`, `cluster`, …). */
export function logFieldsOf(attributes: Attributes): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [attribute, field] of Object.entries(LOG_FIELDS)) {
    const value = attributes[attribute];
    if (value !== undefined && value !== '') fields[field] = value;
  }
  return fields;
}

/** OpenTelemetry messaging attributes of a NATS message. */
export function messagingAttributes(
  subject: string,
  operation: 'create' | 'publish' | 'process',
  more: Attributes = {},
): Attributes {
  return {
    'messaging.system': 'nats',
    'messaging.operation.type': operation,
    'messaging.destination.name': subject,
    ...more,
  };
}

/** `aviary.v1.cluster.eu-1.cmd` → `aviary.v1.cluster.{cluster}.cmd`: a span name's destination. */
export function subjectTemplate(subject: string): string {
  return subject.replace(/^(.+\.v1\.cluster\.)[^.]+(\.|$)/, '$1{cluster}$2');
}
