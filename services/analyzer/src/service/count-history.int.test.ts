import { connectNats, type NatsClient } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import { CountHistory, KvCountHistory } from './count-history.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const key = { releaseId: 'rel-1', cluster: 'eu-1', checkName: 'errors' };
const window = (i: number) => ({ startMs: T0 + i * MINUTE, endMs: T0 + (i + 1) * MINUTE });
const counts = (c: number, p: number) => ({
  canary: { totalCount: 1000, badCount: c },
  primary: { totalCount: 9000, badCount: p },
});
const logger = createLogger({ service: 'test', level: 'silent' });

let nats: NatsClient;
let bucket: string;

beforeEach(async () => {
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'counts-test', logger });
  bucket = uniqueName('COUNTS')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_');
});

afterEach(async () => {
  const jsm = await nats.jetstreamManager();
  await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
  await nats.close();
});

describe('comparison counts in a JetStream KV bucket (real NATS)', () => {
  it('gives the same looks as the in-memory store, and a second instance continues them', async () => {
    const memory = new CountHistory();
    const first = await KvCountHistory.open({ jetstream: nats.jetstream, bucket });
    for (const i of [0, 1]) {
      const kv = await first.record(key, window(i), counts(10 + i, 90), T0);
      expect(kv).toEqual(await memory.record(key, window(i), counts(10 + i, 90), T0));
    }
    // A restarted analyzer: a new instance on the same bucket, nothing in memory.
    const second = await KvCountHistory.open({ jetstream: nats.jetstream, bucket });
    const looks = await second.record(key, window(2), counts(12, 90), T0);
    expect(looks.looks.at(-1)).toEqual({
      canary: { totalCount: 3000, badCount: 33 },
      primary: { totalCount: 27_000, badCount: 270 },
    });
    // A re-delivered window overwrites itself, never counts twice.
    const again = await second.record(key, window(2), counts(12, 90), T0);
    expect(again.windows).toHaveLength(3);
    // Another release is another key.
    const other = await second.record({ ...key, releaseId: 'rel-2' }, window(2), counts(1, 9), T0);
    expect(other.windows).toHaveLength(1);
  });

  it('loses no window when two replicas write the same key at once (compare-and-set)', async () => {
    const a = await KvCountHistory.open({ jetstream: nats.jetstream, bucket });
    const b = await KvCountHistory.open({ jetstream: nats.jetstream, bucket });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 === 0 ? a : b).record(key, window(i), counts(i, 9), T0),
      ),
    );
    const all = await a.record(key, window(8), counts(8, 9), T0);
    expect(all.windows.map((w) => w.window.startMs)).toEqual(
      Array.from({ length: 9 }, (_, i) => window(i).startMs),
    );
  });
});
