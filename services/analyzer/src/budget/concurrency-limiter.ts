import { AviaryError, ErrorCode } from '@aviary/core';

/**
 * In-flight limit per Prometheus-compatible tenant (Prometheus, Thanos and Mimir limit
 * concurrency, not requests per hour): additive increase after each success, halving after a
 * 429 or 503 (AIMD), between 1 and `max`.
 */
export class ConcurrencyLimiter {
  readonly #max: number;
  #limit: number;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: { readonly max?: number; readonly initial?: number } = {}) {
    this.#max = Math.max(1, options.max ?? 10);
    this.#limit = Math.min(this.#max, Math.max(1, options.initial ?? this.#max));
  }

  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits for a slot; the returned function releases it exactly once. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    while (this.#inFlight >= this.#limit) {
      if (signal?.aborted)
        throw new AviaryError(ErrorCode.Aborted, 'waiting for a query slot aborted', {
          cause: signal.reason,
        });
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const index = this.#waiting.indexOf(wake);
          if (index >= 0) this.#waiting.splice(index, 1);
          reject(
            new AviaryError(ErrorCode.Aborted, 'waiting for a query slot aborted', {
              cause: signal?.reason,
            }),
          );
        };
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.#waiting.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      this.#wakeWaiters();
    };
  }

  /** Feeds back a response: a 429 or 503 halves the limit, a success raises it by one. */
  observe(status: number): void {
    if (status === 429 || status === 503) this.#limit = Math.max(1, Math.floor(this.#limit / 2));
    else if (status >= 200 && status < 300) this.#limit = Math.min(this.#max, this.#limit + 1);
    this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    let free = this.#limit - this.#inFlight;
    while (free-- > 0 && this.#waiting.length > 0) this.#waiting.shift()?.();
  }
}
