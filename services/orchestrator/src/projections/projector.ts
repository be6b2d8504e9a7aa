/**
 * Keeps the projections current: a durable subscription to the whole log (consumer
 * `projections`) hands each batch to `projectBatch`, which applies it in one transaction. The
 * subscription stores its checkpoint after each batch; a batch delivered again after a crash
 * changes nothing (each stream's projected version is kept with the rows).
 */

import { setTimeout as delay } from 'node:timers/promises';
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  type CorruptEvent,
  comparePositions,
  type EventStore,
  formatPosition,
  type GlobalPosition,
  START,
  type StoreLogger,
  type Subscription,
} from '@aviary/event-store';
import { sql } from 'kysely';
import { projectBatch } from './project-batch.ts';
import { PROJECTION_TABLES, type ProjectionDb } from './schema.ts';

export const PROJECTIONS_CONSUMER_ID = 'projections';

export interface ProjectorOptions {
  readonly store: EventStore;
  /** The projection tables' database (the log's database, migrated: `migrateProjections`). */
  readonly db: ProjectionDb;
  readonly logger?: StoreLogger;
  /** The subscription's durable consumer id (default `projections`). */
  readonly consumerId?: string;
  /** Events per batch (default 500). */
  readonly batchSize?: number;
  /** How often to look for new events without a wake-up (default 500 ms). */
  readonly pollIntervalMs?: number;
  /**
   * An event passed over: a stored row that cannot be decoded, or an event whose content the
   * projections cannot use. Default: logged as an error.
   */
  readonly onCorrupt?: (event: CorruptEvent) => void;
}

const silent: StoreLogger = { warn() {}, error() {}, debug() {} };

export class Projector {
  readonly #store: EventStore;
  readonly #db: ProjectionDb;
  readonly #logger: StoreLogger;
  readonly #consumerId: string;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #onCorrupt: (event: CorruptEvent) => void;
  #subscription: Subscription | undefined;
  /** Counts restarts: a wait that began under another subscription must look again. */
  #epoch = 0;
  /** Running, or restarting for a rebuild. */
  #running = false;
  #restarted: { promise: Promise<void>; resolve: () => void } = deferred();
  #rebuilding: Promise<void> | undefined;

  constructor(options: ProjectorOptions) {
    this.#store = options.store;
    this.#db = options.db;
    this.#logger = options.logger ?? silent;
    this.#consumerId = options.consumerId ?? PROJECTIONS_CONSUMER_ID;
    this.#batchSize = options.batchSize ?? 500;
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#onCorrupt =
      options.onCorrupt ??
      ((c) =>
        this.#logger.error(
          {
            consumerId: this.#consumerId,
            position: formatPosition(c.position),
            streamId: c.streamId,
            streamVersion: c.streamVersion.toString(),
            eventId: c.eventId,
            type: c.type,
            reason: c.reason,
          },
          'event passed over by the projections',
        ));
  }

  /** Whether the projector is running. */
  get running(): boolean {
    return this.#running;
  }

  /** The position of the last event projected (or passed over); START when not running. */
  get position(): GlobalPosition {
    return this.#subscription?.position ?? START;
  }

  /** True once the projections have read everything committed when they last looked. */
  get caughtUp(): boolean {
    return this.#subscription?.caughtUp ?? false;
  }

  /** Starts projecting from the stored checkpoint. Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#subscribe();
  }

  /**
   * Resolves once the projections include everything up to and including `position` (e.g. an
   * append's result). Rejects with ABORTED when the projector stops (or is not running) or the
   * signal aborts; a rebuild in between is waited through.
   */
  async waitFor(position: GlobalPosition, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) {
        throw new AviaryError(ErrorCode.Aborted, 'waiting for the projections was aborted');
      }
      if (!this.#running) {
        throw new AviaryError(ErrorCode.Aborted, 'the projector is not running');
      }
      const subscription = this.#subscription;
      if (subscription === undefined) {
        await raceSignal(this.#restarted.promise, signal);
        continue;
      }
      const outcome = await this.#watch(subscription, this.#epoch, position, signal);
      if (outcome === 'reached') return;
      if (outcome === 'ended') {
        throw new AviaryError(
          ErrorCode.Unavailable,
          `the projections stopped before ${formatPosition(position)}`,
        );
      }
      // Restarted (a rebuild) or stopped meanwhile: look again.
    }
  }

  /**
   * Waits on one subscription until it reaches `position`, is replaced, or ends. Its own
   * `waitFor` is not enough alone: a subscription that starts from a stored checkpoint at or past
   * the position never settles its waiters (it only does when it moves), so the position is also
   * looked at every poll interval.
   */
  async #watch(
    subscription: Subscription,
    epoch: number,
    position: GlobalPosition,
    signal: AbortSignal | undefined,
  ): Promise<'reached' | 'restarted' | 'ended'> {
    let settled = false;
    let failure: unknown;
    const waiting = subscription.waitFor(position, signal).then(
      () => {
        settled = true;
      },
      (error: unknown) => {
        settled = true;
        failure = error;
      },
    );
    for (;;) {
      if (epoch !== this.#epoch) return 'restarted';
      if (comparePositions(subscription.position, position) >= 0) return 'reached';
      if (settled) {
        if (signal?.aborted) throw failure;
        return 'ended';
      }
      const timer = new AbortController();
      await Promise.race([
        waiting,
        delay(this.#pollIntervalMs, undefined, { signal: timer.signal }).catch(() => {}),
      ]);
      timer.abort();
    }
  }

  /** Stops projecting; the checkpoint stays where the last finished batch left it. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#rebuilding?.catch(() => {});
    await this.#unsubscribe();
    // Waits parked for a restart see that the projector stopped.
    this.#restarted.resolve();
  }

  /**
   * Rebuilds the projections from the start of the log: stops, moves the checkpoint back to the
   * start, empties the projection tables, and starts again (also when it was not running).
   * Readers see the tables fill up again meanwhile. The checkpoint goes first, so that a crash
   * half-way leaves either the old rows with a replay ahead (which skips what they hold) or
   * empty tables with a replay ahead. Run it with every other process's projector on the same
   * database stopped: a running one would write into the emptied tables and could store its
   * checkpoint over the reset one.
   */
  async rebuild(): Promise<void> {
    if (this.#rebuilding !== undefined) return this.#rebuilding;
    this.#running = true;
    this.#rebuilding = (async () => {
      await this.#unsubscribe();
      try {
        await this.#store.checkpoints.store(this.#consumerId, START);
        await this.#db.transaction().execute(async (trx) => {
          await sql`TRUNCATE ${sql.join(PROJECTION_TABLES.map((t) => sql.table(t)))}`.execute(trx);
        });
        this.#logger.warn(
          { consumerId: this.#consumerId },
          'projections rebuilding from the start',
        );
      } finally {
        // Also after a failure: from whichever checkpoint is stored, the rows stay consistent.
        if (this.#running) this.#subscribe();
      }
    })();
    try {
      await this.#rebuilding;
    } finally {
      this.#rebuilding = undefined;
    }
  }

  #subscribe(): void {
    this.#subscription = this.#store.subscribe({
      consumerId: this.#consumerId,
      batchSize: this.#batchSize,
      pollIntervalMs: this.#pollIntervalMs,
      onCorrupt: this.#onCorrupt,
      onError: (error, attempt) =>
        this.#logger.warn(
          { consumerId: this.#consumerId, err: error, attempt },
          'projection batch failed; retrying',
        ),
      handler: async (events) => {
        const outcome = await projectBatch(this.#db, events);
        // Committed: a failing report must not get the batch delivered again.
        for (const event of outcome.unprojectable) {
          try {
            this.#onCorrupt(event);
          } catch (error) {
            this.#logger.warn({ err: error }, 'reporting a passed-over event failed');
          }
        }
        if (outcome.duplicates > 0) {
          this.#logger.debug(
            { consumerId: this.#consumerId, duplicates: outcome.duplicates },
            'projections passed over events projected before',
          );
        }
      },
    });
    const restarted = this.#restarted;
    this.#restarted = deferred();
    restarted.resolve();
  }

  async #unsubscribe(): Promise<void> {
    const subscription = this.#subscription;
    this.#subscription = undefined;
    this.#epoch += 1;
    await subscription?.stop();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function raceSignal(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () =>
      reject(new AviaryError(ErrorCode.Aborted, 'waiting for the projections was aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
