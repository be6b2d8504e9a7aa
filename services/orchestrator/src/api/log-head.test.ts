import {
  type EventStore,
  formatPosition,
  type NewEvent,
  openPGliteEventStore,
  START,
} from '@aviary/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLogHead } from './log-head.ts';

const tick = (second: number): NewEvent => ({
  type: 'TickRecorded',
  data: { now: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString() },
});

let store: EventStore;
beforeAll(async () => {
  store = await openPGliteEventStore();
});
afterAll(async () => {
  await store.close();
});

describe('findLogHead', () => {
  it('is START for an empty log, then the position of the last event appended', async () => {
    expect(await findLogHead(store)).toEqual(START);
    let last = START;
    for (let i = 0; i < 40; i++) {
      const streamId = `release-head-${i % 3}`;
      const result = await store.append(streamId, [tick(i), tick(i + 1)], {
        expectedVersion: 'any',
      });
      if (result.position) last = result.position;
      if (i % 7 === 0) {
        expect(formatPosition(await findLogHead(store))).toBe(formatPosition(last));
      }
    }
    expect(formatPosition(await findLogHead(store))).toBe(formatPosition(last));
  });

  it('reads only a logarithmic number of pages', async () => {
    let reads = 0;
    const counting = {
      readAll: (options: Parameters<EventStore['readAll']>[0]) => {
        reads++;
        return store.readAll(options);
      },
    };
    const head = await findLogHead(counting);
    const all = await store.readAll({ limit: 100_000 });
    expect(head).toEqual(all.position);
    // An exponential then a binary search over transaction ids, and one last page.
    expect(reads).toBeLessThanOrEqual(2 * head.transactionId.toString(2).length + 3);
  });

  it('stops when its signal is aborted', async () => {
    await expect(findLogHead(store, AbortSignal.abort())).rejects.toThrow();
  });
});
