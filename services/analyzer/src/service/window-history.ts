/**
 * The rules shared by the comparison histories (`count-history.ts`, `histogram-history.ts`),
 * generic in what one window holds. Keyed by (release id, cluster, check name); each window's
 * value is stored once under its [start, end), so a re-delivered request overwrites its own window
 * instead of counting twice. The looks of a verdict are the stored windows ending no later than
 * its own, oldest first, skipping any that overlap an earlier one (a widened window), and
 * accumulated: the same stored windows always give the same snapshots.
 *
 * Two stores: `MemoryWindowHistory` (tests, no NATS) and `KvWindowHistory`, one JetStream KV entry
 * per key holding all its windows, so that a restarted analyzer, or another replica taking over a
 * release's requests, continues the sequential test instead of restarting it. What differs between
 * counts and histograms (the entry's shape, how windows add up, the stored form) is a `WindowKind`.
 */
import { createHash } from 'node:crypto';
import { AviaryError, ErrorCode } from '@aviary/core';
import type { TimeWindow } from '@aviary/judge';
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';

export interface ComparisonKey {
  readonly releaseId: string;
  readonly cluster: string;
  readonly checkName: string;
}

/** Windows kept per key by default (oldest dropped first): a day of one-minute looks. */
export const DEFAULT_MAX_WINDOWS = 1440;

/** One stored window: its bounds and what was measured in it (not cumulative). */
export interface WindowEntry {
  readonly window: TimeWindow;
}

/** What a comparison verdict is judged on. */
export interface WindowLooks<Entry, Snapshot> {
  /** The windows judged, oldest first, each with its own measurement. */
  readonly windows: readonly Entry[];
  /** Their cumulative snapshots, one per look. */
  readonly looks: readonly Snapshot[];
}

/** What one kind of history stores per window, how windows add up, and its KV form. */
export interface WindowKind<Value, Entry extends WindowEntry, Snapshot, Stored> {
  /** The entry of `window` measuring `value`. */
  entry(window: TimeWindow, value: Value): Entry;
  /** The cumulative snapshots of `entries` (oldest first), one per look. */
  accumulate(entries: readonly Entry[]): Snapshot[];
  /** The KV key's prefix (`<prefix>.<sha256 of the key>`): kinds share a bucket. */
  readonly kvPrefix: string;
  /** Names the kind in errors, e.g. `comparison counts`. */
  readonly what: string;
  /** The stored form of a key's windows (compact: NATS messages stay under 1 MiB). */
  encode(key: ComparisonKey, entries: readonly Entry[]): Stored;
  decode(stored: Stored): Entry[];
}

/** `stored` with `entry` put in (replacing the same window), sorted, bounded. */
export function mergeEntry<Entry extends WindowEntry>(
  stored: readonly Entry[],
  entry: Entry,
  maxWindows: number = DEFAULT_MAX_WINDOWS,
): Entry[] {
  const { window } = entry;
  const merged = stored.filter(
    (s) => s.window.startMs !== window.startMs || s.window.endMs !== window.endMs,
  );
  merged.push(entry);
  merged.sort((a, b) => a.window.startMs - b.window.startMs || a.window.endMs - b.window.endMs);
  return merged.slice(Math.max(0, merged.length - maxWindows));
}

/** The looks of a verdict for `window`: stored windows ending no later, not overlapping. */
export function entriesUpTo<Entry extends WindowEntry, Snapshot>(
  stored: readonly Entry[],
  window: TimeWindow,
  accumulate: (entries: readonly Entry[]) => Snapshot[],
): WindowLooks<Entry, Snapshot> {
  const windows: Entry[] = [];
  let lastEndMs = Number.NEGATIVE_INFINITY;
  for (const s of stored) {
    if (s.window.endMs > window.endMs) continue;
    if (s.window.startMs < lastEndMs) continue;
    windows.push(s);
    lastEndMs = s.window.endMs;
  }
  return { windows, looks: accumulate(windows) };
}

export function keyId(key: ComparisonKey): string {
  return JSON.stringify([key.releaseId, key.cluster, key.checkName]);
}

/** In memory: lost on restart (the test then restarts from the next window). */
export class MemoryWindowHistory<Value, Entry extends WindowEntry, Snapshot> {
  readonly #kind: WindowKind<Value, Entry, Snapshot, unknown>;
  readonly #entries = new Map<string, { lastUsedMs: number; windows: Entry[] }>();
  readonly #maxWindows: number;

  constructor(kind: WindowKind<Value, Entry, Snapshot, unknown>, maxWindows?: number) {
    this.#kind = kind;
    this.#maxWindows = maxWindows ?? DEFAULT_MAX_WINDOWS;
  }

  /** Records one window's value and returns the looks up to it, oldest first. */
  async record(
    key: ComparisonKey,
    window: TimeWindow,
    value: Value,
    nowMs: number,
  ): Promise<WindowLooks<Entry, Snapshot>> {
    const id = keyId(key);
    const windows = mergeEntry(
      this.#entries.get(id)?.windows ?? [],
      this.#kind.entry(window, value),
      this.#maxWindows,
    );
    this.#entries.set(id, { lastUsedMs: nowMs, windows });
    return entriesUpTo(windows, window, this.#kind.accumulate);
  }

  /** Forgets keys not used since `olderThanMs`. */
  prune(olderThanMs: number): void {
    for (const [id, entry] of this.#entries) {
      if (entry.lastUsedMs < olderThanMs) this.#entries.delete(id);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}

export interface KvHistoryOptions {
  readonly jetstream: JetStreamClient;
  /** The bucket, e.g. `AVIARY_ANALYZER_COUNTS` (`countsBucketName(streamPrefix)`). */
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
 * same release at once both land (the loser re-reads and merges). Keys are the kind's prefix and a
 * SHA-256 of the comparison key (KV keys allow few characters); the value names the key in clear.
 */
export class KvWindowHistory<Value, Entry extends WindowEntry, Snapshot, Stored> {
  readonly #kv: KV;
  readonly #kind: WindowKind<Value, Entry, Snapshot, Stored>;
  readonly #maxWindows: number;

  protected constructor(
    kv: KV,
    kind: WindowKind<Value, Entry, Snapshot, Stored>,
    maxWindows?: number,
  ) {
    this.#kv = kv;
    this.#kind = kind;
    this.#maxWindows = maxWindows ?? DEFAULT_MAX_WINDOWS;
  }

  /** Records one window's value and returns the looks up to it, oldest first. */
  async record(
    key: ComparisonKey,
    window: TimeWindow,
    value: Value,
    _nowMs?: number,
  ): Promise<WindowLooks<Entry, Snapshot>> {
    const kind = this.#kind;
    const id = `${kind.kvPrefix}.${createHash('sha256').update(keyId(key)).digest('hex')}`;
    const windows = await updateEntry<Stored, Entry[]>(
      this.#kv,
      id,
      `${kind.what} of ${keyId(key)}`,
      (stored) =>
        mergeEntry(
          stored === undefined ? [] : kind.decode(stored),
          kind.entry(window, value),
          this.#maxWindows,
        ),
      (merged) => kind.encode(key, merged),
    );
    return entriesUpTo(windows, window, kind.accumulate);
  }

  /** Keys expire with the bucket's TTL. */
  prune(): void {}
}

/** Opens the comparison bucket (counts and histograms), creating it when missing. */
export function openComparisonBucket(options: KvHistoryOptions): Promise<KV> {
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
async function updateEntry<Stored, State>(
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
