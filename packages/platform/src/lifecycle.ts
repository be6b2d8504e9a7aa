import type { z } from 'zod';
import { ConfigError, type Env, type LoadConfigOptions, loadConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { collectProcessMetrics, metricsSettingsFromEnv, startMetricsServer } from './metrics.ts';
import { startTelemetry } from './telemetry.ts';

/** Something running that can be stopped: a server, a consumer loop, a connection. */
export interface Stoppable {
  stop(): Promise<void>;
}

export interface ServiceContext {
  /**
   * Registers a clean-up for something just started. Clean-ups run in reverse order of
   * registration when the service stops, and also after a failed or cancelled start, so register
   * each resource right after it is opened.
   */
  onStop(name: string, stop: () => Promise<void> | void): void;
}

export interface RunServiceOptions {
  /** Logged with each lifecycle line. */
  readonly name: string;
  readonly logger: Logger;
  /**
   * Starts the service. `signal` aborts when a stop is requested while starting. The returned
   * `Stoppable`, if any, is stopped first, before the clean-ups registered with `onStop`.
   */
  readonly start: (signal: AbortSignal, context: ServiceContext) => Promise<Stoppable | undefined>;
  /** Time allowed for all clean-ups together; after it the process exits with 1. Default 10 s. */
  readonly stopTimeoutMs?: number;
  /**
   * Where tracing (`OTEL_EXPORTER_OTLP_ENDPOINT`, `AVIARY_OTEL_ENABLED`) and the `/metrics`
   * listener (`AVIARY_METRICS_PORT`) are configured: `process.env` by default; `false`: neither.
   * Both start before the service and stop after everything else (docs/observability.md).
   */
  readonly observability?: { readonly env?: Env } | false;
}

export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

interface StopRequest {
  readonly reason: string;
  readonly exitCode: number;
}

/**
 * Runs a service process: logs `starting`, calls `start`, logs `ready`; on SIGINT or SIGTERM logs
 * `stopping`, stops everything in reverse order within `stopTimeoutMs`, logs `stopped` and exits
 * with 0. A failed start, a failed or timed-out stop, an unhandled rejection or an uncaught
 * exception (both logged, then a graceful stop) exit with 1. A second signal exits at once with 1.
 * Never returns: it ends the process.
 */
export async function runService(options: RunServiceOptions): Promise<never> {
  const { logger, name } = options;
  const stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const startController = new AbortController();
  const cleanups: { name: string; stop: () => Promise<void> | void }[] = [];
  let stopRequest: StopRequest | undefined;
  let onStopRequest: ((request: StopRequest) => void) | undefined;
  const stopRequested = new Promise<StopRequest>((resolve) => {
    onStopRequest = resolve;
  });

  const requestStop = (request: StopRequest): void => {
    if (stopRequest !== undefined) {
      if (request.exitCode === 1 && stopRequest.exitCode === 0) stopRequest = request;
      return;
    }
    stopRequest = request;
    startController.abort(new Error(`stop requested: ${request.reason}`));
    onStopRequest?.(request);
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ service: name, signal }, 'second signal while stopping: exiting now');
      exit(logger, 1);
      return;
    }
    requestStop({ reason: signal, exitCode: 0 });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled rejection: stopping');
    requestStop({ reason: 'unhandled rejection', exitCode: 1 });
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception: stopping');
    requestStop({ reason: 'uncaught exception', exitCode: 1 });
  });

  // Keeps the process alive until stopped, even when the service holds no socket or timer itself.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  const startedAt = performance.now();
  logger.info({ name, pid: process.pid }, 'starting');
  const context: ServiceContext = {
    onStop: (what, stop) => {
      cleanups.push({ name: what, stop });
    },
  };

  let exitCode = 0;
  try {
    if (options.observability !== false) {
      await startObservability(name, logger, context, options.observability?.env ?? process.env);
    }
    const running = await options.start(startController.signal, context);
    if (running !== undefined) cleanups.push({ name, stop: () => running.stop() });
    if (stopRequest === undefined) {
      logger.info({ startMs: elapsedMs(startedAt) }, 'ready');
    }
  } catch (err) {
    if (stopRequest === undefined) {
      logger.error({ err }, 'start failed');
      exitCode = 1;
      requestStop({ reason: 'start failed', exitCode: 1 });
    } else {
      logger.info({ reason: stopRequest.reason }, 'start cancelled by a stop request');
    }
  }

  const request = await stopRequested;
  exitCode = Math.max(exitCode, request.exitCode);
  const stoppingAt = performance.now();
  logger.info({ reason: request.reason }, 'stopping');
  const outcome = await stopAll(cleanups.reverse(), stopTimeoutMs, logger);
  clearInterval(keepAlive);
  if (outcome !== 'ok') exitCode = 1;
  // A later unhandled rejection or exception during the stop raises the exit code too.
  exitCode = Math.max(exitCode, stopRequest?.exitCode ?? 0);
  logger.info({ exitCode, stopMs: elapsedMs(stoppingAt) }, 'stopped');
  return exit(logger, exitCode);
}

/** Tracing and the metrics listener, each registered to stop after the service's own parts. */
async function startObservability(
  name: string,
  logger: Logger,
  context: ServiceContext,
  env: Env,
): Promise<void> {
  const telemetry = startTelemetry({ service: name, env, logger });
  if (telemetry.enabled) context.onStop('tracing', () => telemetry.stop());
  const metrics = metricsSettingsFromEnv(env);
  if (metrics.port !== undefined) {
    collectProcessMetrics();
    const server = await startMetricsServer({ port: metrics.port, host: metrics.host, logger });
    context.onStop('metrics', () => server.stop());
    logger.info({ url: server.url }, 'metrics listening');
  }
}

async function stopAll(
  cleanups: readonly { name: string; stop: () => Promise<void> | void }[],
  timeoutMs: number,
  logger: Logger,
): Promise<'ok' | 'failed' | 'timed-out'> {
  let current = '';
  let failed = false;
  const run = async (): Promise<void> => {
    for (const cleanup of cleanups) {
      current = cleanup.name;
      try {
        await cleanup.stop();
        logger.debug({ component: cleanup.name }, 'component stopped');
      } catch (err) {
        failed = true;
        logger.error({ err, component: cleanup.name }, 'component failed to stop');
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), timeoutMs);
  });
  const result = await Promise.race([run().then(() => 'done' as const), timeout]);
  clearTimeout(timer);
  if (result === 'timed-out') {
    logger.error({ component: current, timeoutMs }, 'stop timed out');
    return 'timed-out';
  }
  return failed ? 'failed' : 'ok';
}

function elapsedMs(since: number): number {
  return Math.round(performance.now() - since);
}

function exit(logger: Logger, code: number): never {
  try {
    logger.flush();
  } catch {
    // Nothing more can be done about a log line that cannot be flushed while exiting.
  }
  process.exit(code);
}

/**
 * `loadConfig` for a service's `main.ts`: on a configuration problem it logs every issue (as a JSON
 * line on standard output, and as plain text on standard error for the person starting it) and
 * exits with 1.
 */
export function loadConfigOrExit<S extends z.ZodObject>(
  schema: S,
  options: LoadConfigOptions & { readonly service: string; readonly env?: Env },
): z.output<S> {
  try {
    return loadConfig(schema, options.env ?? process.env, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const logger = createLogger({ service: options.service, level: 'info' });
    logger.fatal({ issues: error.issues }, error.message);
    console.error(`${options.service}: ${error.message}`);
    return exit(logger, 1);
  }
}
