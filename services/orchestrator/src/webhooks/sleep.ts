import { abortedError } from '@aviary/core';

/** Waits `ms`; rejects with `ABORTED` (naming `what`) as soon as the signal aborts. */
export function abortableSleep(ms: number, signal: AbortSignal, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortedError(signal, what));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal, what));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
