/**
 * The logging the webhook dispatcher and the notifier need: structured fields, then a message.
 * A pino `Logger` (from `@aviary/platform`'s `createLogger`) satisfies it.
 */
export interface ServiceLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Discards everything (the default where no logger is given). */
export const silentLogger: ServiceLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** An error as a short string for a log field or a message (never its stack). */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
