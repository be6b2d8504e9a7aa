import { describe, expect, it } from 'vitest';
import { chunkBy, distinctLeaves, formulaOf, splitExpression } from './datadog-query.ts';

const ERR =
  'sum:trace.http.request.errors{kube_namespace:shop,env:prod} by {kube_deployment}.as_count()';
const HITS =
  'sum:trace.http.request.hits{kube_namespace:shop} by {kube_deployment,kube_cluster_name}.as_count()';

function split(expression: string) {
  const result = splitExpression(expression);
  if ('error' in result) throw new Error(result.error);
  return result;
}

describe('splitting a Datadog expression into v2 queries and a formula', () => {
  it('keeps a plain metric query whole, modifiers and rollup arguments included', () => {
    const s = split(' sum:a.b{*}.rollup(sum, 60).as_count() ');
    expect(s.leaves).toEqual(['sum:a.b{*}.rollup(sum, 60).as_count()']);
    expect(formulaOf(s, () => 'q0')).toBe('q0');
  });

  it('moves arithmetic, numbers, parentheses and functions into the formula', () => {
    const s = split(`100 - (${ERR} / ${HITS}) * 100`);
    expect(s.leaves).toEqual([ERR, HITS]);
    const names = new Map([
      [ERR, 'q0'],
      [HITS, 'q1'],
    ]);
    expect(formulaOf(s, (leaf) => names.get(leaf) ?? '?')).toBe('100 - (q0 / q1) * 100');
    const f = split(`abs(${ERR} - 1.5e2)`);
    expect(formulaOf(f, () => 'a')).toBe('abs(a - 1.5e2)');
  });

  it('shares a query used twice, also across expressions', () => {
    const a = split(`${HITS} / ${HITS}`);
    expect(a.leaves).toEqual([HITS]);
    const b = split(`${ERR} / ${HITS}`);
    expect(distinctLeaves([a, b])).toEqual([HITS, ERR]);
  });

  it('accepts metric queries without an aggregator and scopes with odd tag values', () => {
    expect(split('system.cpu.user{host:web-1,path:/a/b*}').leaves).toEqual([
      'system.cpu.user{host:web-1,path:/a/b*}',
    ]);
  });

  it('refuses what would be several queries or is not an expression', () => {
    const error = (e: string) => {
      const r = splitExpression(e);
      return 'error' in r ? r.error : undefined;
    };
    expect(error('')).toMatch(/empty/);
    expect(error(`${ERR},${HITS}`)).toMatch(/one query per request/);
    expect(error('sum:x{env:prod')).toMatch(/missing "}"/);
    expect(error('sum:x{*} by {a')).toMatch(/missing "}"/);
    expect(error('(sum:x{*}')).toMatch(/unbalanced/);
    expect(error('sum:x{*})')).toMatch(/unbalanced/);
    expect(error('sum:x{*}.rollup(sum')).toMatch(/unbalanced/);
    expect(error('sum:x{*} & 1')).toMatch(/unexpected "&"/);
    expect(error('foo + sum:x{*}')).toMatch(/neither a metric query/);
    expect(error('1 + 2')).toMatch(/no metric query/);
    expect(error('sum:{*}')).toMatch(/metric name/);
  });
});

describe('chunking', () => {
  it('starts a new chunk when the next item would not fit, never leaves one empty', () => {
    const chunks = chunkBy([1, 2, 3, 4, 5], (chunk) => chunk.reduce((a, b) => a + b, 0) <= 6);
    expect(chunks).toEqual([[1, 2, 3], [4], [5]]);
    expect(chunkBy([9], () => false)).toEqual([[9]]);
    expect(chunkBy([], () => true)).toEqual([]);
  });
});
