import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultStepMs, evaluate, type Grid, type Group, grid } from './evaluate.ts';
import {
  type Expr,
  type MetricQuery,
  metricQueries,
  parseExpression,
  QueryError,
  splitQueries,
} from './query.ts';
import { type RateLimit, RateLimiter } from './rate-limit.ts';
import { SeriesStore } from './series.ts';

export interface Organisation {
  readonly name: string;
  readonly apiKey: string;
  readonly applicationKeys: readonly string[];
}

export interface DatadogSimOptions {
  /** Who may query (default: one organisation `aviary-dev`, API key `dev-api-key`, application key `dev-app-key`). */
  readonly organisations?: readonly Organisation[];
  /** Per-organisation limits of the query endpoints (default 1,600 per hour each, as documented by Datadog). */
  readonly limits?: { readonly v1Query?: RateLimit; readonly v2Timeseries?: RateLimit };
  /** The simulator's clock, for rate-limit windows (default `Date.now`). */
  readonly now?: () => number;
  readonly host?: string;
  readonly port?: number;
}

export interface DatadogSim {
  /** `http://127.0.0.1:<port>`: the client's base server. */
  readonly url: string;
  /** The metric data queries are answered from. */
  readonly series: SeriesStore;
  /** Answers the next `count` query requests with `status` (e.g. 500, 503, 429) instead of data. */
  injectFault(status: number, count?: number): void;
  /**
   * Throttles every organisation until `untilMs` on the simulator's clock, as when other tools
   * spent the organisation's budget: 429 `Too many requests` with `X-RateLimit-Remaining: 0` and
   * `X-RateLimit-Reset` counting down to `untilMs`. The requests still count.
   */
  throttle(untilMs: number): void;
  /** Query requests received, whatever their answer (including 429s). */
  readonly requestCount: number;
  close(): Promise<void>;
}

const DEFAULT_ORGANISATIONS: readonly Organisation[] = [
  { name: 'aviary-dev', apiKey: 'dev-api-key', applicationKeys: ['dev-app-key'] },
];
const HOUR = 3600;
const DEFAULT_LIMITS = {
  v1Query: { name: 'metrics_query', limit: 1600, periodSeconds: HOUR },
  v2Timeseries: { name: 'query_timeseries', limit: 1600, periodSeconds: HOUR },
} as const;
const MAX_BODY_BYTES = 1_000_000;
const MAX_V2_QUERIES = 100;

/**
 * A local server speaking Datadog's metrics query APIs, for testing the analyzer through the
 * official `@datadog/datadog-api-client` without reaching Datadog:
 * - `GET /api/v1/query?from=<s>&to=<s>&query=<q>[,<q>…]` (MetricsQueryResponse, `pointlist`),
 * - `POST /api/v2/query/timeseries` (TimeseriesFormulaQueryResponse: `times`, `series`, `values`),
 * with `DD-API-KEY` / `DD-APPLICATION-KEY` authentication (403), per-organisation
 * calendar-aligned rate limits with `X-RateLimit-*` headers on every response and 429 when spent,
 * query errors as 400 `{"errors": […]}`, and injectable 5xx faults.
 */
export async function startDatadogSim(options: DatadogSimOptions = {}): Promise<DatadogSim> {
  const organisations = options.organisations ?? DEFAULT_ORGANISATIONS;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const now = options.now ?? Date.now;
  const series = new SeriesStore();
  const limiter = new RateLimiter();
  const faults: number[] = [];
  let throttledUntilMs = Number.NEGATIVE_INFINITY;
  let requestCount = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sim');
    const route =
      req.method === 'GET' && url.pathname === '/api/v1/query'
        ? 'v1'
        : req.method === 'POST' && url.pathname === '/api/v2/query/timeseries'
          ? 'v2'
          : undefined;
    if (route === undefined)
      return send(res, 404, { errors: [`no route ${req.method} ${url.pathname}`] });

    const organisation = organisations.find(
      (o) =>
        o.apiKey === req.headers['dd-api-key'] &&
        o.applicationKeys.includes(String(req.headers['dd-application-key'])),
    );
    if (!organisation) return send(res, 403, { errors: ['Forbidden'] });

    requestCount++;
    const decision = limiter.take(
      organisation.name,
      route === 'v1' ? limits.v1Query : limits.v2Timeseries,
      now(),
    );
    if (!decision.allowed)
      return send(res, 429, { errors: ['Too many requests'] }, decision.headers);
    const nowMs = now();
    if (nowMs < throttledUntilMs) {
      return send(
        res,
        429,
        { errors: ['Too many requests'] },
        {
          ...decision.headers,
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.max(1, Math.ceil((throttledUntilMs - nowMs) / 1000))),
        },
      );
    }
    const fault = faults.shift();
    if (fault !== undefined)
      return send(res, fault, { errors: [`injected fault ${fault}`] }, decision.headers);

    try {
      const body =
        route === 'v1' ? answerV1(url.searchParams, series) : answerV2(await readJson(req), series);
      send(res, 200, body, decision.headers);
    } catch (error) {
      if (error instanceof QueryError || error instanceof BadRequest) {
        return send(res, 400, { errors: [error.message] }, decision.headers);
      }
      send(res, 500, { errors: ['Internal Server Error'] }, decision.headers);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { errors: ['Internal Server Error'] });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    series,
    injectFault(status, count = 1) {
      for (let i = 0; i < count; i++) faults.push(status);
    },
    throttle(untilMs) {
      throttledUntilMs = untilMs;
    },
    get requestCount() {
      return requestCount;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

class BadRequest extends Error {
  override name = 'BadRequest';
}

function answerV1(params: URLSearchParams, store: SeriesStore): object {
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  const text = params.get('query');
  if (
    !Number.isFinite(from) ||
    !Number.isFinite(to) ||
    params.get('from') === null ||
    params.get('to') === null
  ) {
    throw new BadRequest("'from' and 'to' are required, in seconds since the epoch");
  }
  if (to <= from) throw new BadRequest("'to' must be after 'from'");
  if (!text) throw new BadRequest("'query' is required");
  const fromMs = from * 1000;
  const toMs = to * 1000;
  const g = grid(fromMs, toMs, defaultStepMs(fromMs, toMs));
  const queries = splitQueries(text).map((q) => ({
    text: q,
    expr: parseExpression(q, { allowNames: false }),
  }));
  const series = queries.flatMap(({ text: q, expr }, queryIndex) => {
    const first = metricQueries(expr)[0];
    return evaluate(expr, store, g).map((group) => v1Series(group, g, q, queryIndex, first));
  });
  const groupBy = [
    ...new Set(queries.flatMap(({ expr }) => metricQueries(expr).flatMap((m) => m.groupBy))),
  ];
  return {
    status: 'ok',
    res_type: 'time_series',
    resp_version: 1,
    query: text,
    from_date: fromMs,
    to_date: toMs,
    group_by: groupBy,
    series,
  };
}

function v1Series(
  group: Group,
  g: Grid,
  expression: string,
  queryIndex: number,
  first: MetricQuery | undefined,
): object {
  const pointlist = g.times.flatMap((t, i) => {
    const value = group.values[i];
    return value === null || value === undefined ? [] : [[t, value]];
  });
  return {
    metric: first?.metric ?? expression,
    display_name: first?.metric ?? expression,
    expression,
    scope: group.tags.length > 0 ? group.tags.join(',') : scopeOf(first),
    tag_set: group.tags,
    aggr: first?.aggregator ?? null,
    interval: g.stepMs,
    length: pointlist.length,
    start: pointlist[0]?.[0] ?? g.times[0] ?? 0,
    end: (pointlist.at(-1)?.[0] ?? g.times.at(-1) ?? 0) + g.stepMs - 1,
    query_index: queryIndex,
    pointlist,
    unit: null,
  };
}

function scopeOf(query: MetricQuery | undefined): string {
  if (!query || query.filters.length === 0) return '*';
  return query.filters
    .map((f) => `${f.negated ? '!' : ''}${f.key}:${f.value}${f.prefix ? '*' : ''}`)
    .join(',');
}

function answerV2(body: unknown, store: SeriesStore): object {
  const attributes = (body as { data?: { type?: unknown; attributes?: unknown } } | null)?.data;
  if (
    attributes?.type !== 'timeseries_request' ||
    typeof attributes.attributes !== 'object' ||
    attributes.attributes === null
  ) {
    throw new BadRequest(
      'body must be {"data": {"type": "timeseries_request", "attributes": {...}}}',
    );
  }
  const { from, to, interval, queries, formulas } = attributes.attributes as Record<
    string,
    unknown
  >;
  if (typeof from !== 'number' || typeof to !== 'number' || to <= from) {
    throw new BadRequest("'from' and 'to' are required, in milliseconds, with 'to' after 'from'");
  }
  if (!Array.isArray(queries) || queries.length === 0 || queries.length > MAX_V2_QUERIES) {
    throw new BadRequest(`'queries' must hold 1 to ${MAX_V2_QUERIES} queries`);
  }
  const g = grid(
    from,
    to,
    typeof interval === 'number' && interval > 0 ? interval : defaultStepMs(from, to),
  );
  const named = new Map<string, Group[]>();
  const order: string[] = [];
  queries.forEach((q: unknown, i: number) => {
    const query = q as { data_source?: unknown; name?: unknown; query?: unknown };
    if (query.data_source !== 'metrics')
      throw new BadRequest(`queries[${i}].data_source must be "metrics"`);
    if (typeof query.query !== 'string' || typeof query.name !== 'string' || query.name === '') {
      throw new BadRequest(`queries[${i}] needs a name and a query`);
    }
    const expr: Expr = parseExpression(query.query, { allowNames: false });
    if (expr.kind !== 'metric') {
      throw new BadRequest(
        'Functions are not supported in metrics data source field. Use the formulas payload.',
      );
    }
    named.set(query.name, evaluate(expr, store, g));
    order.push(query.name);
  });
  const formulaTexts =
    Array.isArray(formulas) && formulas.length > 0
      ? formulas.map((f: unknown, i: number) => {
          const formula = (f as { formula?: unknown }).formula;
          if (typeof formula !== 'string')
            throw new BadRequest(`formulas[${i}].formula must be a string`);
          return formula;
        })
      : order;
  const series: object[] = [];
  const values: (number | null)[][] = [];
  formulaTexts.forEach((formula, queryIndex) => {
    for (const group of evaluate(parseExpression(formula, { allowNames: true }), store, g, named)) {
      series.push({ group_tags: group.tags, query_index: queryIndex, unit: null });
      values.push([...group.values]);
    }
  });
  return { data: { type: 'timeseries_response', attributes: { series, times: g.times, values } } };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BadRequest('request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('request body is not JSON');
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: object,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
