import { describe, expect, it } from 'vitest';
import { evaluate, grid } from './evaluate.ts';
import { parseExpression, QueryError, splitQueries } from './query.ts';
import { SeriesStore } from './series.ts';

describe('query language', () => {
  it('parses aggregators, filters (negated, prefixed), group-by and modifiers', () => {
    const expr = parseExpression(
      'avg:istio.request.duration{env:prod,!kube_namespace:kube-*} by {kube_deployment,kube_cluster_name}.rollup(max, 60)',
      {
        allowNames: false,
      },
    );
    expect(expr).toMatchObject({
      kind: 'metric',
      aggregator: 'avg',
      metric: 'istio.request.duration',
      filters: [
        { key: 'env', value: 'prod', prefix: false, negated: false },
        { key: 'kube_namespace', value: 'kube-', prefix: true, negated: true },
      ],
      groupBy: ['kube_deployment', 'kube_cluster_name'],
      timeAggregator: 'max',
      rollupMs: 60_000,
    });
  });

  it('splits v1 queries on top-level commas only', () => {
    expect(splitQueries('sum:a{x:1,y:2} by {k,l}, sum:b{*}')).toEqual([
      'sum:a{x:1,y:2} by {k,l}',
      'sum:b{*}',
    ]);
  });

  it('rejects what it cannot parse, naming the place', () => {
    expect(() => parseExpression('sum:a{x}', { allowNames: false })).toThrow(QueryError);
    expect(() => parseExpression('sum:a{x:1} +', { allowNames: false })).toThrow(
      'unexpected end of query',
    );
    expect(() => parseExpression('err / tot', { allowNames: false })).toThrow(QueryError);
    expect(() => parseExpression('sum:a{*}) ', { allowNames: false })).toThrow('unexpected ")');
    expect(parseExpression('err / tot', { allowNames: true })).toMatchObject({
      kind: 'binary',
      op: '/',
    });
  });
});

describe('evaluation', () => {
  const store = new SeriesStore();
  store.add('hits', { app: 'a', track: 'canary' }, [
    { tMs: 0, value: 1 },
    { tMs: 5_000, value: 3 },
    { tMs: 10_000, value: 5 },
  ]);
  store.add('hits', { app: 'a', track: 'primary' }, [{ tMs: 0, value: 10 }]);
  store.add('hits', { app: 'b' }, [{ tMs: 0, value: 100 }]);

  it('aggregates in time (avg, or sum with as_count) and across series in a group', () => {
    const g = grid(0, 20_000, 10_000);
    expect(evaluate(parseExpression('sum:hits{app:a}', { allowNames: false }), store, g)).toEqual([
      { tags: [], values: [12, 5] },
    ]);
    expect(
      evaluate(parseExpression('sum:hits{app:a}.as_count()', { allowNames: false }), store, g),
    ).toEqual([{ tags: [], values: [14, 5] }]);
    expect(
      evaluate(parseExpression('max:hits{*} by {track}', { allowNames: false }), store, g),
    ).toEqual([
      { tags: ['track:canary'], values: [2, 5] },
      { tags: ['track:primary'], values: [10, null] },
      { tags: ['track:N/A'], values: [100, null] },
    ]);
    expect(
      evaluate(
        parseExpression('sum:hits{app:a}.as_count().as_rate()', { allowNames: false }),
        store,
        g,
      ),
    ).toEqual([{ tags: [], values: [1.4, 0.5] }]);
  });

  it('joins groups on their tags, broadcasts a tagless side, and gives null for missing data or division by zero', () => {
    const g = grid(0, 20_000, 10_000);
    const ratio = evaluate(
      parseExpression('sum:hits{*} by {track} / sum:hits{app:a}', { allowNames: false }),
      store,
      g,
    );
    expect(ratio).toEqual([
      { tags: ['track:canary'], values: [2 / 12, 1] },
      { tags: ['track:primary'], values: [10 / 12, null] },
      { tags: ['track:N/A'], values: [100 / 12, null] },
    ]);
    expect(
      evaluate(parseExpression('sum:hits{app:a} / 0', { allowNames: false }), store, g),
    ).toEqual([{ tags: [], values: [null, null] }]);
  });

  it('aligns buckets to the step and widens the step past 1,500 points', () => {
    expect(grid(15_000, 40_000, 10_000).times).toEqual([10_000, 20_000, 30_000]);
    const wide = grid(0, 86_400_000, 10_000);
    expect(wide.times.length).toBeLessThanOrEqual(1500);
    expect(wide.stepMs).toBe(80_000);
  });
});
