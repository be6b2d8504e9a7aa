/**
 * Counts accumulated across rounds for canary-vs-primary comparisons (the sequential test judges
 * cumulative snapshots, one per look), with the rules of `window-history.ts`: keyed by (release
 * id, cluster, check name), each window's counts stored once under its [start, end), the looks of
 * a verdict the stored windows ending no later than its own, not overlapping, accumulated.
 *
 * Two stores with the same rules: `CountHistory` in memory (tests, no NATS), and
 * `KvCountHistory` in a JetStream KV bucket (keys `cmp.<sha256>`), so that a restarted analyzer,
 * or another replica taking over a release's requests, continues the sequential test instead of
 * restarting it.
 */
import { accumulate, type CountsSnapshot, type TimeWindow } from '@aviary/judge';
import type { KV } from '@nats-io/kv';
import {
  type ComparisonKey,
  type KvHistoryOptions,
  KvWindowHistory,
  MemoryWindowHistory,
  openComparisonBucket,
  type WindowKind,
  type WindowLooks,
} from './window-history.ts';

export type { ComparisonKey };

/** One window's counts as measured (not cumulative). */
export interface StoredWindow {
  readonly window: TimeWindow;
  readonly counts: CountsSnapshot;
}

/** What a comparison verdict is judged on: the windows judged and their cumulative snapshots. */
export type ComparisonLooks = WindowLooks<StoredWindow, CountsSnapshot>;

/** Where comparison counts are kept. */
export interface ComparisonCounts {
  /** Records one window's counts and returns the looks up to it, oldest first. */
  record(
    key: ComparisonKey,
    window: TimeWindow,
    counts: CountsSnapshot,
    nowMs: number,
  ): Promise<ComparisonLooks>;
  /** Forgets keys not used since `olderThanMs` (a KV bucket expires them itself). */
  prune(olderThanMs: number): void;
}

/** The stored value of one key: the key itself (for operators reading the bucket) and its windows. */
interface KvValue {
  readonly key: ComparisonKey;
  readonly windows: readonly {
    readonly startMs: number;
    readonly endMs: number;
    readonly canary: readonly [number, number];
    readonly primary: readonly [number, number];
  }[];
}

const COUNTS: WindowKind<CountsSnapshot, StoredWindow, CountsSnapshot, KvValue> = {
  entry: (window, counts) => ({ window, counts }),
  accumulate: (windows) => accumulate(windows.map((w) => w.counts)),
  kvPrefix: 'cmp',
  what: 'comparison counts',
  encode: (key, windows) => ({
    key,
    windows: windows.map((w) => ({
      startMs: w.window.startMs,
      endMs: w.window.endMs,
      canary: [w.counts.canary.totalCount, w.counts.canary.badCount],
      primary: [w.counts.primary.totalCount, w.counts.primary.badCount],
    })),
  }),
  decode: (value) =>
    value.windows.map((w) => ({
      window: { startMs: w.startMs, endMs: w.endMs },
      counts: {
        canary: { totalCount: w.canary[0], badCount: w.canary[1] },
        primary: { totalCount: w.primary[0], badCount: w.primary[1] },
      },
    })),
};

/** In memory: lost on restart (the test then restarts from the next window). */
export class CountHistory
  extends MemoryWindowHistory<CountsSnapshot, StoredWindow, CountsSnapshot>
  implements ComparisonCounts
{
  /** `maxWindows`: windows kept per key (oldest dropped first); default 1,440. */
  constructor(options: { readonly maxWindows?: number } = {}) {
    super(COUNTS, options.maxWindows);
  }
}

export type KvCountHistoryOptions = KvHistoryOptions;

/** In a JetStream KV bucket, one entry per key, written with compare-and-set (`KvWindowHistory`). */
export class KvCountHistory
  extends KvWindowHistory<CountsSnapshot, StoredWindow, CountsSnapshot, KvValue>
  implements ComparisonCounts
{
  /** Opens the bucket, creating it (file storage, `ttlMs` per key) when missing. */
  static async open(options: KvCountHistoryOptions): Promise<KvCountHistory> {
    return new KvCountHistory(await openComparisonBucket(options), options.maxWindows);
  }

  private constructor(kv: KV, maxWindows: number | undefined) {
    super(kv, COUNTS, maxWindows);
  }
}

/** The analyzer's counts bucket for a messaging namespace's stream prefix. */
export function countsBucketName(streamPrefix: string): string {
  return `${streamPrefix}_ANALYZER_COUNTS`;
}
