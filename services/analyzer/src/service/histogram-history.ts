/**
 * Histograms accumulated across rounds for latency comparisons: the histogram twin of
 * `count-history.ts`, with the same rules (`window-history.ts`). Keyed by (release id, cluster,
 * check name); each window's canary and primary histograms are stored once under its [start, end)
 * (a re-delivered request overwrites its own window); the looks of a verdict are the stored
 * windows ending no later than its own, oldest first, skipping overlapping (widened) ones, added
 * up bucket by bucket on the boundaries every one of them shares (`accumulateHistograms`).
 *
 * `HistogramHistory` keeps them in memory; `KvHistogramHistory` in the comparison counts' KV
 * bucket (keys `lat.<sha256>`), so that a restarted analyzer continues the sequential test.
 */
import type { HistogramBucket, HistogramSnapshot, TimeWindow } from '@aviary/judge';
import type { KV } from '@nats-io/kv';
import type { KvCountHistoryOptions } from './count-history.ts';
import { accumulateHistograms } from './samples.ts';
import {
  type ComparisonKey,
  DEFAULT_MAX_WINDOWS,
  entriesUpTo,
  KvWindowHistory,
  MemoryWindowHistory,
  mergeEntry,
  openComparisonBucket,
  type WindowKind,
  type WindowLooks,
} from './window-history.ts';

/** One window's histograms as measured (not cumulative over time). */
export interface StoredHistogram {
  readonly window: TimeWindow;
  readonly histograms: HistogramSnapshot;
}

/** What a latency comparison verdict is judged on: the windows judged and their cumulative snapshots. */
export type HistogramLooks = WindowLooks<StoredHistogram, HistogramSnapshot>;

/** Where latency comparisons' histograms are kept. */
export interface LatencyHistories {
  /** Records one window's histograms and returns the looks up to it, oldest first. */
  record(
    key: ComparisonKey,
    window: TimeWindow,
    histograms: HistogramSnapshot,
    nowMs: number,
  ): Promise<HistogramLooks>;
  /** Forgets keys not used since `olderThanMs` (a KV bucket expires them itself). */
  prune(olderThanMs: number): void;
}

/**
 * The stored value of one key. Compact, because a day of one-minute looks must stay well under
 * NATS's 1 MiB message: the finite `le` boundaries (ms) once per entry (`+Inf` is implied last),
 * and per window the per-bucket counts (not cumulative), canary then primary. A window whose
 * boundaries differ from the entry's carries its own `le`.
 */
interface KvHistogramValue {
  readonly key: ComparisonKey;
  readonly le: readonly number[];
  readonly windows: readonly {
    readonly startMs: number;
    readonly endMs: number;
    readonly le?: readonly number[];
    readonly canary: readonly number[];
    readonly primary: readonly number[];
  }[];
}

const HISTOGRAMS: WindowKind<
  HistogramSnapshot,
  StoredHistogram,
  HistogramSnapshot,
  KvHistogramValue
> = {
  entry: (window, histograms) => ({ window, histograms }),
  accumulate: (windows) => accumulateHistograms(windows.map((w) => w.histograms)),
  kvPrefix: 'lat',
  what: 'latency histograms',
  encode: encodeHistograms,
  decode: decodeHistograms,
};

/** `stored` with `window`'s histograms put in (replacing the same window), sorted, bounded. */
export function mergeHistogramWindow(
  stored: readonly StoredHistogram[],
  window: TimeWindow,
  histograms: HistogramSnapshot,
  maxWindows: number = DEFAULT_MAX_WINDOWS,
): StoredHistogram[] {
  return mergeEntry(stored, HISTOGRAMS.entry(window, histograms), maxWindows);
}

/** The looks of a verdict for `window`: stored windows ending no later, not overlapping. */
export function histogramLooksUpTo(
  stored: readonly StoredHistogram[],
  window: TimeWindow,
): HistogramLooks {
  return entriesUpTo(stored, window, HISTOGRAMS.accumulate);
}

/** In memory: lost on restart (the test then restarts from the next window). */
export class HistogramHistory
  extends MemoryWindowHistory<HistogramSnapshot, StoredHistogram, HistogramSnapshot>
  implements LatencyHistories
{
  constructor(options: { readonly maxWindows?: number } = {}) {
    super(HISTOGRAMS, options.maxWindows);
  }
}

/** In the comparison bucket, one entry per key, written with compare-and-set (`KvWindowHistory`). */
export class KvHistogramHistory
  extends KvWindowHistory<HistogramSnapshot, StoredHistogram, HistogramSnapshot, KvHistogramValue>
  implements LatencyHistories
{
  /** Opens the comparison bucket (the counts' one), creating it when missing. */
  static async open(options: KvCountHistoryOptions): Promise<KvHistogramHistory> {
    return new KvHistogramHistory(await openComparisonBucket(options), options.maxWindows);
  }

  private constructor(kv: KV, maxWindows: number | undefined) {
    super(kv, HISTOGRAMS, maxWindows);
  }
}

const finiteBoundaries = (buckets: readonly HistogramBucket[]) =>
  buckets.filter((b) => Number.isFinite(b.leMs)).map((b) => b.leMs);

const perBucket = (buckets: readonly HistogramBucket[]) =>
  buckets.map((b, i) => b.count - (buckets[i - 1]?.count ?? 0));

const cumulative = (le: readonly number[], counts: readonly number[]): HistogramBucket[] => {
  let sum = 0;
  return [...le, Number.POSITIVE_INFINITY].map((leMs, i) => {
    sum += counts[i] ?? 0;
    return { leMs, count: sum };
  });
};

const sameList = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

export function encodeHistograms(
  key: ComparisonKey,
  windows: readonly StoredHistogram[],
): KvHistogramValue {
  const first = windows[0];
  const le = first === undefined ? [] : finiteBoundaries(first.histograms.canary);
  return {
    key,
    le,
    windows: windows.map((w) => {
      const own = finiteBoundaries(w.histograms.canary);
      return {
        startMs: w.window.startMs,
        endMs: w.window.endMs,
        ...(sameList(own, le) ? {} : { le: own }),
        canary: perBucket(w.histograms.canary),
        primary: perBucket(w.histograms.primary),
      };
    }),
  };
}

export function decodeHistograms(value: KvHistogramValue): StoredHistogram[] {
  return value.windows.map((w) => {
    const le = w.le ?? value.le;
    return {
      window: { startMs: w.startMs, endMs: w.endMs },
      histograms: { canary: cumulative(le, w.canary), primary: cumulative(le, w.primary) },
    };
  });
}
