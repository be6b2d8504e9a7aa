import { type Expr, type MetricQuery, QueryError } from './query.ts';
import type { SeriesStore } from './series.ts';

/** The time buckets of a query: starts aligned to the step, from the bucket holding `fromMs` up to `toMs` (exclusive). */
export interface Grid {
  readonly times: readonly number[];
  readonly stepMs: number;
}

/** One group of a result: its `by` tags (`key:value`) and a value per bucket (null: no data). */
export interface Group {
  readonly tags: readonly string[];
  readonly values: readonly (number | null)[];
}

const MAX_POINTS = 1500;

/** The grid for [fromMs, toMs) at `stepMs`, widened (as Datadog does) when it would hold too many points. */
export function grid(fromMs: number, toMs: number, stepMs: number): Grid {
  let step = Math.max(1000, Math.round(stepMs / 1000) * 1000);
  while ((toMs - fromMs) / step > MAX_POINTS) step *= 2;
  const times: number[] = [];
  for (let t = Math.floor(fromMs / step) * step; t < toMs; t += step) times.push(t);
  return { times, stepMs: step };
}

/** Datadog's default v1 interval: about 300 points over the range, at least 10 s, whole 10 s. */
export function defaultStepMs(fromMs: number, toMs: number): number {
  return Math.max(10_000, Math.ceil((toMs - fromMs) / 300 / 10_000) * 10_000);
}

/** Evaluates an expression; `names` resolves v2 formula references to their queries' results. */
export function evaluate(
  expr: Expr,
  store: SeriesStore,
  g: Grid,
  names: ReadonlyMap<string, readonly Group[]> = new Map(),
): Group[] {
  switch (expr.kind) {
    case 'metric':
      return evaluateMetric(expr, store, g);
    case 'number':
      return [{ tags: [], values: g.times.map(() => expr.value) }];
    case 'name': {
      const groups = names.get(expr.name);
      if (!groups)
        throw new QueryError(
          `formula refers to an unknown query name ${JSON.stringify(expr.name)}`,
        );
      return [...groups];
    }
    case 'negate':
      return evaluate(expr.operand, store, g, names).map((group) => ({
        tags: group.tags,
        values: group.values.map((v) => (v === null ? null : -v)),
      }));
    case 'binary':
      return combine(
        expr.op,
        evaluate(expr.left, store, g, names),
        evaluate(expr.right, store, g, names),
      );
    default: {
      const never: never = expr;
      throw new QueryError(`unknown expression ${JSON.stringify(never)}`);
    }
  }
}

function evaluateMetric(query: MetricQuery, store: SeriesStore, g: Grid): Group[] {
  const groups = new Map<string, { tags: string[]; buckets: (number | null)[][] }>();
  for (const series of store.select(query.metric, query.filters)) {
    const tags = query.groupBy.map((key) => `${key}:${series.tags[key] ?? 'N/A'}`);
    const key = tags.join(',');
    let group = groups.get(key);
    if (!group) {
      group = { tags, buckets: [] };
      groups.set(key, group);
    }
    group.buckets.push(bucketSeries(series.points, query, g));
  }
  return [...groups.values()].map(({ tags, buckets }) => ({
    tags,
    values: g.times.map((_, i) =>
      aggregate(
        query.aggregator,
        buckets.map((b) => b[i] ?? null),
      ),
    ),
  }));
}

/** One series' value per bucket, combining the points inside a bucket by the time aggregator. */
function bucketSeries(
  points: readonly { tMs: number; value: number }[],
  query: MetricQuery,
  g: Grid,
): (number | null)[] {
  const first = g.times[0] ?? 0;
  const inBucket: number[][] = g.times.map(() => []);
  for (const point of points) {
    const index = Math.floor((point.tMs - first) / g.stepMs);
    if (index >= 0 && index < g.times.length) inBucket[index]?.push(point.value);
  }
  return inBucket.map((values) => {
    const value = aggregate(query.timeAggregator, values);
    return value === null || !query.asRate ? value : value / (g.stepMs / 1000);
  });
}

function aggregate(
  how: 'sum' | 'avg' | 'min' | 'max',
  values: readonly (number | null)[],
): number | null {
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return null;
  switch (how) {
    case 'sum':
      return present.reduce((a, b) => a + b, 0);
    case 'avg':
      return present.reduce((a, b) => a + b, 0) / present.length;
    case 'min':
      return Math.min(...present);
    case 'max':
      return Math.max(...present);
    default: {
      const never: never = how;
      throw new QueryError(`unknown aggregator ${String(never)}`);
    }
  }
}

/** Point-wise arithmetic; groups join on equal tags, and a tagless side applies to every group. */
function combine(op: '+' | '-' | '*' | '/', left: Group[], right: Group[]): Group[] {
  const apply = (a: number | null, b: number | null): number | null => {
    if (a === null || b === null) return null;
    switch (op) {
      case '+':
        return a + b;
      case '-':
        return a - b;
      case '*':
        return a * b;
      case '/':
        return b === 0 ? null : a / b;
      default: {
        const never: never = op;
        throw new QueryError(`unknown operator ${String(never)}`);
      }
    }
  };
  const pair = (l: Group, r: Group): Group => ({
    tags: l.tags.length > 0 ? l.tags : r.tags,
    values: l.values.map((v, i) => apply(v, r.values[i] ?? null)),
  });
  const scalarLeft = left.length === 1 && left[0]?.tags.length === 0;
  const scalarRight = right.length === 1 && right[0]?.tags.length === 0;
  if (scalarRight && right[0]) return left.map((l) => pair(l, right[0] as Group));
  if (scalarLeft && left[0]) return right.map((r) => pair(left[0] as Group, r));
  const byTags = new Map(right.map((r) => [r.tags.join(','), r]));
  return left.flatMap((l) => {
    const r = byTags.get(l.tags.join(','));
    return r ? [pair(l, r)] : [];
  });
}
