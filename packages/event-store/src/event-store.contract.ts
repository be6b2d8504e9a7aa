import { AviaryError, ConcurrencyError, ErrorCode, ValidationError } from '@aviary/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { comparePositions, formatPosition, START } from './position.ts';
import type { CorruptEvent, EventStore, NewEvent, RecordedEvent } from './types.ts';

/**
 * The contract every event store backend passes (kysely's "one suite, every dialect"). A backend
 * provides a fresh, migrated, empty store per test, and raw SQL on the same database for the
 * tests that damage rows on purpose.
 */
export interface ContractHarness {
  readonly store: EventStore;
  /** Runs one SQL statement on the store's database, outside the store. */
  sql(statement: string, params?: unknown[]): Promise<unknown[]>;
  /** Opens another store on the same database (another process, as far as the log can tell). */
  openAnother?(): Promise<EventStore>;
  close(): Promise<void>;
}

/** A valid event: an orchestrator tick at the given second. */
export function tick(second: number, id?: string): NewEvent {
  const now = new Date(Date.UTC(2026, 10, 22, 0, 0, second)).toISOString();
  return { ...(id ? { id } : {}), type: 'TickRecorded', data: { now } };
}

export interface BackendCapabilities {
  /** Several processes can open the same database (PostgreSQL; not PGlite). */
  readonly multiProcess: boolean;
}

export function describeEventStoreContract(
  backend: string,
  open: () => Promise<ContractHarness>,
  capabilities: BackendCapabilities,
): void {
  describe(`event store contract: ${backend}`, () => {
    let h: ContractHarness;
    let store: EventStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    describe('append and read a stream', () => {
      it('appends to a new stream and reads it back in version order with canonical data', async () => {
        const first = await store.append('release-a', [tick(1), tick(2)], {
          expectedVersion: 'no_stream',
        });
        expect(first.nextVersion).toBe(2n);
        expect(first.duplicate).toBe(false);
        await store.append(
          'release-a',
          [{ ...tick(3), metadata: { actor: 'alice', correlationId: 'c-1' } }],
          {
            expectedVersion: 2n,
          },
        );

        const events = await store.readStream('release-a');
        expect(events.map((e) => e.streamVersion)).toEqual([1n, 2n, 3n]);
        expect(events.map((e) => e.type)).toEqual(['TickRecorded', 'TickRecorded', 'TickRecorded']);
        expect(events[0]?.data).toEqual({ now: '2026-11-22T00:00:01Z' });
        expect(events[2]?.metadata).toEqual({ actor: 'alice', correlationId: 'c-1' });
        expect(events[0]?.schemaVersion).toBe(1);
        expect(await store.streamVersion('release-a')).toBe(3n);
        expect(await store.streamVersion('release-none')).toBeUndefined();
        expect(await store.readStream('release-none')).toEqual([]);
      });

      it('reads a slice of a stream: the state as of a version', async () => {
        await store.append('release-a', [tick(1), tick(2), tick(3), tick(4)], {
          expectedVersion: 0n,
        });
        const slice = await store.readStream('release-a', { fromVersion: 2n, toVersion: 3n });
        expect(slice.map((e) => e.streamVersion)).toEqual([2n, 3n]);
      });

      it('returns the global position of the last appended event', async () => {
        const result = await store.append('release-a', [tick(1), tick(2)], {
          expectedVersion: 'any',
        });
        const events = await store.readStream('release-a');
        expect(result.position).toEqual(events[1]?.position);
      });
    });

    describe('optimistic concurrency', () => {
      it('rejects a stale expected version with the stream id, expected and actual versions', async () => {
        await store.append('release-a', [tick(1), tick(2)], { expectedVersion: 'no_stream' });
        const error = await store
          .append('release-a', [tick(3)], { expectedVersion: 1n })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({
          streamId: 'release-a',
          expectedVersion: 1n,
          actualVersion: 2n,
        });
        expect(await store.streamVersion('release-a')).toBe(2n);
      });

      it('enforces no_stream, stream_exists and an exact 0n on a new stream', async () => {
        await expect(
          store.append('release-a', [tick(1)], { expectedVersion: 'stream_exists' }),
        ).rejects.toMatchObject({
          name: 'ConcurrencyError',
          actualVersion: -1n,
        });
        await store.append('release-a', [tick(1)], { expectedVersion: 0n });
        await expect(
          store.append('release-a', [tick(2)], { expectedVersion: 'no_stream' }),
        ).rejects.toMatchObject({
          name: 'ConcurrencyError',
          expectedVersion: 'no_stream',
          actualVersion: 1n,
        });
        await expect(
          store.append('release-a', [tick(2)], { expectedVersion: 'stream_exists' }),
        ).resolves.toMatchObject({
          nextVersion: 2n,
        });
        await expect(
          store.append('release-a', [tick(3)], { expectedVersion: 'any' }),
        ).resolves.toMatchObject({
          nextVersion: 3n,
        });
      });

      it('lets exactly one of many concurrent appends at the same version win', async () => {
        await store.append('release-a', [tick(0)], { expectedVersion: 'no_stream' });
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) =>
            store.append('release-a', [tick(i + 1)], { expectedVersion: 1n }),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(11);
        for (const r of lost) expect(r.reason).toBeInstanceOf(ConcurrencyError);
        expect(await store.streamVersion('release-a')).toBe(2n);
      });
    });

    describe('idempotent append by event id', () => {
      it('treats a re-delivered append as a no-op, whatever version it expected', async () => {
        await store.append('release-a', [tick(1, 'ev-1'), tick(2, 'ev-2')], {
          expectedVersion: 'no_stream',
        });
        const again = await store.append('release-a', [tick(1, 'ev-1'), tick(2, 'ev-2')], {
          expectedVersion: 'no_stream',
        });
        expect(again).toEqual({ nextVersion: 2n, position: undefined, duplicate: true });
        expect(await store.readStream('release-a')).toHaveLength(2);
      });

      it('rejects an event id re-used with other content or in another stream', async () => {
        await store.append('release-a', [tick(1, 'ev-1')], { expectedVersion: 'no_stream' });
        await expect(
          store.append('release-a', [tick(9, 'ev-1')], { expectedVersion: 'any' }),
        ).rejects.toMatchObject({
          code: ErrorCode.IdempotencyMismatch,
        });
        await expect(
          store.append('release-b', [tick(1, 'ev-1')], { expectedVersion: 'any' }),
        ).rejects.toMatchObject({
          code: ErrorCode.IdempotencyMismatch,
        });
        await expect(
          store.append('release-a', [tick(1, 'ev-1'), tick(2, 'ev-2')], { expectedVersion: 'any' }),
        ).rejects.toMatchObject({ code: ErrorCode.IdempotencyMismatch });
        expect(await store.readStream('release-a')).toHaveLength(1);
        expect(await store.readStream('release-b')).toHaveLength(0);
      });
    });

    describe('bad input', () => {
      it('rejects an unknown event type and a payload that fails its schema, listing every problem, writing nothing', async () => {
        const error = await store
          .append(
            'release-a',
            [
              tick(1),
              { type: 'NoSuchEvent', data: {} },
              { type: 'TickRecorded', data: { now: 'yesterday', extra: 1 } },
            ],
            { expectedVersion: 'no_stream' },
          )
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        const issues = (error as ValidationError).issues;
        expect(issues.map((i) => i.path)).toEqual(['events[1].type', 'events[2].data']);
        expect(issues[0]?.message).toContain('unknown event type "NoSuchEvent"');
        expect(await store.streamVersion('release-a')).toBeUndefined();
      });

      it('rejects malformed appends: no events, bad stream id, bad expected version, bad metadata, duplicate ids', async () => {
        await expect(
          store.append('release-a', [], { expectedVersion: 'any' }),
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(
          store.append('', [tick(1)], { expectedVersion: 'any' }),
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(
          store.append('release a', [tick(1)], { expectedVersion: 'any' }),
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(
          store.append('release-a', [tick(1)], { expectedVersion: -1n as unknown as bigint }),
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(
          store.append('release-a', [{ ...tick(1), metadata: { actor: 7 as unknown as string } }], {
            expectedVersion: 'any',
          }),
        ).rejects.toMatchObject({ issues: [{ path: 'events[0].metadata.actor' }] });
        await expect(
          store.append('release-a', [tick(1, 'x'), tick(2, 'x')], { expectedVersion: 'any' }),
        ).rejects.toMatchObject({ issues: [{ path: 'events[1].id' }] });
        expect(await store.streamVersion('release-a')).toBeUndefined();
      });

      it('reports a corrupt stored row with its position and goes on reading', async () => {
        await store.append('release-a', [tick(1), tick(2), tick(3)], {
          expectedVersion: 'no_stream',
        });
        await h.sql(
          `UPDATE events SET data = '{"now": 42}' WHERE stream_id = 'release-a' AND stream_version = 2`,
        );
        const page = await store.readAll();
        expect(page.events.map((e) => e.streamVersion)).toEqual([1n, 3n]);
        expect(page.corrupt).toHaveLength(1);
        expect(page.corrupt[0]).toMatchObject({
          streamId: 'release-a',
          streamVersion: 2n,
          type: 'TickRecorded',
        });
        expect(page.corrupt[0]?.reason).toMatch(/now/);
        const readError = await store.readStream('release-a').catch((e: unknown) => e);
        expect(readError).toBeInstanceOf(AviaryError);
        expect((readError as AviaryError).code).toBe(ErrorCode.CorruptEvent);
        expect((readError as Error).message).toContain(
          formatPosition(page.corrupt[0]?.position ?? START),
        );

        await h.sql(
          `UPDATE events SET event_type = 'Vanished' WHERE stream_id = 'release-a' AND stream_version = 3`,
        );
        const corrupt: CorruptEvent[] = [];
        const seen: RecordedEvent[] = [];
        const sub = store.subscribe({
          handler: async (events) => {
            seen.push(...events);
          },
          onCorrupt: (c) => corrupt.push(c),
        });
        await store.append('release-a', [tick(4)], { expectedVersion: 3n });
        const last = (await store.readAll({ limit: 100 })).position;
        await sub.waitFor(last);
        await sub.stop();
        expect(seen.map((e) => e.streamVersion)).toEqual([1n, 4n]);
        expect(corrupt.map((c) => [c.streamVersion, c.reason.slice(0, 26)])).toEqual([
          [2n, expect.any(String)],
          [3n, 'unknown event type "Vanish'],
        ]);
      });
    });

    describe('cancellation', () => {
      it('refuses work whose signal has already aborted, writing nothing', async () => {
        const signal = AbortSignal.abort(new Error('operator gave up'));
        const aborted = { code: ErrorCode.Aborted };
        await expect(
          store.append('release-a', [tick(1)], { expectedVersion: 'any', signal }),
        ).rejects.toMatchObject(aborted);
        await expect(store.readAll({ signal })).rejects.toMatchObject(aborted);
        await expect(store.readStream('release-a', { signal })).rejects.toMatchObject(aborted);
        await expect(store.checkpoints.load('c', signal)).rejects.toMatchObject(aborted);
        await expect(store.outbox.pending(10, signal)).rejects.toMatchObject(aborted);
        expect(await store.streamVersion('release-a')).toBeUndefined();
      });
    });

    describe('read all in global order', () => {
      it('pages through the whole log after a position', async () => {
        for (let i = 0; i < 5; i++) {
          await store.append(`release-${i % 2}`, [tick(i * 2), tick(i * 2 + 1)], {
            expectedVersion: 'any',
          });
        }
        const all: RecordedEvent[] = [];
        let page = await store.readAll({ limit: 3 });
        all.push(...page.events);
        while (page.hasMore) {
          page = await store.readAll({ after: page.position, limit: 3 });
          all.push(...page.events);
        }
        expect(all).toHaveLength(10);
        for (let i = 1; i < all.length; i++) {
          expect(
            comparePositions(
              (all[i - 1] as RecordedEvent).position,
              (all[i] as RecordedEvent).position,
            ),
          ).toBe(-1);
        }
        expect(all.map((e) => e.data.now)).toEqual(
          Array.from({ length: 10 }, (_, i) => `2026-11-22T00:00:${String(i).padStart(2, '0')}Z`),
        );
        const rest = await store.readAll({ after: all[6]?.position ?? START });
        expect(rest.events).toHaveLength(3);
        expect(rest.hasMore).toBe(false);
      });
    });

    describe('subscriptions', () => {
      it('catches up, then delivers live appends, in order, exactly once', async () => {
        await store.append('release-a', [tick(1), tick(2)], { expectedVersion: 'no_stream' });
        const seen: string[] = [];
        const sub = store.subscribe({
          batchSize: 2,
          handler: async (events) => {
            for (const e of events) seen.push(`${e.streamId}@${e.streamVersion}`);
          },
        });
        await store.append('release-b', [tick(3)], { expectedVersion: 'no_stream' });
        const { position } = await store.append('release-a', [tick(4), tick(5)], {
          expectedVersion: 2n,
        });
        await sub.waitFor(position ?? START);
        await sub.stop();
        expect(seen).toEqual([
          'release-a@1',
          'release-a@2',
          'release-b@1',
          'release-a@3',
          'release-a@4',
        ]);
      });

      it('resumes a durable consumer from its stored checkpoint', async () => {
        const seen: string[] = [];
        const handler = async (events: readonly RecordedEvent[]) => {
          for (const e of events) seen.push(`${e.streamId}@${e.streamVersion}`);
        };
        const r1 = await store.append('release-a', [tick(1), tick(2)], {
          expectedVersion: 'no_stream',
        });
        const first = store.subscribe({ consumerId: 'projection-x', handler });
        await first.waitFor(r1.position ?? START);
        await first.stop();
        expect(await store.checkpoints.load('projection-x')).toEqual(r1.position);

        const r2 = await store.append('release-a', [tick(3)], { expectedVersion: 2n });
        const second = store.subscribe({ consumerId: 'projection-x', handler });
        await second.waitFor(r2.position ?? START);
        await second.stop();
        expect(seen).toEqual(['release-a@1', 'release-a@2', 'release-a@3']);

        // A third start whose stored checkpoint already covers the position waits for nothing,
        // even with nothing new to read and polling ten minutes apart.
        const third = store.subscribe({
          consumerId: 'projection-x',
          handler,
          pollIntervalMs: 600_000,
        });
        await third.waitFor(r1.position ?? START);
        await third.stop();
      });

      it('retries a batch whose handler failed and never moves past it', async () => {
        const { position } = await store.append('release-a', [tick(1), tick(2)], {
          expectedVersion: 'no_stream',
        });
        let calls = 0;
        const delivered: bigint[][] = [];
        const errors: number[] = [];
        const sub = store.subscribe({
          handler: async (events) => {
            calls++;
            delivered.push(events.map((e) => e.streamVersion));
            if (calls < 3) throw new Error('projection database is down');
          },
          onError: (_e, attempt) => errors.push(attempt),
        });
        await sub.waitFor(position ?? START);
        await sub.stop();
        expect(delivered).toEqual([
          [1n, 2n],
          [1n, 2n],
          [1n, 2n],
        ]);
        expect(errors).toEqual([1, 2]);
      });
    });

    describe('checkpoints', () => {
      it('stores and loads a position per consumer', async () => {
        expect(await store.checkpoints.load('c')).toBeUndefined();
        await store.checkpoints.store('c', { transactionId: 1234n, position: 56n });
        await store.checkpoints.store('c', { transactionId: 1235n, position: 57n });
        expect(await store.checkpoints.load('c')).toEqual({ transactionId: 1235n, position: 57n });
      });
    });

    describe('outbox', () => {
      const message = (id: string, subject = 'aviary.v1.cluster.eu-1.cmd') => ({
        id,
        subject,
        payload: new TextEncoder().encode(`{"commandId":"${id}"}`),
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });

      it('writes messages in the same transaction as the events, and none when the append fails', async () => {
        await store.append('release-a', [tick(1)], {
          expectedVersion: 'no_stream',
          outbox: [message('cmd-1'), message('cmd-2')],
        });
        await expect(
          store.append('release-a', [tick(2)], {
            expectedVersion: 'no_stream',
            outbox: [message('cmd-3')],
          }),
        ).rejects.toBeInstanceOf(ConcurrencyError);
        await expect(
          store.append('release-a', [{ type: 'Bogus', data: {} }], {
            expectedVersion: 'any',
            outbox: [message('cmd-4')],
          }),
        ).rejects.toBeInstanceOf(ValidationError);
        const pending = await store.outbox.pending(10);
        expect(pending.map((m) => m.id)).toEqual(['cmd-1', 'cmd-2']);
        expect(new TextDecoder().decode(pending[0]?.payload)).toBe('{"commandId":"cmd-1"}');
        expect(pending[0]).toMatchObject({
          streamId: 'release-a',
          subject: 'aviary.v1.cluster.eu-1.cmd',
          attempts: 0,
        });
        expect(pending[0]?.headers).toEqual(message('x').headers);
        expect(await store.outbox.depth()).toBe(2);
      });

      it('marks messages published, and holds failed ones back until their retry time', async () => {
        const us = 'aviary.v1.cluster.us-1.cmd';
        await store.append('release-a', [tick(1)], {
          expectedVersion: 'any',
          outbox: [message('cmd-1'), message('cmd-2'), message('cmd-3', us)],
        });
        const [m1, m2] = await store.outbox.pending(10);
        await store.outbox.markPublished([m1?.position ?? 0n]);
        await store.outbox.markFailed(m2?.position ?? 0n, 'nats: timeout', 60_000);
        expect((await store.outbox.pending(10)).map((m) => m.id)).toEqual(['cmd-3']);
        expect(await store.outbox.depth()).toBe(2);
        await store.outbox.markFailed(m2?.position ?? 0n, 'nats: timeout', 0);
        const retried = await store.outbox.pending(10);
        expect(retried.map((m) => [m.id, m.attempts])).toEqual([
          ['cmd-2', 2],
          ['cmd-3', 0],
        ]);
        expect(await store.outbox.prunePublished(0)).toBe(1);
      });

      it('never hands out a message while an earlier one on its subject waits for a retry', async () => {
        const us = 'aviary.v1.cluster.us-1.cmd';
        await store.append('release-a', [tick(1)], {
          expectedVersion: 'any',
          outbox: [message('cmd-1'), message('cmd-2', us), message('cmd-3'), message('cmd-4')],
        });
        const [m1] = await store.outbox.pending(10);
        await store.outbox.markFailed(m1?.position ?? 0n, 'nats: timeout', 60_000);
        expect((await store.outbox.pending(10)).map((m) => m.id)).toEqual(['cmd-2']);
        await store.outbox.markFailed(m1?.position ?? 0n, 'nats: timeout', 0);
        expect((await store.outbox.pending(10)).map((m) => m.id)).toEqual([
          'cmd-1',
          'cmd-2',
          'cmd-3',
          'cmd-4',
        ]);
      });

      it('rejects an outbox message id used before', async () => {
        await store.append('release-a', [tick(1)], {
          expectedVersion: 'any',
          outbox: [message('cmd-1')],
        });
        await expect(
          store.append('release-a', [tick(2)], {
            expectedVersion: 'any',
            outbox: [message('cmd-1')],
          }),
        ).rejects.toBeInstanceOf(ValidationError);
        expect(await store.streamVersion('release-a')).toBe(1n);
      });
    });

    describe('group commit', () => {
      it('commits many concurrent appends to many streams, each at its right version', async () => {
        const streams = 20;
        const perStream = 10;
        await Promise.all(
          Array.from({ length: streams }, async (_, s) => {
            for (let v = 0; v < perStream; v++) {
              await store.append(`release-${s}`, [tick(v)], { expectedVersion: BigInt(v) });
            }
          }),
        );
        for (let s = 0; s < streams; s++) {
          const events = await store.readStream(`release-${s}`);
          expect(events.map((e) => e.streamVersion)).toEqual(
            Array.from({ length: perStream }, (_, v) => BigInt(v + 1)),
          );
        }
        const all = await store.readAll({ limit: 1000 });
        expect(all.events).toHaveLength(streams * perStream);
      });
    });

    describe.runIf(capabilities.multiProcess)('another process', () => {
      it('wakes a subscriber when another store instance appends (notification, not polling)', async () => {
        if (!h.openAnother) throw new Error('a multi-process backend must provide openAnother()');
        const other = await h.openAnother();
        try {
          const seen: RecordedEvent[] = [];
          const sub = store.subscribe({
            pollIntervalMs: 600_000,
            handler: async (e) => void seen.push(...e),
          });
          await new Promise((r) => setTimeout(r, 100));
          const { position } = await other.append('release-a', [tick(1)], {
            expectedVersion: 'no_stream',
          });
          await sub.waitFor(position ?? START);
          await sub.stop();
          expect(seen.map((e) => e.streamId)).toEqual(['release-a']);
        } finally {
          await other.close();
        }
      });
    });
  });
}
