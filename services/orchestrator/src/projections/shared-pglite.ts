/**
 * One PGlite instance shared by several kysely instances (the event store's and the
 * projections').
 *
 * PGlite is one PostgreSQL session. kysely's PGlite dialect sends `begin`, the statements and
 * `commit` as separate queries, serialised per kysely instance only: a statement of another
 * instance sent meanwhile would run inside the open transaction (and be undone by its rollback,
 * or commit it half-way). `sharePGlite` hands out views of the instance that take a session lock:
 * a view holds it for one statement, or from the statement that opens a transaction until the one
 * that ends it (PGlite says which: `isInTransaction()`); the other views wait meanwhile.
 */
import type { PGlite, Transaction } from '@electric-sql/pglite';

export interface SharedPGliteViewOptions {
  /** Whether `close()` through this view closes the instance (default false: a no-op). */
  readonly closes?: boolean;
}

export interface SharedPGlite {
  readonly pglite: PGlite;
  /** A view for one user (one kysely instance). */
  view(options?: SharedPGliteViewOptions): PGlite;
}

/** The session lock: at most one view talks to the session, or holds its open transaction. */
class SessionLock {
  #holder: symbol | undefined;
  readonly #queue: { readonly owner: symbol; readonly resolve: () => void }[] = [];

  holds(owner: symbol): boolean {
    return this.#holder === owner;
  }

  async acquire(owner: symbol): Promise<void> {
    if (this.#holder === owner) return;
    if (this.#holder === undefined) {
      this.#holder = owner;
      return;
    }
    // Handed over by `release`, which makes the waiter the holder before it resumes.
    await new Promise<void>((resolve) => this.#queue.push({ owner, resolve }));
  }

  release(owner: symbol): void {
    if (this.#holder !== owner) return;
    const next = this.#queue.shift();
    this.#holder = next?.owner;
    next?.resolve();
  }
}

export function sharePGlite(pglite: PGlite): SharedPGlite {
  const lock = new SessionLock();

  const view = (options: SharedPGliteViewOptions = {}): PGlite => {
    const owner = Symbol('pglite view');

    /** Runs one call under the lock; keeps the lock while it left a transaction open. */
    const guarded = async <T>(call: () => Promise<T>): Promise<T> => {
      await lock.acquire(owner);
      try {
        return await call();
      } finally {
        if (pglite.closed || !pglite.isInTransaction()) lock.release(owner);
      }
    };
    /**
     * Runs a self-contained call (PGlite's own `transaction`, `listen`) under the lock as a
     * caller of its own, so that it never overlaps this view's statements either.
     */
    const exclusive = async <T>(call: () => Promise<T>): Promise<T> => {
      const caller = Symbol('pglite call');
      await lock.acquire(caller);
      try {
        return await call();
      } finally {
        lock.release(caller);
      }
    };

    const overrides: Record<PropertyKey, unknown> = {
      query: (text: string, params?: unknown[], queryOptions?: object) =>
        guarded(() => pglite.query(text, params, queryOptions)),
      exec: (text: string, queryOptions?: object) => guarded(() => pglite.exec(text, queryOptions)),
      sql: (strings: TemplateStringsArray, ...params: unknown[]) =>
        guarded(() => pglite.sql(strings, ...params)),
      transaction: <T>(callback: (tx: Transaction) => Promise<T>) =>
        exclusive(() => pglite.transaction(callback)),
      listen: async (channel: string, callback: (payload: string) => void) => {
        const unlisten = await exclusive(() => pglite.listen(channel, callback));
        return () => exclusive(() => unlisten());
      },
      unlisten: (channel: string, callback?: (payload: string) => void) =>
        exclusive(() => pglite.unlisten(channel, callback)),
      close: async () => {
        if (options.closes === true && !pglite.closed) await pglite.close();
      },
    };

    return new Proxy(pglite, {
      get(target, property) {
        if (Object.hasOwn(overrides, property)) return overrides[property];
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };

  return { pglite, view };
}
