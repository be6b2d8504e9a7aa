import { AviaryError, ErrorCode } from '@aviary/core';

/** One append as the database function takes it (see migrations/0001-event-log.ts). */
export interface AppendRequest {
  readonly s: string;
  /** Expected version as text: -1 no stream, -2 any, -3 stream exists, >= 0 exact. */
  readonly e: string;
  readonly ev: readonly {
    readonly id: string;
    readonly type: string;
    readonly v: number;
    readonly data: unknown;
    readonly meta: unknown;
  }[];
  readonly ob: readonly {
    readonly id: string;
    readonly subject: string;
    readonly payload: string;
    readonly headers: Readonly<Record<string, string>>;
  }[];
}

export type AppendOutcome =
  | {
      readonly status: 'ok';
      readonly version: number;
      readonly first: number;
      readonly last: number;
      readonly tx: string;
    }
  | { readonly status: 'duplicate'; readonly version: number }
  | { readonly status: 'conflict'; readonly actual: number }
  | { readonly status: 'mismatch'; readonly found: number; readonly same: number };

/** Runs one transaction of appends; outcomes in request order. */
export type AppendBatchExecutor = (batch: readonly AppendRequest[]) => Promise<AppendOutcome[]>;

export interface GroupCommitOptions {
  /** Transactions in flight at once (default 4). The first appends go alone; later ones queue. */
  readonly maxConcurrentTransactions?: number;
  /** Events per transaction before a batch is cut (default 2,000). */
  readonly maxEventsPerTransaction?: number;
}

interface Pending {
  readonly request: AppendRequest;
  readonly resolve: (outcome: AppendOutcome) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
}

/** Error codes on which a failed batch is retried append by append. */
const RETRY_ALONE = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS_ALONE = 3;

/**
 * Group commit: appends submitted while transactions are in flight wait and then go together
 * in one transaction (one round trip, one WAL flush), so the commit cost is shared. A batch that
 * fails as a whole (a duplicate event id racing in from another stream, a deadlock) is retried
 * append by append, so that one bad append never fails the others.
 */
export class GroupCommitter {
  readonly #execute: AppendBatchExecutor;
  readonly #maxInFlight: number;
  readonly #maxEvents: number;
  readonly #queue: Pending[] = [];
  #inFlight = 0;
  #closed = false;

  constructor(execute: AppendBatchExecutor, options: GroupCommitOptions = {}) {
    this.#execute = execute;
    this.#maxInFlight = Math.max(1, options.maxConcurrentTransactions ?? 4);
    this.#maxEvents = Math.max(1, options.maxEventsPerTransaction ?? 2000);
  }

  submit(request: AppendRequest, signal?: AbortSignal): Promise<AppendOutcome> {
    if (this.#closed) {
      return Promise.reject(new AviaryError(ErrorCode.Aborted, 'the event store is closed'));
    }
    if (signal?.aborted) {
      return Promise.reject(
        new AviaryError(ErrorCode.Aborted, 'append aborted before it was sent', {
          cause: signal.reason,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject, signal });
      this.#pump();
    });
  }

  /** Rejects queued appends; in-flight transactions finish. */
  close(): void {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) {
      pending.reject(
        new AviaryError(ErrorCode.Aborted, 'the event store closed before the append was sent'),
      );
    }
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#takeBatch();
      if (batch.length === 0) continue;
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  #takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let events = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as Pending;
      if (batch.length > 0 && events + next.request.ev.length > this.#maxEvents) break;
      this.#queue.shift();
      if (next.signal?.aborted) {
        next.reject(
          new AviaryError(ErrorCode.Aborted, 'append aborted before it was sent', {
            cause: next.signal.reason,
          }),
        );
        continue;
      }
      batch.push(next);
      events += next.request.ev.length;
    }
    // Lock streams in one order in every transaction (stable: a stream's appends keep theirs).
    return batch.sort((a, b) =>
      a.request.s < b.request.s ? -1 : a.request.s > b.request.s ? 1 : 0,
    );
  }

  async #run(batch: Pending[]): Promise<void> {
    try {
      const outcomes = await this.#execute(batch.map((p) => p.request));
      batch.forEach((pending, i) => {
        const outcome = outcomes[i];
        if (outcome) pending.resolve(outcome);
        else
          pending.reject(
            new AviaryError(ErrorCode.Unavailable, 'the append function returned too few results'),
          );
      });
    } catch (error) {
      if (batch.length > 1 && RETRY_ALONE.has(sqlState(error))) {
        for (const pending of batch) await this.#runAlone(pending);
        return;
      }
      if (batch.length === 1 && batch[0]) return this.#runAlone(batch[0], error);
      for (const pending of batch) pending.reject(error);
    }
  }

  async #runAlone(pending: Pending, firstError?: unknown): Promise<void> {
    let error = firstError;
    for (let attempt = firstError ? 1 : 0; attempt < MAX_ATTEMPTS_ALONE; attempt++) {
      if (error !== undefined && sqlState(error) !== '40P01' && sqlState(error) !== '40001') break;
      try {
        const [outcome] = await this.#execute([pending.request]);
        if (outcome) return pending.resolve(outcome);
        error = new AviaryError(ErrorCode.Unavailable, 'the append function returned no result');
        break;
      } catch (e) {
        error = e;
      }
    }
    pending.reject(error);
  }
}

export function sqlState(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}
