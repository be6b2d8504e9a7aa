/**
 * Turning Datadog query expressions into v2 request bodies and v1 query strings: pure, no I/O.
 *
 * A request's query is one Datadog expression, as a v1 query or a dashboard would hold it:
 * metric queries (`sum:trace.http.request.errors{env:prod} by {kube_deployment}.as_count()`)
 * combined with arithmetic, numbers, parentheses and formula functions (`abs(…)`). The v2 API
 * refuses arithmetic and functions inside a metrics query ("Functions are not supported in
 * metrics data source field. Use the formulas payload."), so each expression is split into its
 * metric queries (named `q0`, `q1`, … within one HTTP request, identical ones shared across the
 * batch) and a formula over those names. v1 takes the expressions as they are, comma-joined.
 */

/** One expression split for v2: its metric queries, and a formula with holes for them. */
export interface SplitExpression {
  /** The metric queries, in order of appearance, de-duplicated. */
  readonly leaves: readonly string[];
  /** The formula's text pieces, and in between (numbers) the index in `leaves` of a query. */
  readonly template: readonly (string | number)[];
}

const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_.]/;
const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;

/**
 * Splits one expression into metric queries and a formula, or says why it cannot: an empty
 * expression, a top-level comma (one expression per request), unbalanced parentheses or braces,
 * or a character that belongs to none of metric query, number, operator or function call.
 */
export function splitExpression(expression: string): SplitExpression | { readonly error: string } {
  const leaves: string[] = [];
  const template: (string | number)[] = [];
  let depth = 0;
  let i = 0;
  const s = expression;
  if (s.trim() === '') return { error: 'the query is empty' };
  while (i < s.length) {
    const c = s.charAt(i);
    if (/\s/.test(c) || c === '+' || c === '-' || c === '*' || c === '/') {
      template.push(c);
      i++;
    } else if (c === '(') {
      depth++;
      template.push(c);
      i++;
    } else if (c === ')') {
      depth--;
      if (depth < 0) return { error: `unbalanced ")" at offset ${i}` };
      template.push(c);
      i++;
    } else if (c === ',') {
      if (depth === 0) {
        return { error: 'a top-level "," would make several queries: send one query per request' };
      }
      template.push(c);
      i++;
    } else if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) return { error: `unterminated string at offset ${i}` };
      template.push(s.slice(i, end + 1));
      i = end + 1;
    } else if (/\d|\./.test(c)) {
      const match = NUMBER.exec(s.slice(i));
      if (match === null) return { error: `unexpected "${c}" at offset ${i}` };
      template.push(match[0]);
      i += match[0].length;
    } else if (IDENTIFIER_START.test(c)) {
      let j = i + 1;
      while (j < s.length && IDENTIFIER_PART.test(s.charAt(j))) j++;
      const next = s.charAt(j);
      if (next === ':' || next === '{') {
        const end = metricQueryEnd(s, j);
        if (typeof end === 'string') return { error: end };
        const leaf = s.slice(i, end).trim();
        let index = leaves.indexOf(leaf);
        if (index < 0) index = leaves.push(leaf) - 1;
        template.push(index);
        i = end;
      } else if (s.slice(j).trimStart().startsWith('(')) {
        template.push(s.slice(i, j)); // a formula function: abs(…), timeshift(…), …
        i = j;
      } else {
        return {
          error: `"${s.slice(i, j)}" at offset ${i} is neither a metric query (aggregator:metric{scope}) nor a function`,
        };
      }
    } else {
      return { error: `unexpected "${c}" at offset ${i}` };
    }
  }
  if (depth !== 0) return { error: 'unbalanced "("' };
  if (leaves.length === 0) return { error: 'no metric query (aggregator:metric{scope}) found' };
  return { leaves, template };
}

/**
 * Where the metric query that continues at `from` (just after its `aggregator` or metric name)
 * ends: `[:metric]{scope}[ by {tags}](.function(args))*`.
 */
function metricQueryEnd(s: string, from: number): number | string {
  let i = from;
  if (s.charAt(i) === ':') {
    i++;
    const start = i;
    while (i < s.length && IDENTIFIER_PART.test(s.charAt(i))) i++;
    if (i === start) return `a metric name must follow ":" at offset ${start}`;
  }
  if (s.charAt(i) !== '{') return `a metric query needs a scope "{…}" at offset ${i}`;
  const scopeEnd = s.indexOf('}', i);
  if (scopeEnd < 0) return `missing "}" after the scope at offset ${i}`;
  i = scopeEnd + 1;
  const by = /^\s+by\s*\{/.exec(s.slice(i));
  if (by !== null) {
    const groupEnd = s.indexOf('}', i + by[0].length);
    if (groupEnd < 0) return `missing "}" after "by {" at offset ${i}`;
    i = groupEnd + 1;
  }
  for (;;) {
    const call = /^\.[A-Za-z_][A-Za-z0-9_]*\(/.exec(s.slice(i));
    if (call === null) return i;
    let depth = 0;
    let j = i + call[0].length - 1;
    for (; j < s.length; j++) {
      const c = s.charAt(j);
      if (c === '(') depth++;
      else if (c === ')' && --depth === 0) break;
    }
    if (j >= s.length) return `unbalanced "(" in ${s.slice(i, i + call[0].length)}…`;
    i = j + 1;
  }
}

/** The formula of `split` with its holes named after their global query indices. */
export function formulaOf(split: SplitExpression, nameOf: (leaf: string) => string): string {
  return split.template
    .map((piece) => (typeof piece === 'string' ? piece : nameOf(split.leaves[piece] ?? '')))
    .join('')
    .trim();
}

/**
 * Groups items into consecutive chunks so that each chunk's cost stays within `max`: items in
 * order, a new chunk whenever the next item would not fit. `cost(chunk)` is the cost of a
 * candidate chunk (not a sum: shared leaves are counted once). An item that does not fit alone
 * is the caller's to refuse beforehand.
 */
export function chunkBy<T>(
  items: readonly T[],
  fits: (chunk: readonly T[]) => boolean,
): readonly (readonly T[])[] {
  const chunks: T[][] = [];
  let current: T[] = [];
  for (const item of items) {
    const candidate = [...current, item];
    if (current.length > 0 && !fits(candidate)) {
      chunks.push(current);
      current = [item];
    } else {
      current = candidate;
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The distinct metric queries of several split expressions, in order of appearance. */
export function distinctLeaves(splits: readonly SplitExpression[]): readonly string[] {
  return [...new Set(splits.flatMap((s) => s.leaves))];
}
