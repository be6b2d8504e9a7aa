import type { TagFilter } from './query.ts';

export interface Point {
  readonly tMs: number;
  readonly value: number;
}

export interface StoredSeries {
  readonly metric: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly points: Point[];
}

/**
 * The metric data the simulator answers from: points per (metric, tag set), as an agent would
 * have submitted them. The traffic simulator (or a test) feeds it.
 */
export class SeriesStore {
  readonly #byMetric = new Map<string, Map<string, StoredSeries>>();

  /** Adds points to the series of `metric` with exactly these tags (created on first use). */
  add(metric: string, tags: Readonly<Record<string, string>>, points: readonly Point[]): void {
    let series = this.#byMetric.get(metric);
    if (!series) {
      series = new Map();
      this.#byMetric.set(metric, series);
    }
    const key = tagKey(tags);
    let stored = series.get(key);
    if (!stored) {
      stored = { metric, tags: { ...tags }, points: [] };
      series.set(key, stored);
    }
    for (const point of points) {
      if (!Number.isFinite(point.tMs) || !Number.isFinite(point.value)) {
        throw new RangeError(`a point of ${metric} is not finite: ${JSON.stringify(point)}`);
      }
    }
    stored.points.push(...points);
    stored.points.sort((a, b) => a.tMs - b.tMs);
  }

  /** The series of `metric` whose tags pass every filter. */
  select(metric: string, filters: readonly TagFilter[]): StoredSeries[] {
    const series = this.#byMetric.get(metric);
    if (!series) return [];
    return [...series.values()].filter((s) => filters.every((f) => passes(s.tags, f)));
  }

  /** Drops points older than `beforeMs` (bounded memory for long runs). */
  prune(beforeMs: number): void {
    for (const series of this.#byMetric.values()) {
      for (const stored of series.values()) {
        const keep = stored.points.findIndex((p) => p.tMs >= beforeMs);
        stored.points.splice(0, keep < 0 ? stored.points.length : keep);
      }
    }
  }
}

function passes(tags: Readonly<Record<string, string>>, filter: TagFilter): boolean {
  const value = tags[filter.key];
  const match =
    value !== undefined &&
    (filter.prefix ? value.startsWith(filter.value) : value === filter.value);
  return filter.negated ? !match : match;
}

export function tagKey(tags: Readonly<Record<string, string>>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}:${tags[k]}`)
    .join(',');
}
