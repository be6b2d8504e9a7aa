/**
 * Counts accumulated across rounds for canary-vs-primary comparisons (the sequential test judges
 * cumulative snapshots, one per look). Keyed by (release id, cluster, check name); each window's
 * counts are stored once under its [start, end), so a re-delivered request overwrites its own
 * window instead of counting twice. The looks of a verdict are the stored windows ending no later
 * than its own, oldest first, skipping any that overlap an earlier one (a widened window), and
 * accumulated: the same stored windows always give the same snapshots.
 *
 * Two stores with the same rules: `CountHistory` in memory (tests, no NATS), and
 * `KvCountHistory` in a JetStream KV bucket, so that a restarted analyzer, or another replica
 * taking over a release's requests, continues the sequential test instead of restarting it.
 */
import { createHash } from 'node:crypto';
import { AviaryError, ErrorCode } from '@aviary/core';
import { accumulate, type CountsSnapshot, type TimeWindow } from '@aviary/judge';
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';

export interface ComparisonKey {
  readonly releaseId: string;
  readonly cluster: string;
  readonly checkName: string;
}

/** One window's counts as measured (not cumulative). */
export interface StoredWindow {
  readonly window: TimeWindow;
  readonly counts: CountsSnapshot;
}

/** What a comparison verdict is judged on. */
export interface ComparisonLooks {
  /** The windows judged, oldest first, each with its own counts. */
  readonly windows: readonly StoredWindow[];
  /** Their cumulative snapshots, one per look. */
  readonly looks: readonly CountsSnapshot[];
}

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

/** Windows kept per key by default (oldest dropped first): a day of one-minute looks. */
export const DEFAULT_MAX_WINDOWS = 1440;

/** `stored` with `window`'s counts put in (replacing the same window), sorted, bounded. */
export function mergeWindow(
  stored: readonly StoredWindow[],
  window: TimeWindow,
  counts: CountsSnapshot,
  maxWindows: number = DEFAULT_MAX_WINDOWS,
): StoredWindow[] {
  const merged = stored.filter(
    (s) => s.window.startMs !== window.startMs || s.window.endMs !== window.endMs,
  );
  merged.push({ window, counts });
  merged.sort((a, b) => a.window.startMs - b.window.startMs || a.window.endMs - b.window.endMs);
  return merged.slice(Math.max(0, merged.length - maxWindows));
}

/** The looks of a verdict for `window`: stored windows ending no later, not overlapping. */
export function looksUpTo(stored: readonly StoredWindow[], window: TimeWindow): ComparisonLooks {
  const windows: StoredWindow[] = [];
  let lastEndMs = Number.NEGATIVE_INFINITY;
  for (const s of stored) {
    if (s.window.endMs > window.endMs) continue;
    if (s.window.startMs < lastEndMs) continue;
    windows.push(s);
    lastEndMs = s.window.endMs;
  }
  return { windows, looks: accumulate(windows.map((w) => w.counts)) };
}

export function keyId(key: ComparisonKey): string {
  return JSON.stringify([key.releaseId, key.cluster, key.checkName]);
}

/** In memory: lost on restart (the test then restarts from the next window). */
export class CountHistory implements ComparisonCounts {
  readonly #entries = new Map<string, { lastUsedMs: number; windows: StoredWindow[] }>();
  readonly #maxWindows: number;

  /** `maxWindows`: windows kept per key (oldest dropped first); default 1,440. */
  constructor(options: { readonly maxWindows?: number } = {}) {
    this.#maxWindows = options.maxWindows ?? DEFAULT_MAX_WINDOWS;
  }

  async record(
    key: ComparisonKey,
    window: TimeWindow,
    counts: CountsSnapshot,
    nowMs: number,
  ): Promise<ComparisonLooks> {
    const id = keyId(key);
    const windows = mergeWindow(
      this.#entries.get(id)?.windows ?? [],
      window,
      counts,
      this.#maxWindows,
    );
    this.#entries.set(id, { lastUsedMs: nowMs, windows });
    return looksUpTo(windows, window);
  }

  prune(olderThanMs: number): void {
    for (const [id, entry] of this.#entries) {
      if (entry.lastUsedMs < olderThanMs) this.#entries.delete(id);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
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

export interface KvCountHistoryOptions {
  readonly jetstream: JetStreamClient;
  /** The bucket, e.g. `AVIARY_ANALYZER_COUNTS` (`kvBucketName(namespace)`). */
  readonly bucket: string;
  /** How long a key lives after its last write; default 48 h (a release's analysis is shorter). */
  readonly ttlMs?: number;
  /** Stream replicas of the bucket (3 in a JetStream cluster); default 1. */
  readonly replicas?: number;
  readonly maxWindows?: number;
}

/**
 * In a JetStream KV bucket, one entry per (release, cluster, check) holding all its windows,
 * written with compare-and-set on the entry's revision: two replicas recording windows of the
 * same release at once both land (the loser re-reads and merges). Keys are a SHA-256 of the
 * comparison key (KV keys allow few characters); the value names the key in clear.
 */
export class KvCountHistory implements ComparisonCounts {
  readonly #kv: KV;
  readonly #maxWindows: number;

  private constructor(kv: KV, maxWindows: number) {
    this.#kv = kv;
    this.#maxWindows = maxWindows;
  }

  /** Opens the bucket, creating it (file storage, `ttlMs` per key) when missing. */
  static async open(options: KvCountHistoryOptions): Promise<KvCountHistory> {
    const kv = await openComparisonBucket(options);
    return new KvCountHistory(kv, options.maxWindows ?? DEFAULT_MAX_WINDOWS);
  }

  async record(
    key: ComparisonKey,
    window: TimeWindow,
    counts: CountsSnapshot,
    _nowMs?: number,
  ): Promise<ComparisonLooks> {
    const id = `cmp.${createHash('sha256').update(keyId(key)).digest('hex')}`;
    const windows = await updateEntry<KvValue, StoredWindow[]>(
      this.#kv,
      id,
      `comparison counts of ${keyId(key)}`,
      (stored) =>
        mergeWindow(
          stored === undefined ? [] : decodeWindows(stored),
          window,
          counts,
          this.#maxWindows,
        ),
      (merged) => encodeWindows(key, merged),
    );
    return looksUpTo(windows, window);
  }

  /** Keys expire with the bucket's TTL. */
  prune(): void {}
}

/** Opens the comparison bucket (counts and histograms), creating it when missing. */
export function openComparisonBucket(options: KvCountHistoryOptions): Promise<KV> {
  return new Kvm(options.jetstream).create(options.bucket, {
    history: 1,
    ttl: options.ttlMs ?? 48 * 3_600_000,
    replicas: options.replicas ?? 1,
  });
}

/**
 * Read, merge, write back one KV entry with compare-and-set on its revision: a conflicting
 * writer (another replica) makes this one re-read and merge again, up to 16 times. `merge` gets
 * the stored value (undefined when missing) and returns the new state; `encode` its stored form.
 */
export async function updateEntry<Stored, State>(
  kv: KV,
  id: string,
  what: string,
  merge: (stored: Stored | undefined) => State,
  encode: (state: State) => Stored,
): Promise<State> {
  for (let attempt = 0; attempt < 16; attempt++) {
    const entry = await kv.get(id);
    const exists = entry !== null && entry.operation === 'PUT' && entry.length > 0;
    const state = merge(exists ? entry.json<Stored>() : undefined);
    const value = new TextEncoder().encode(JSON.stringify(encode(state)));
    try {
      if (entry === null) await kv.create(id, value);
      else await kv.update(id, value, entry.revision);
      return state;
    } catch (error) {
      // Another writer got there first (wrong last sequence, or the key now exists): re-read.
      if (!isConflict(error)) throw error;
    }
  }
  throw new AviaryError(ErrorCode.Concurrency, `${what}: too many concurrent writers`);
}

function isConflict(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${String(error.cause ?? '')}` : '';
  return /wrong last sequence|exists/i.test(text);
}

function encodeWindows(key: ComparisonKey, windows: readonly StoredWindow[]): KvValue {
  return {
    key,
    windows: windows.map((w) => ({
      startMs: w.window.startMs,
      endMs: w.window.endMs,
      canary: [w.counts.canary.totalCount, w.counts.canary.badCount],
      primary: [w.counts.primary.totalCount, w.counts.primary.badCount],
    })),
  };
}

function decodeWindows(value: KvValue): StoredWindow[] {
  return value.windows.map((w) => ({
    window: { startMs: w.startMs, endMs: w.endMs },
    counts: {
      canary: { totalCount: w.canary[0], badCount: w.canary[1] },
      primary: { totalCount: w.primary[0], badCount: w.primary[1] },
    },
  }));
}

/** The analyzer's counts bucket for a messaging namespace's stream prefix. */
export function countsBucketName(streamPrefix: string): string {
  return `${streamPrefix}_ANALYZER_COUNTS`;
}
