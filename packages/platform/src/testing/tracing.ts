import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import { startTelemetry } from '../telemetry.ts';

export interface TestTracing {
  /** Every span ended so far, in the order they ended (once their export, always async, is done). */
  spans(): Promise<ReadableSpan[]>;
  /** The ended span named `name`; throws when there is none or more than one. */
  span(name: string): Promise<ReadableSpan>;
  /** Forgets the spans ended so far. */
  reset(): void;
  /** Turns tracing off again. */
  stop(): Promise<void>;
}

/**
 * Tracing on for a test, with the SDK's in-memory exporter behind a simple (synchronous)
 * processor: a span is in `spans()` as soon as it has ended.
 */
export function startTestTracing(service = 'test'): TestTracing {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor({ exporter });
  const telemetry = startTelemetry({ service, env: {}, spanProcessors: [processor] });
  const spans = async () => {
    await processor.forceFlush();
    return exporter.getFinishedSpans();
  };
  return {
    spans,
    async span(name) {
      const all = await spans();
      const found = all.filter((s) => s.name === name);
      if (found.length !== 1) {
        const names = all.map((s) => s.name);
        throw new Error(
          `expected one span ${name}, found ${found.length} among ${names.join(', ')}`,
        );
      }
      return found[0] as ReadableSpan;
    },
    reset: () => exporter.reset(),
    stop: () => telemetry.stop(),
  };
}

/** The id of `span`'s parent span, or undefined for a root. */
export function parentSpanId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
