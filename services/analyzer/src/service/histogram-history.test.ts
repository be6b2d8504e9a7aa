import { describe, expect, it } from 'vitest';
import {
  decodeHistograms,
  encodeHistograms,
  HistogramHistory,
  histogramLooksUpTo,
  mergeHistogramWindow,
} from './histogram-history.ts';

const INF = Number.POSITIVE_INFINITY;
const key = { releaseId: 'rel-1', cluster: 'eu-1', checkName: 'request-duration' };
const w = (startMs: number, endMs: number) => ({ startMs, endMs });
const h = (le: readonly number[], canary: readonly number[], primary: readonly number[]) => ({
  canary: [...le, INF].map((leMs, i) => ({ leMs, count: canary[i] ?? 0 })),
  primary: [...le, INF].map((leMs, i) => ({ leMs, count: primary[i] ?? 0 })),
});

describe('histogram history', () => {
  it('stores compactly (per-bucket counts, +Inf implied) and decodes to the same windows', () => {
    const windows = [
      { window: w(0, 60), histograms: h([100, 250], [5, 8, 10], [50, 90, 100]) },
      // Boundaries changed midway: this window carries its own.
      { window: w(60, 120), histograms: h([100, 500], [4, 9, 10], [40, 95, 100]) },
    ];
    const encoded = encodeHistograms(key, windows);
    expect(encoded.le).toEqual([100, 250]);
    expect(encoded.windows[0]).toEqual({
      startMs: 0,
      endMs: 60,
      canary: [5, 3, 2],
      primary: [50, 40, 10],
    });
    expect(encoded.windows[1]?.le).toEqual([100, 500]);
    expect(JSON.parse(JSON.stringify(encoded))).toEqual(encoded);
    expect(decodeHistograms(encoded)).toEqual(windows);
  });

  it('accumulates looks on the shared boundaries, skipping later and overlapping windows', () => {
    let stored = mergeHistogramWindow([], w(0, 60), h([100, 250], [5, 8, 10], [50, 90, 100]));
    stored = mergeHistogramWindow(stored, w(60, 120), h([100, 500], [4, 9, 10], [40, 95, 100]));
    // A widened window overlapping both: skipped by the looks.
    stored = mergeHistogramWindow(stored, w(0, 120), h([100], [9, 20], [90, 200]));
    stored = mergeHistogramWindow(stored, w(120, 180), h([100, 250], [1, 1, 1], [1, 1, 1]));
    const { windows, looks } = histogramLooksUpTo(stored, w(60, 120));
    expect(windows.map((s) => s.window)).toEqual([w(0, 60), w(60, 120)]);
    expect(looks).toEqual([
      {
        canary: [
          { leMs: 100, count: 5 },
          { leMs: INF, count: 10 },
        ],
        primary: [
          { leMs: 100, count: 50 },
          { leMs: INF, count: 100 },
        ],
      },
      {
        canary: [
          { leMs: 100, count: 9 },
          { leMs: INF, count: 20 },
        ],
        primary: [
          { leMs: 100, count: 90 },
          { leMs: INF, count: 200 },
        ],
      },
    ]);
  });

  it('keeps one entry per key in memory, re-delivered windows replacing themselves', async () => {
    const history = new HistogramHistory();
    await history.record(key, w(0, 60), h([100], [5, 10], [50, 100]), 0);
    const again = await history.record(key, w(0, 60), h([100], [5, 10], [50, 100]), 0);
    expect(again.windows).toHaveLength(1);
    const other = await history.record(
      { ...key, releaseId: 'rel-2' },
      w(0, 60),
      h([100], [1, 1], [1, 1]),
      0,
    );
    expect(other.looks[0]?.canary.at(-1)?.count).toBe(1);
    history.prune(1);
    expect(
      (await history.record(key, w(60, 120), h([100], [1, 2], [1, 2]), 2)).windows,
    ).toHaveLength(1);
  });
});
