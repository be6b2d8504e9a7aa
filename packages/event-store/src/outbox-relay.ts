import type { StoreLogger } from './database.ts';
import type { OutboxMessage, OutboxStore } from './types.ts';

/**
 * Where the outbox publishes. The message id must reach the broker as its de-duplication id
 * (NATS `Nats-Msg-Id`), so that re-publishing after a crash stores nothing twice. Resolves once
 * the broker has stored the message (a JetStream PubAck), rejects otherwise.
 */
export interface OutboxPublisher {
  publish(message: OutboxMessage, signal: AbortSignal): Promise<void>;
}

export interface OutboxRelayOptions {
  readonly outbox: OutboxStore;
  readonly publisher: OutboxPublisher;
  readonly logger: StoreLogger;
  /** Messages read per round (default 100). */
  readonly batchSize?: number;
  /** How often to look for messages when no append wakes the relay (default 500 ms). */
  readonly pollIntervalMs?: number;
  /** First retry delay of a message that failed to publish; doubles up to 60 s (default 500 ms). */
  readonly retryBaseMs?: number;
  /** Published messages are deleted after this long (default one day). */
  readonly retainPublishedMs?: number;
}

/**
 * Drains the outbox to the broker, at least once: a message is marked published only after the
 * broker acknowledged it, so a crash between publish and mark publishes it again on restart,
 * and the broker's de-duplication by message id drops the copy. A message that fails is retried
 * with backoff while the others go on; later messages of the same subject wait for it, so that
 * one subject's messages are never reordered.
 */
export class OutboxRelay {
  readonly #options: OutboxRelayOptions;
  readonly #controller = new AbortController();
  #running: Promise<void> | undefined;
  #wakeGeneration = 0;
  #wakeUp: (() => void) | undefined;

  constructor(options: OutboxRelayOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#running) return;
    const off = this.#options.outbox.onAppended(() => {
      this.#wakeGeneration++;
      this.#wakeUp?.();
    });
    this.#running = this.#loop().finally(off);
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    this.#wakeUp?.();
    await this.#running;
  }

  /** Publishes what is pending now, once; returns how many messages were published. */
  async drainOnce(): Promise<number> {
    const { outbox, publisher, logger } = this.#options;
    const signal = this.#controller.signal;
    const pending = await outbox.pending(this.#options.batchSize ?? 100, signal);
    const published: bigint[] = [];
    const blockedSubjects = new Set<string>();
    for (const message of pending) {
      if (signal.aborted) break;
      if (blockedSubjects.has(message.subject)) continue;
      try {
        await publisher.publish(message, signal);
        published.push(message.position);
      } catch (error) {
        blockedSubjects.add(message.subject);
        const retryMs = Math.min(
          60_000,
          (this.#options.retryBaseMs ?? 500) * 2 ** Math.min(message.attempts, 10),
        );
        logger.warn(
          {
            err: error,
            messageId: message.id,
            subject: message.subject,
            attempts: message.attempts + 1,
            retryMs,
          },
          'outbox message not published; will retry',
        );
        await outbox.markFailed(message.position, errorText(error), retryMs);
      }
    }
    await outbox.markPublished(published);
    return published.length;
  }

  async #loop(): Promise<void> {
    const { logger } = this.#options;
    const signal = this.#controller.signal;
    let lastPrune = 0;
    while (!signal.aborted) {
      const generation = this.#wakeGeneration;
      let full = false;
      try {
        const count = await this.drainOnce();
        full = count >= (this.#options.batchSize ?? 100);
        if (Date.now() - lastPrune > 60_000) {
          lastPrune = Date.now();
          await this.#options.outbox.prunePublished(this.#options.retainPublishedMs ?? 86_400_000);
        }
      } catch (error) {
        if (signal.aborted) break;
        logger.warn({ err: error }, 'outbox relay round failed; retrying');
      }
      if (full || signal.aborted) continue;
      await new Promise<void>((resolve) => {
        if (generation !== this.#wakeGeneration) return resolve();
        const timer = setTimeout(done, this.#options.pollIntervalMs ?? 500);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wakeUp = done;
      });
      this.#wakeUp = undefined;
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
