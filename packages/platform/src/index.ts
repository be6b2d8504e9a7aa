/** zod, for services' configuration schemas, so that they need no direct dependency on it. */
export { z } from 'zod';
export {
  ConfigError,
  configEnvVarNames,
  configFields,
  type Env,
  envVarName,
  type LoadConfigOptions,
  loadConfig,
  parseDurationMs,
  serviceConfigFields,
} from './config.ts';
export {
  DEFAULT_STOP_TIMEOUT_MS,
  loadConfigOrExit,
  type RunServiceOptions,
  runService,
  type ServiceContext,
  type Stoppable,
} from './lifecycle.ts';
export { currentLogFields, withLogFields } from './log-context.ts';
export {
  createLogger,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  LogLevel,
  REDACTED,
  SECRET_KEYS,
} from './logger.ts';
export {
  Counter,
  collectProcessMetrics,
  Gauge,
  Histogram,
  type MetricsServer,
  type MetricsSettings,
  metricsOf,
  metricsRegistry,
  metricsSettingsFromEnv,
  Registry,
  type StartMetricsServerOptions,
  startMetricsServer,
} from './metrics.ts';
export { redactUrl, redactUrlsInText } from './redact-url.ts';
export {
  activeTraceIds,
  isTracingEnabled,
  type StartTelemetryOptions,
  startTelemetry,
  type Telemetry,
  type TelemetrySettings,
  TRACER_NAME,
  telemetrySettingsFromEnv,
  tracer,
} from './telemetry.ts';
