/**
 * Correlation ids for log lines: fields set for a piece of asynchronous work (handling one
 * command, one message, one request) that every line logged during it carries, whoever logs it
 * (`releaseId`, `cluster`, `commandId`, `requestId`). The logger (`logger.ts`) adds them, with the
 * active span's `traceId`/`spanId` when tracing is on; fields given to the log call itself win.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const storage = new AsyncLocalStorage<Readonly<Record<string, unknown>>>();

/** Runs `work` with `fields` (added to those already set) on every log line it writes. */
export function withLogFields<T>(fields: Readonly<Record<string, unknown>>, work: () => T): T {
  const current = storage.getStore();
  return storage.run(current === undefined ? fields : { ...current, ...fields }, work);
}

/** The fields set for the work in progress, if any. */
export function currentLogFields(): Readonly<Record<string, unknown>> | undefined {
  return storage.getStore();
}
