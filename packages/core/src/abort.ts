import { AviaryError, ErrorCode } from './errors.ts';

/** The error for an operation cancelled through its AbortSignal; the signal's reason is the cause. */
export function abortedError(signal: AbortSignal, what: string): AviaryError {
  return new AviaryError(ErrorCode.Aborted, `${what} aborted`, { cause: signal.reason });
}

/** Throws `ABORTED` when the signal has aborted; `what` names the operation in the message. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw abortedError(signal, what);
}
