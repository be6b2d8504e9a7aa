import { AviaryError, abortedError, ErrorCode, throwIfAborted } from '@aviary/core';
import { JetStreamApiError } from '@nats-io/jetstream';

export { abortedError, throwIfAborted };

/**
 * Starts `operation` unless `signal` is already aborted, and rejects with ABORTED as soon as it
 * aborts. An operation under way may still complete on the server (a publish may be stored):
 * callers retry with the same message id.
 */
export async function abortable<T>(
  start: () => Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  if (signal === undefined) return start();
  throwIfAborted(signal, what);
  const operation = start();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortedError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([operation, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Wraps a NATS failure in an AviaryError with the original as `cause`: a refusal by the JetStream
 * API (bad configuration, overlapping subjects, …) with `refusedCode`, anything else (no
 * responders, time-out, closed connection) as UNAVAILABLE.
 */
export function wrapNatsError(
  error: unknown,
  message: string,
  refusedCode: typeof ErrorCode.Config | typeof ErrorCode.Unavailable = ErrorCode.Unavailable,
): AviaryError {
  if (error instanceof AviaryError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof JetStreamApiError) {
    return new AviaryError(refusedCode, `${message}: ${detail}`, { cause: error });
  }
  return new AviaryError(ErrorCode.Unavailable, `${message}: ${detail}`, { cause: error });
}
