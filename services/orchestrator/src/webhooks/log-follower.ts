/**
 * The durable log subscription behind the webhook dispatcher and the notifier: one checkpointed
 * consumer, its optional start, batch size and polling, and a warning for each failed batch
 * (which the subscription retries).
 */
import type { EventStore, GlobalPosition, RecordedEvent, Subscription } from '@aviary/event-store';
import { errorText, type ServiceLogger } from './logger.ts';

export interface LogFollowerOptions {
  readonly store: Pick<EventStore, 'subscribe'>;
  readonly consumerId: string;
  readonly from?: GlobalPosition | undefined;
  readonly batchSize?: number | undefined;
  readonly pollIntervalMs?: number | undefined;
  readonly logger: ServiceLogger;
  /** What a batch is, for the warning: `webhook batch`, `notification batch`. */
  readonly what: string;
  readonly handler: (events: readonly RecordedEvent[], signal: AbortSignal) => Promise<void>;
}

export function followLog(options: LogFollowerOptions): Subscription {
  const { consumerId, from, batchSize, pollIntervalMs, logger, what } = options;
  return options.store.subscribe({
    consumerId,
    ...(from === undefined ? {} : { from }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
    handler: options.handler,
    onError: (error, attempt) =>
      logger.warn(
        { consumerId, attempt, err: errorText(error) },
        `${what} failed; the subscription retries it`,
      ),
  });
}
