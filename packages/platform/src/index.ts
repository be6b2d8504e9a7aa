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
export {
  createLogger,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  LogLevel,
  REDACTED,
  SECRET_KEYS,
} from './logger.ts';
export { redactUrl, redactUrlsInText } from './redact-url.ts';
