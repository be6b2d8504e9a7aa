/**
 * Wakes waiting readers when events may have been appended: by this process after its own
 * commits, or by the database's notification for other processes' commits. A wait always ends
 * after its timeout too, so a lost notification only delays a reader (polling fallback).
 */
export class Wake {
  readonly #listeners = new Set<() => void>();
  #generation = 0;

  /** Counts notifications: a reader notes it before reading, then waits only if it is unchanged. */
  get generation(): number {
    return this.#generation;
  }

  notify(): void {
    this.#generation++;
    for (const listener of [...this.#listeners]) listener();
  }

  on(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves on the next notification, after `timeoutMs`, or when the signal aborts; at once if
   * a notification came since `sinceGeneration`.
   */
  wait(sinceGeneration: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.#generation !== sinceGeneration) return resolve();
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = this.on(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
