/**
 * The cost of Aviary's tracing around a received message (`consumeWithSpan`: log fields, and with
 * tracing on a `process` span continuing the message's `traceparent`) plus the trace headers of
 * the reply (`injectTraceHeaders`), per message, on a handler that parses a small JSON command:
 *
 * - **tracing off** (the default): messages/s through the wrapper. Baseline, same run: the handler
 *   called directly, without the wrapper.
 * - **tracing on** (spans recorded, handed to a no-op processor, so export is not measured):
 *   messages/s through the wrapper, same baseline.
 */
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace';
import { consumeWithSpan, injectTraceHeaders } from '../packages/messaging/src/index.ts';
import { startTelemetry } from '../packages/platform/src/index.ts';
import { progress, report } from './report.ts';

const MESSAGES = 200_000;
const payload = new TextEncoder().encode(
  JSON.stringify({
    commandId: 'r1:eu-1:7',
    cluster: 'eu-1',
    setRoutes: { canaryWeightPercent: 20 },
  }),
);
const decoder = new TextDecoder();
const headers = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
let sink = 0;

async function handler(): Promise<void> {
  const command = JSON.parse(decoder.decode(payload)) as { commandId: string };
  sink += command.commandId.length + Object.keys(injectTraceHeaders({})).length;
}

async function rate(run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 10_000; i++) await run(); // warm-up
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) await run();
  return MESSAGES / ((performance.now() - started) / 1000);
}

const direct = () => handler();
const wrapped = () =>
  consumeWithSpan(
    'aviary.v1.cluster.eu-1.cmd',
    headers,
    { 'aviary.command.id': 'r1:eu-1:7' },
    handler,
  );

export async function run(): Promise<void> {
  progress('tracing: wrapper with tracing off');
  const baselineOff = await rate(direct);
  report(
    'tracing off: messages handled through consumeWithSpan',
    await rate(wrapped),
    'msg/s',
    baselineOff,
  );

  const telemetry = startTelemetry({
    service: 'bench',
    env: {},
    spanProcessors: [new NoopSpanProcessor()],
  });
  try {
    progress('tracing: wrapper with tracing on');
    const baselineOn = await rate(direct);
    report(
      'tracing on: messages handled through consumeWithSpan',
      await rate(wrapped),
      'msg/s',
      baselineOn,
    );
  } finally {
    await telemetry.stop();
  }
  if (sink === 0) throw new Error('the handler did not run');
}
