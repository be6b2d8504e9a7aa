/**
 * The subset of Datadog's metric query language the simulator answers, enough for Flagger's and
 * Aviary's templates:
 *
 *   query   := expr
 *   expr    := term (('+' | '-') term)*
 *   term    := factor (('*' | '/') factor)*
 *   factor  := number | metric | name | '(' expr ')' | '-' factor
 *   metric  := aggr ':' metric.name '{' filters '}' [ 'by' '{' tag (',' tag)* '}' ] modifiers
 *   aggr    := sum | avg | min | max
 *   filters := '*' | filter (',' filter)*        filter := ['!'] key ':' value  (value may end in '*')
 *   modifiers := ('.as_count()' | '.as_rate()' | '.rollup(' method [',' seconds] ')')*
 *
 * `name` (a bare identifier) refers to a named query in a v2 formula. Anything else is a query
 * error (400), as Datadog answers a query it cannot parse.
 */

export const SpaceAggregator = { Sum: 'sum', Avg: 'avg', Min: 'min', Max: 'max' } as const;
export type SpaceAggregator = (typeof SpaceAggregator)[keyof typeof SpaceAggregator];

export interface TagFilter {
  readonly key: string;
  /** Exact value, or a prefix when `prefix` is set (`value*`). */
  readonly value: string;
  readonly prefix: boolean;
  readonly negated: boolean;
}

export interface MetricQuery {
  readonly kind: 'metric';
  readonly aggregator: SpaceAggregator;
  readonly metric: string;
  readonly filters: readonly TagFilter[];
  readonly groupBy: readonly string[];
  /** How points inside one time bucket combine: `sum` for `.as_count()`, else the rollup's. */
  readonly timeAggregator: 'sum' | 'avg' | 'min' | 'max';
  /** `.as_rate()`: per-second values. */
  readonly asRate: boolean;
  /** `.rollup(method, seconds)`: the bucket width asked for, in ms; undefined: the request's. */
  readonly rollupMs: number | undefined;
  readonly text: string;
}

export type Expr =
  | MetricQuery
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'negate'; readonly operand: Expr }
  | {
      readonly kind: 'binary';
      readonly op: '+' | '-' | '*' | '/';
      readonly left: Expr;
      readonly right: Expr;
    };

export class QueryError extends Error {
  override name = 'QueryError';
}

const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_.]*$/;
const TAG_KEY = /^[A-Za-z][A-Za-z0-9_.\-/]*$/;
const TAG_VALUE = /^[A-Za-z0-9_.\-/:]+\*?$/;

/** Parses one expression (a v1 query, or a v2 formula when `names` is allowed). */
export function parseExpression(text: string, options: { allowNames: boolean }): Expr {
  const parser = new Parser(text, options.allowNames);
  const expr = parser.expr();
  parser.skipSpace();
  if (!parser.done())
    throw new QueryError(
      `unexpected ${JSON.stringify(parser.rest().slice(0, 20))} in ${JSON.stringify(text)}`,
    );
  return expr;
}

/** Splits a v1 `query` parameter into its comma-separated queries (commas inside braces and parentheses do not split). */
export function splitQueries(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '(') depth++;
    else if (c === '}' || c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Every metric query inside an expression. */
export function metricQueries(expr: Expr): MetricQuery[] {
  switch (expr.kind) {
    case 'metric':
      return [expr];
    case 'number':
    case 'name':
      return [];
    case 'negate':
      return metricQueries(expr.operand);
    case 'binary':
      return [...metricQueries(expr.left), ...metricQueries(expr.right)];
    default: {
      const never: never = expr;
      throw new QueryError(`unknown expression ${JSON.stringify(never)}`);
    }
  }
}

class Parser {
  #pos = 0;
  readonly #text: string;
  readonly #allowNames: boolean;

  constructor(text: string, allowNames: boolean) {
    this.#text = text;
    this.#allowNames = allowNames;
  }

  done(): boolean {
    return this.#pos >= this.#text.length;
  }

  rest(): string {
    return this.#text.slice(this.#pos);
  }

  skipSpace(): void {
    while (this.#pos < this.#text.length && /\s/.test(this.#text[this.#pos] as string)) this.#pos++;
  }

  expr(): Expr {
    let left = this.term();
    for (;;) {
      this.skipSpace();
      const c = this.#text[this.#pos];
      if (c !== '+' && c !== '-') return left;
      this.#pos++;
      left = { kind: 'binary', op: c, left, right: this.term() };
    }
  }

  term(): Expr {
    let left = this.factor();
    for (;;) {
      this.skipSpace();
      const c = this.#text[this.#pos];
      if (c !== '*' && c !== '/') return left;
      this.#pos++;
      left = { kind: 'binary', op: c, left, right: this.factor() };
    }
  }

  factor(): Expr {
    this.skipSpace();
    const rest = this.rest();
    if (rest.startsWith('(')) {
      this.#pos++;
      const inner = this.expr();
      this.skipSpace();
      this.expect(')');
      return inner;
    }
    if (rest.startsWith('-')) {
      this.#pos++;
      return { kind: 'negate', operand: this.factor() };
    }
    const number = /^\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest);
    if (number) {
      this.#pos += number[0].length;
      return { kind: 'number', value: Number(number[0]) };
    }
    const metric = /^(sum|avg|min|max):/.exec(rest);
    if (metric) return this.metric(metric[1] as SpaceAggregator, metric[0].length);
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (name && this.#allowNames) {
      this.#pos += name[0].length;
      return { kind: 'name', name: name[0] };
    }
    throw new QueryError(
      rest.length === 0
        ? 'unexpected end of query'
        : `cannot parse ${JSON.stringify(rest.slice(0, 30))}: expected a metric query such as sum:metric{tag:value}`,
    );
  }

  metric(aggregator: SpaceAggregator, prefixLength: number): MetricQuery {
    const start = this.#pos;
    this.#pos += prefixLength;
    const brace = this.#text.indexOf('{', this.#pos);
    if (brace < 0) throw new QueryError(`missing {scope} after ${this.rest().slice(0, 30)}`);
    const metric = this.#text.slice(this.#pos, brace).trim();
    if (!METRIC_NAME.test(metric))
      throw new QueryError(`invalid metric name ${JSON.stringify(metric)}`);
    this.#pos = brace + 1;
    const close = this.#text.indexOf('}', this.#pos);
    if (close < 0) throw new QueryError('missing } after the scope');
    const filters = parseFilters(this.#text.slice(this.#pos, close));
    this.#pos = close + 1;
    this.skipSpace();
    let groupBy: string[] = [];
    if (/^by\s*\{/.test(this.rest())) {
      this.#pos = this.#text.indexOf('{', this.#pos) + 1;
      const end = this.#text.indexOf('}', this.#pos);
      if (end < 0) throw new QueryError('missing } after by {');
      groupBy = this.#text
        .slice(this.#pos, end)
        .split(',')
        .map((t) => t.trim());
      for (const tag of groupBy)
        if (!TAG_KEY.test(tag)) throw new QueryError(`invalid group-by tag ${JSON.stringify(tag)}`);
      this.#pos = end + 1;
    }
    let timeAggregator: MetricQuery['timeAggregator'] = 'avg';
    let asRate = false;
    let rollupMs: number | undefined;
    for (;;) {
      const modifier =
        /^\.(as_count|as_rate)\(\)|^\.rollup\(\s*(sum|avg|min|max|count)\s*(?:,\s*(\d+)\s*)?\)/.exec(
          this.rest(),
        );
      if (!modifier) break;
      if (modifier[1] === 'as_count') timeAggregator = 'sum';
      else if (modifier[1] === 'as_rate') asRate = true;
      else {
        const method = modifier[2];
        timeAggregator = method === 'count' ? 'sum' : (method as MetricQuery['timeAggregator']);
        if (modifier[3] !== undefined) rollupMs = Number(modifier[3]) * 1000;
      }
      this.#pos += modifier[0].length;
    }
    return {
      kind: 'metric',
      aggregator,
      metric,
      filters,
      groupBy,
      timeAggregator,
      asRate,
      rollupMs,
      text: this.#text.slice(start, this.#pos),
    };
  }

  expect(token: string): void {
    if (!this.rest().startsWith(token))
      throw new QueryError(`expected ${token} at ${JSON.stringify(this.rest().slice(0, 20))}`);
    this.#pos += token.length;
  }
}

function parseFilters(text: string): TagFilter[] {
  const trimmed = text.trim();
  if (trimmed === '*' || trimmed === '') return [];
  return trimmed.split(',').map((raw) => {
    const part = raw.trim();
    const negated = part.startsWith('!');
    const body = negated ? part.slice(1) : part;
    const colon = body.indexOf(':');
    if (colon <= 0)
      throw new QueryError(`invalid tag filter ${JSON.stringify(part)}: expected key:value`);
    const key = body.slice(0, colon);
    const value = body.slice(colon + 1);
    if (!TAG_KEY.test(key) || !TAG_VALUE.test(value))
      throw new QueryError(`invalid tag filter ${JSON.stringify(part)}`);
    const prefix = value.endsWith('*');
    return { key, value: prefix ? value.slice(0, -1) : value, prefix, negated };
  });
}
