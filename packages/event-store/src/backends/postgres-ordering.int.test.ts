import { ConcurrencyError } from '@aviary/core';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tick } from '../event-store.contract.ts';
import { comparePositions, formatPosition, type GlobalPosition, START } from '../position.ts';
import type { EventStore, RecordedEvent } from '../types.ts';
import { openPostgresEventStore } from './postgres.ts';
import { openPostgresHarness } from './postgres-harness.ts';

type Harness = Awaited<ReturnType<typeof openPostgresHarness>>;

/** An append through the database function in a transaction the test holds open. */
async function beginSlowAppend(client: pg.Client, streamId: string, ids: string[]): Promise<void> {
  await client.query('BEGIN');
  const batch = [
    {
      s: streamId,
      e: '-2',
      ev: ids.map((id, i) => ({
        id,
        type: 'TickRecorded',
        v: 1,
        data: { now: `2026-11-22T00:00:${String(i).padStart(2, '0')}Z` },
        meta: {},
      })),
      ob: [],
    },
  ];
  await client.query('SELECT es_append_batch($1::jsonb)', [JSON.stringify(batch)]);
}

describe('PostgreSQL: readers never skip an event committed out of order', () => {
  let h: Harness;
  let slow: pg.Client;
  beforeEach(async () => {
    h = await openPostgresHarness();
    slow = new pg.Client({ connectionString: h.connectionString });
    await slow.connect();
  });
  afterEach(async () => {
    await slow.end();
    await h.close();
  });

  it('holds back a later-committed event until the earlier transaction ends, then delivers both in order', async () => {
    await beginSlowAppend(slow, 'release-slow', ['slow-1']);
    await h.store.append('release-fast', [tick(1, 'fast-1')], { expectedVersion: 'no_stream' });

    // A naive cursor on the position alone would already see the fast event and move past slow-1.
    const naive = (await h.sql('SELECT event_id FROM events ORDER BY global_position')) as {
      event_id: string;
    }[];
    expect(naive.map((r) => r.event_id)).toEqual(['fast-1']);

    const held = await h.store.readAll();
    expect(held.events).toEqual([]);
    expect(held.position).toEqual(START);

    await slow.query('COMMIT');
    const after = await h.store.readAll({ after: held.position });
    expect(after.events.map((e) => e.id)).toEqual(['slow-1', 'fast-1']);
  });

  it('a rolled-back transaction leaves nothing behind and blocks nothing', async () => {
    await beginSlowAppend(slow, 'release-slow', ['slow-1']);
    await h.store.append('release-fast', [tick(1, 'fast-1')], { expectedVersion: 'no_stream' });
    await slow.query('ROLLBACK');
    const page = await h.store.readAll();
    expect(page.events.map((e) => e.id)).toEqual(['fast-1']);
  });
});

describe('PostgreSQL: many writers, many streams, one subscriber', () => {
  let h: Harness;
  let second: EventStore;
  const slowClients: pg.Client[] = [];
  beforeEach(async () => {
    h = await openPostgresHarness();
    second = await openPostgresEventStore({
      connectionString: h.connectionString,
      poolSize: 4,
      migrate: false,
    });
    for (let i = 0; i < 3; i++) {
      const client = new pg.Client({ connectionString: h.connectionString });
      await client.connect();
      slowClients.push(client);
    }
  });
  afterEach(async () => {
    for (const client of slowClients.splice(0)) await client.end();
    await second.close();
    await h.close();
  });

  it('delivers every committed event exactly once, in a valid order, while writers conflict and commit out of order', async () => {
    const streams = Array.from({ length: 24 }, (_, i) => `release-${i}`);
    const committed = new Set<string>();
    let conflicts = 0;
    let last: GlobalPosition = START;
    const note = (p: GlobalPosition | undefined) => {
      if (p && comparePositions(p, last) > 0) last = p;
    };

    const seen: RecordedEvent[] = [];
    const subscription = h.store.subscribe({
      batchSize: 50,
      pollIntervalMs: 50,
      handler: async (events) => {
        seen.push(...events);
      },
    });

    let nextId = 0;
    // Optimistic writers on two store instances (two "processes"), deciding from a possibly
    // stale version and retrying on conflict, as the orchestrator will.
    const writer = async (store: EventStore, w: number) => {
      for (let n = 0; n < 40; n++) {
        const streamId = streams[(w * 7 + n * 13) % streams.length] as string;
        for (;;) {
          const version = (await store.streamVersion(streamId)) ?? 0n;
          const ids = Array.from({ length: 1 + (n % 3) }, () => `w${w}-${nextId++}`);
          try {
            const result = await store.append(
              streamId,
              ids.map((id, i) => tick(i, id)),
              { expectedVersion: version },
            );
            for (const id of ids) committed.add(id);
            note(result.position);
            break;
          } catch (error) {
            if (!(error instanceof ConcurrencyError)) throw error;
            conflicts++;
          }
        }
      }
    };
    // Writers that keep their transaction open for a while after drawing positions, so that
    // later transactions commit first.
    const slowWriter = async (client: pg.Client, w: number) => {
      for (let n = 0; n < 15; n++) {
        const ids = [`slow${w}-${n}`];
        await beginSlowAppend(client, `release-slow-${w}`, ids);
        await new Promise((r) => setTimeout(r, 5 + ((n * 7) % 20)));
        await client.query('COMMIT');
        for (const id of ids) committed.add(id);
      }
    };

    await Promise.all([
      ...Array.from({ length: 8 }, (_, w) => writer(w % 2 === 0 ? h.store : second, w)),
      ...slowClients.map((client, w) => slowWriter(client, w)),
    ]);
    const end = await h.store.readAll({ after: last, limit: 100_000 });
    note(end.position);
    await subscription.waitFor(last);
    await subscription.stop();

    expect(conflicts).toBeGreaterThan(0);
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(committed);
    for (let i = 1; i < seen.length; i++) {
      const before = seen[i - 1] as RecordedEvent;
      const current = seen[i] as RecordedEvent;
      expect(
        comparePositions(before.position, current.position),
        formatPosition(current.position),
      ).toBe(-1);
    }
    const versions = new Map<string, bigint>();
    for (const event of seen) {
      expect(event.streamVersion).toBe((versions.get(event.streamId) ?? 0n) + 1n);
      versions.set(event.streamId, event.streamVersion);
    }
  });
});
