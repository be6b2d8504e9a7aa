/**
 * Histograms accumulated across rounds for latency comparisons: the histogram twin of
 * `count-history.ts`, with the same rules. Keyed by (release id, cluster, check name); each
 * window's canary and primary histograms are stored once under its [start, end) (a re-delivered
 * request overwrites its own window); the looks of a verdict are the stored windows ending no
 * later than its own, oldest first, skipping overlapping (widened) ones, added up bucket by
 * bucket on the boundaries every one of them shares (`accumulateHistograms`).
 *
 * `HistogramHistory` keeps them in memory; `KvHistogramHistory` in the comparison counts' KV
 * bucket (keys `lat.<sha256>`), so that a restarted analyzer continues the sequential test.
 */
import { createHash } from 'node:crypto';
import type { HistogramBucket, HistogramSnapshot, TimeWindow } from '@aviary/judge';
import type { KV } from '@nats-io/kv';
import {
  type ComparisonKey,
  DEFAULT_MAX_WINDOWS,
  type KvCountHistoryOptions,
  keyId,
  openComparisonBucket,
  updateEntry,
} from './count-history.ts';
import { accumulateHistograms } from './samples.ts';

/** One window's histograms as measured (not cumulative over time). */
export interface StoredHistogram {
  readonly window: TimeWindow;
  readonly histograms: HistogramSnapshot;
}

/** What a latency comparison verdict is judged on. */
export interface HistogramLooks {
  /** The windows judged, oldest first, each with its own histograms. */
  readonly windows: readonly StoredHistogram[];
  /** Their cumulative snapshots, one per look. */
  readonly looks: readonly HistogramSnapshot[];
}

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

/** `stored` with `window`'s histograms put in (replacing the same window), sorted, bounded. */
export function mergeHistogramWindow(
  stored: readonly StoredHistogram[],
  window: TimeWindow,
  histograms: HistogramSnapshot,
  maxWindows: number = DEFAULT_MAX_WINDOWS,
): StoredHistogram[] {
  const merged = stored.filter(
    (s) => s.window.startMs !== window.startMs || s.window.endMs !== window.endMs,
  );
  merged.push({ window, histograms });
  merged.sort((a, b) => a.window.startMs - b.window.startMs || a.window.endMs - b.window.endMs);
  return merged.slice(Math.max(0, merged.length - maxWindows));
}

/** The looks of a verdict for `window`: stored windows ending no later, not overlapping. */
export function histogramLooksUpTo(
  stored: readonly StoredHistogram[],
  window: TimeWindow,
): HistogramLooks {
  const windows: StoredHistogram[] = [];
  let lastEndMs = Number.NEGATIVE_INFINITY;
  for (const s of stored) {
    if (s.window.endMs > window.endMs) continue;
    if (s.window.startMs < lastEndMs) continue;
    windows.push(s);
    lastEndMs = s.window.endMs;
  }
  return { windows, looks: accumulateHistograms(windows.map((w) => w.histograms)) };
}

/** In memory: lost on restart (the test then restarts from the next window). */
export class HistogramHistory implements LatencyHistories {
  readonly #entries = new Map<string, { lastUsedMs: number; windows: StoredHistogram[] }>();
  readonly #maxWindows: number;

  constructor(options: { readonly maxWindows?: number } = {}) {
    this.#maxWindows = options.maxWindows ?? DEFAULT_MAX_WINDOWS;
  }

  async record(
    key: ComparisonKey,
    window: TimeWindow,
    histograms: HistogramSnapshot,
    nowMs: number,
  ): Promise<HistogramLooks> {
    const id = keyId(key);
    const windows = mergeHistogramWindow(
      this.#entries.get(id)?.windows ?? [],
      window,
      histograms,
      this.#maxWindows,
    );
    this.#entries.set(id, { lastUsedMs: nowMs, windows });
    return histogramLooksUpTo(windows, window);
  }

  prune(olderThanMs: number): void {
    for (const [id, entry] of this.#entries) {
      if (entry.lastUsedMs < olderThanMs) this.#entries.delete(id);
    }
  }
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

export class KvHistogramHistory implements LatencyHistories {
  readonly #kv: KV;
  readonly #maxWindows: number;

  private constructor(kv: KV, maxWindows: number) {
    this.#kv = kv;
    this.#maxWindows = maxWindows;
  }

  /** Opens the comparison bucket (the counts' one), creating it when missing. */
  static async open(options: KvCountHistoryOptions): Promise<KvHistogramHistory> {
    const kv = await openComparisonBucket(options);
    return new KvHistogramHistory(kv, options.maxWindows ?? DEFAULT_MAX_WINDOWS);
  }

  async record(
    key: ComparisonKey,
    window: TimeWindow,
    histograms: HistogramSnapshot,
    _nowMs?: number,
  ): Promise<HistogramLooks> {
    const id = `lat.${createHash('sha256').update(keyId(key)).digest('hex')}`;
    const windows = await updateEntry<KvHistogramValue, StoredHistogram[]>(
      this.#kv,
      id,
      `latency histograms of ${keyId(key)}`,
      (stored) =>
        mergeHistogramWindow(
          stored === undefined ? [] : decodeHistograms(stored),
          window,
          histograms,
          this.#maxWindows,
        ),
      (merged) => encodeHistograms(key, merged),
    );
    return histogramLooksUpTo(windows, window);
  }

  /** Keys expire with the bucket's TTL. */
  prune(): void {}
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
