/**
 * Counts accumulated across rounds for canary-vs-primary comparisons (the sequential test judges
 * cumulative snapshots, one per look). Keyed by (release id, cluster, check name); each window's
 * counts are stored once under its [start, end), so a re-delivered request overwrites its own
 * window instead of counting twice. The looks of a verdict are the stored windows ending no later
 * than its own, oldest first, skipping any that overlap an earlier one (a widened window), and
 * accumulated: the same stored windows always give the same snapshots. In memory: lost on restart
 * (the test then restarts from the next window; see docs/analyzer-service.md).
 */
import { accumulate, type CountsSnapshot, type TimeWindow } from '@aviary/judge';

interface Entry {
  lastUsedMs: number;
  readonly windows: Map<string, { readonly window: TimeWindow; readonly counts: CountsSnapshot }>;
}

export interface ComparisonKey {
  readonly releaseId: string;
  readonly cluster: string;
  readonly checkName: string;
}

export class CountHistory {
  readonly #entries = new Map<string, Entry>();
  readonly #maxWindows: number;

  /** `maxWindows`: windows kept per key (oldest dropped first); default 1,440 (a day of minutes). */
  constructor(options: { readonly maxWindows?: number } = {}) {
    this.#maxWindows = options.maxWindows ?? 1440;
  }

  /** Records one window's counts and returns the cumulative snapshots up to it, oldest first. */
  record(
    key: ComparisonKey,
    window: TimeWindow,
    counts: CountsSnapshot,
    nowMs: number,
  ): CountsSnapshot[] {
    const id = JSON.stringify([key.releaseId, key.cluster, key.checkName]);
    let entry = this.#entries.get(id);
    if (entry === undefined) {
      entry = { lastUsedMs: nowMs, windows: new Map() };
      this.#entries.set(id, entry);
    }
    entry.lastUsedMs = nowMs;
    entry.windows.set(JSON.stringify([window.startMs, window.endMs]), { window, counts });
    const ordered = [...entry.windows.values()].sort(
      (a, b) => a.window.startMs - b.window.startMs || a.window.endMs - b.window.endMs,
    );
    while (ordered.length > this.#maxWindows) {
      const oldest = ordered.shift();
      if (oldest !== undefined) {
        entry.windows.delete(JSON.stringify([oldest.window.startMs, oldest.window.endMs]));
      }
    }
    const looks: CountsSnapshot[] = [];
    let lastEndMs = Number.NEGATIVE_INFINITY;
    for (const stored of ordered) {
      if (stored.window.endMs > window.endMs) continue;
      if (stored.window.startMs < lastEndMs) continue;
      looks.push(stored.counts);
      lastEndMs = stored.window.endMs;
    }
    return accumulate(looks);
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
