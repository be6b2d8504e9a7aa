/**
 * OpenTelemetry tracing of an Aviary process: off by default, so that a service that nobody
 * traces pays nothing (no tracer provider, no propagator: spans are the API's no-ops and no
 * message gets a `traceparent`).
 *
 * On when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the
 * standard variables every OTLP exporter reads, or when `AVIARY_OTEL_ENABLED=true` (then the
 * exporter's default, `http://localhost:4318`). `AVIARY_OTEL_ENABLED=false` and
 * `OTEL_SDK_DISABLED=true` force it off. Spans go through the OTLP/HTTP exporter in batches; the
 * service name is `OTEL_SERVICE_NAME` or `aviary-<service>`. Only one set-up is active per process
 * (`aviary dev` runs every service in one): a second start shares the first.
 *
 * `runService` starts it before the service and stops it after every other clean-up, so the spans
 * of a stopping service are exported. Context crosses NATS in W3C `traceparent`/`tracestate`
 * headers (`@aviary/messaging`'s `injectTraceHeaders`/`extractTraceContext`).
 */
import { context, propagation, type Span, type Tracer, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Env } from './config.ts';

/** The instrumentation scope of every Aviary span. */
export const TRACER_NAME = '@aviary';

export interface TelemetrySettings {
  readonly enabled: boolean;
  /** `service.name` of the spans. */
  readonly serviceName: string;
  /** Where spans go (shown in logs); the exporter reads the `OTEL_EXPORTER_OTLP_*` variables itself. */
  readonly endpoint?: string;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Whether and how to trace, from the environment (see the module comment). */
export function telemetrySettingsFromEnv(
  service: string,
  env: Env = process.env,
): TelemetrySettings {
  const flag = env.AVIARY_OTEL_ENABLED?.trim().toLowerCase() ?? '';
  const endpoint =
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const disabled = TRUE_WORDS.has(env.OTEL_SDK_DISABLED?.trim().toLowerCase() ?? '');
  const enabled =
    !disabled && !FALSE_WORDS.has(flag) && (TRUE_WORDS.has(flag) || endpoint !== undefined);
  const serviceName = nonEmpty(env.OTEL_SERVICE_NAME) ?? `aviary-${service}`;
  return { enabled, serviceName, ...(endpoint === undefined ? {} : { endpoint }) };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

export interface StartTelemetryOptions {
  /** Short service name, e.g. `orchestrator`. */
  readonly service: string;
  readonly env?: Env;
  /** Span processors instead of the OTLP exporter (tests: an in-memory exporter); enables tracing. */
  readonly spanProcessors?: readonly SpanProcessor[];
  readonly logger?: { info(fields: object, msg: string): void };
}

export interface Telemetry {
  readonly enabled: boolean;
  /** Exports what is buffered and unregisters the SDK (tracing is off again). Idempotent. */
  stop(): Promise<void>;
}

let active: { sdk: NodeSDK; users: number } | undefined;

/** True while a tracing SDK is registered in this process. */
export function isTracingEnabled(): boolean {
  return active !== undefined;
}

/**
 * Starts tracing when the settings (or `spanProcessors`) say so; otherwise returns a handle that
 * does nothing. Safe to call more than once: later calls share the running SDK.
 */
export function startTelemetry(options: StartTelemetryOptions): Telemetry {
  const settings = telemetrySettingsFromEnv(options.service, options.env);
  if (options.spanProcessors === undefined && !settings.enabled) {
    return { enabled: false, stop: async () => {} };
  }
  if (active === undefined) {
    const sdk = new NodeSDK({
      serviceName: settings.serviceName,
      spanProcessors: [
        ...(options.spanProcessors ?? [
          new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }),
        ]),
      ],
      // Traces only: Aviary's metrics are Prometheus (`metrics.ts`), its logs pino.
      metricReaders: [],
      logRecordProcessors: [],
      instrumentations: [],
    });
    sdk.start();
    active = { sdk, users: 0 };
    options.logger?.info(
      { serviceName: settings.serviceName, endpoint: settings.endpoint ?? 'default' },
      'tracing on',
    );
  }
  const running = active;
  running.users += 1;
  let stopped = false;
  return {
    enabled: true,
    async stop() {
      if (stopped) return;
      stopped = true;
      running.users -= 1;
      if (running.users > 0 || active !== running) return;
      active = undefined;
      try {
        await running.sdk.shutdown();
      } finally {
        // NodeSDK leaves its globals registered; removing them makes tracing free again.
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/** Aviary's tracer: a no-op one while tracing is off. */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The active span's trace and span ids, for log lines; undefined when tracing is off or no span. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  if (active === undefined) return undefined;
  const span: Span | undefined = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const spanContext = span.spanContext();
  if (!trace.isSpanContextValid(spanContext)) return undefined;
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}
