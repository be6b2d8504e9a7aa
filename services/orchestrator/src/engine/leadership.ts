/**
 * Leadership: one orchestrator decides at a time (ARCHITECTURE.md, "Scale and failure").
 *
 * The leader holds a session-level PostgreSQL advisory lock on a dedicated connection. Standby
 * replicas try to take it every `retryMs`; when the leader dies (`kill -9`, a lost network), its
 * session ends, PostgreSQL releases the lock, and a standby takes over after recovering every
 * release from the log. If the leader's own connection fails it can no longer know that it leads:
 * `onLost` is called and the process must stop deciding (the orchestrator exits, and its
 * supervisor restarts it as a standby). Optimistic concurrency on every append stays the last
 * guard: a deposed leader's late append fails its expected version.
 *
 * All applications share one lock: replicas are hot standbys. Sharding applications across
 * replicas (a lock per application) is the scale-out path, not done yet (docs/orchestrator.md).
 */
import pg from 'pg';

/** Advisory lock key: two int4, `aviary` and `orchestrator-leader`. */
const LOCK_CLASS = 0x61766961; // 'avia'
const LOCK_OBJECT = 1;

export interface Leadership {
  /** Resolves once this process leads (never, if the signal aborts first: rejects). */
  readonly acquired: Promise<void>;
  readonly leading: boolean;
  release(): Promise<void>;
}

export interface LeadershipOptions {
  readonly connectionString: string;
  readonly retryMs?: number;
  readonly onLost: (error: Error) => void;
  readonly onWaiting?: () => void;
  readonly signal?: AbortSignal;
}

export function acquireLeadership(options: LeadershipOptions): Leadership {
  const retryMs = options.retryMs ?? 1000;
  let client: pg.Client | undefined;
  let leading = false;
  let released = false;

  async function attempt(): Promise<boolean> {
    if (client === undefined) {
      const c = new pg.Client({
        connectionString: options.connectionString,
        application_name: 'aviary-orchestrator-leader',
        keepAlive: true,
      });
      c.on('error', (error) => {
        if (leading && !released) {
          leading = false;
          options.onLost(error);
        }
        if (client === c) client = undefined;
      });
      c.on('end', () => {
        if (leading && !released) {
          leading = false;
          options.onLost(new Error('the leader’s database session ended'));
        }
        if (client === c) client = undefined;
      });
      await c.connect();
      client = c;
    }
    const result = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1, $2) AS locked',
      [LOCK_CLASS, LOCK_OBJECT],
    );
    return result.rows[0]?.locked === true;
  }

  const acquired = (async () => {
    let warned = false;
    for (;;) {
      if (options.signal?.aborted) throw options.signal.reason;
      try {
        if (await attempt()) {
          leading = true;
          return;
        }
        if (!warned) options.onWaiting?.();
        warned = true;
      } catch {
        // Not reachable yet: try again.
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();

  return {
    acquired,
    get leading() {
      return leading;
    },
    async release() {
      released = true;
      leading = false;
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}
