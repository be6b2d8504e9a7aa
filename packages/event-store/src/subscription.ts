import { AviaryError, ErrorCode } from '@aviary/core';
import type { StoreLogger } from './database.ts';
import { comparePositions, formatPosition, type GlobalPosition, START } from './position.ts';
import type { EventStore, ReadAllPage, Subscription, SubscriptionOptions } from './types.ts';
import type { Wake } from './wake.ts';

const MAX_BACKOFF_MS = 30_000;

/**
 * Catch-up then live: reads pages of the log in global order from the checkpoint, hands each
 * page to the handler, stores the checkpoint, and when it has caught up waits for a wake-up
 * (own appends, database notification) or the poll interval. It never moves past an event it
 * did not deliver: a failing handler or read is retried with backoff, forever, until stopped.
 */
export function startSubscription(
  store: Pick<EventStore, 'readAll' | 'checkpoints'>,
  wake: Wake,
  logger: StoreLogger,
  options: SubscriptionOptions,
): Subscription {
  const controller = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, controller.signal])
    : controller.signal;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const consumerId = options.consumerId;
  const onCorrupt =
    options.onCorrupt ??
    ((c) =>
      logger.error(
        {
          consumerId,
          position: formatPosition(c.position),
          streamId: c.streamId,
          streamVersion: c.streamVersion.toString(),
          eventId: c.eventId,
          type: c.type,
          reason: c.reason,
        },
        'corrupt event passed over by subscription',
      ));
  const onError =
    options.onError ??
    ((error: unknown, attempt: number) =>
      logger.warn({ consumerId, err: error, attempt }, 'subscription batch failed; retrying'));

  let position: GlobalPosition = options.from ?? START;
  let caughtUp = false;
  const waiters = new Set<{ target: GlobalPosition; resolve: () => void }>();
  const settleWaiters = () => {
    for (const w of waiters) {
      if (comparePositions(position, w.target) >= 0) {
        waiters.delete(w);
        w.resolve();
      }
    }
  };

  /** Runs `step` until it succeeds or the subscription stops; false when stopped. */
  const retrying = async (step: () => Promise<void>): Promise<boolean> => {
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await step();
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        onError(error, attempt);
        await sleep(Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(attempt, 10)), signal);
      }
    }
    return false;
  };

  const run = async () => {
    if (consumerId !== undefined) {
      const ok = await retrying(async () => {
        position = (await store.checkpoints.load(consumerId, signal)) ?? position;
      });
      if (!ok) return;
      // A waiter for a position the stored checkpoint already covers is done now.
      settleWaiters();
    }
    // While the handler works on one page, the next is already being read (catch-up only), so
    // that the database and the handler run side by side.
    // Each read notes the wake-up count first, so that an append committed between the read and
    // the wait that follows it is not slept through.
    let prefetched: { page: Promise<ReadAllPage>; generation: number } | undefined;
    const read = (after: GlobalPosition) => {
      const generation = wake.generation;
      const pending = store.readAll({ after, limit: batchSize, signal });
      pending.catch(() => {}); // awaited below, where a failure is retried
      return { page: pending, generation };
    };
    while (!signal.aborted) {
      let page: ReadAllPage | undefined;
      let generation = wake.generation;
      const ok = await retrying(async () => {
        const pending = prefetched ?? read(position);
        prefetched = undefined;
        generation = pending.generation;
        page = await pending.page;
      });
      if (!ok || !page) return;
      const current: ReadAllPage = page;
      if (current.hasMore) prefetched = read(current.position);
      if (current.events.length > 0) {
        const handled = await retrying(() => options.handler(current.events, signal));
        if (!handled) return;
      }
      for (const corrupt of current.corrupt) onCorrupt(corrupt);
      if (comparePositions(current.position, position) > 0) {
        position = current.position;
        if (consumerId !== undefined) {
          const stored = await retrying(() =>
            store.checkpoints.store(consumerId, position, signal),
          );
          if (!stored) return;
        }
        settleWaiters();
      }
      caughtUp = !current.hasMore;
      if (current.hasMore) continue;
      await wake.wait(generation, pollIntervalMs, signal);
    }
  };

  const done = run()
    .catch((error: unknown) =>
      logger.error({ consumerId, err: error }, 'subscription stopped by an unexpected error'),
    )
    .finally(() => {
      for (const w of waiters) w.resolve();
      waiters.clear();
    });

  return {
    get position() {
      return position;
    },
    get caughtUp() {
      return caughtUp;
    },
    done,
    waitFor(target, waitSignal) {
      if (comparePositions(position, target) >= 0) return Promise.resolve();
      if (signal.aborted) {
        return Promise.reject(new AviaryError(ErrorCode.Aborted, 'the subscription has stopped'));
      }
      return new Promise((resolve, reject) => {
        const waiter = { target, resolve };
        waiters.add(waiter);
        waitSignal?.addEventListener(
          'abort',
          () => {
            waiters.delete(waiter);
            reject(new AviaryError(ErrorCode.Aborted, 'waiting for the subscription was aborted'));
          },
          { once: true },
        );
      });
    },
    async stop() {
      controller.abort();
      await done;
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
