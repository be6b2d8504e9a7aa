import { connectNats, type NatsClient } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import { KvCountHistory } from './count-history.ts';
import { HistogramHistory, KvHistogramHistory } from './histogram-history.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const INF = Number.POSITIVE_INFINITY;
const key = { releaseId: 'rel-1', cluster: 'eu-1', checkName: 'request-duration' };
const window = (i: number) => ({ startMs: T0 + i * MINUTE, endMs: T0 + (i + 1) * MINUTE });
/** `slow` of 100 canary requests above 250 ms; the primary 10 of 200. */
const histograms = (slow: number) => ({
  canary: [
    { leMs: 100, count: 50 },
    { leMs: 250, count: 100 - slow },
    { leMs: INF, count: 100 },
  ],
  primary: [
    { leMs: 100, count: 150 },
    { leMs: 250, count: 190 },
    { leMs: INF, count: 200 },
  ],
});
const logger = createLogger({ service: 'test', level: 'silent' });

let nats: NatsClient;
let bucket: string;

beforeEach(async () => {
  nats = await connectNats({ servers: testEnv.natsUrl, name: 'histograms-test', logger });
  bucket = uniqueName('HISTOGRAMS')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_');
});

afterEach(async () => {
  const jsm = await nats.jetstreamManager();
  await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
  await nats.close();
});

describe('latency histograms in the comparison KV bucket (real NATS)', () => {
  it('gives the same looks as the in-memory store, and a second instance continues them', async () => {
    const memory = new HistogramHistory();
    const first = await KvHistogramHistory.open({ jetstream: nats.jetstream, bucket });
    for (const i of [0, 1]) {
      const kv = await first.record(key, window(i), histograms(5 + i), T0);
      expect(kv).toEqual(await memory.record(key, window(i), histograms(5 + i), T0));
    }
    // A restarted analyzer: a new instance on the same bucket, nothing in memory.
    const second = await KvHistogramHistory.open({ jetstream: nats.jetstream, bucket });
    const looks = await second.record(key, window(2), histograms(7), T0);
    expect(looks.windows).toHaveLength(3);
    expect(looks.looks.at(-1)).toEqual({
      canary: [
        { leMs: 100, count: 150 },
        { leMs: 250, count: 282 },
        { leMs: INF, count: 300 },
      ],
      primary: [
        { leMs: 100, count: 450 },
        { leMs: 250, count: 570 },
        { leMs: INF, count: 600 },
      ],
    });
    // A re-delivered window overwrites itself, never counts twice.
    const again = await second.record(key, window(2), histograms(7), T0);
    expect(again.looks.at(-1)?.canary.at(-1)?.count).toBe(300);
  });

  it('shares the bucket with the counts without touching them, and bounds each key', async () => {
    const counts = await KvCountHistory.open({ jetstream: nats.jetstream, bucket });
    const latency = await KvHistogramHistory.open({
      jetstream: nats.jetstream,
      bucket,
      maxWindows: 2,
    });
    const c = { canary: { totalCount: 10, badCount: 1 }, primary: { totalCount: 10, badCount: 1 } };
    await counts.record(key, window(0), c, T0);
    for (const i of [0, 1, 2]) await latency.record(key, window(i), histograms(i), T0);
    const kept = await latency.record(key, window(3), histograms(3), T0);
    expect(kept.windows.map((w) => w.window.startMs)).toEqual([
      window(2).startMs,
      window(3).startMs,
    ]);
    expect((await counts.record(key, window(1), c, T0)).windows).toHaveLength(2);
  });
});
