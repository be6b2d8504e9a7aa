/**
 * Datadog through the official `@datadog/datadog-api-client`: v2 `queryTimeseriesData`
 * (`POST /api/v2/query/timeseries`, several named queries and formulas per request), with v1
 * `queryMetrics` (`GET /api/v1/query`, comma-joined queries) as the fallback when v2 answers
 * 404/405. The client's retry is off (the analyzer's scheduler owns retries and the budget), and
 * a custom `fetch` keeps the status and `X-RateLimit-*` headers of every answer, successes and
 * failures alike, for `onRateLimit` and for `retryAfterMs` (the client's `ApiException` has no
 * headers). Failures map to reasons (see `docs/metric-providers.md`):
 *
 * | Datadog answer                               | reason           |
 * |----------------------------------------------|------------------|
 * | HTTP 429                                     | `throttled` (`retryAfterMs` from `X-RateLimit-Reset`, else `Retry-After`) |
 * | HTTP 400/422, v1 `status: "error"`           | `query-rejected` (Datadog's `errors[]`) |
 * | HTTP 401/403 (keys, site or permissions)     | `query-rejected` (a configuration error) |
 * | HTTP 404/405 from v1 too, other 4xx          | `query-rejected` |
 * | HTTP 408/504, our timeout                    | `timeout`        |
 * | other 5xx                                    | `server-error`   |
 * | refused, reset, DNS failure                  | `unreachable`    |
 * | a 2xx that does not parse or has a bad shape | `bad-response`   |
 *
 * The API and application keys are sent as `DD-API-KEY` / `DD-APPLICATION-KEY` and never appear
 * in a message: messages are built from the status, Datadog's `errors[]` and the redacted base
 * URL, and any occurrence of a key is masked all the same. The provider logs nothing, and the
 * client never logs a failed fetch, because the wrapper keeps transport failures to itself.
 */

import { abortedError, ValidationError, type ValidationIssue } from '@aviary/core';
import { redactUrl, z } from '@aviary/platform';
import { client, v1, v2 } from '@datadog/datadog-api-client';
import type { RateLimitHeaders } from '../budget/index.ts';
import {
  chunkBy,
  distinctLeaves,
  formulaOf,
  type SplitExpression,
  splitExpression,
} from './datadog-query.ts';
import { parseRetryAfter } from './prometheus.ts';
import {
  type MetricProvider,
  MetricProviderKind,
  type MetricQueryRequest,
  type MetricSample,
  type MetricSeries,
  type ProviderFailed,
  ProviderFailureReason,
  type ProviderOk,
  type ProviderResult,
  ProviderResultStatus,
} from './provider.ts';

export const DATADOG_DEFAULT_SITE = 'datadoghq.com';
/** Queries per HTTP request: Aviary's default, and the Cluster Agent's `chunk_size` as a cap. */
export const DATADOG_DEFAULT_MAX_QUERIES_PER_REQUEST = 20;
export const DATADOG_MAX_QUERIES_PER_REQUEST = 35;
export const DATADOG_DEFAULT_TIMEOUT_MS = 30_000;
/** The Cluster Agent's v1 limit, "to avoid 414 Request-URI Too Large". */
export const DATADOG_MAX_V1_URL_CHARS = 7000;
/** An instant query (`MetricQueryRequest` without `range`) reads the minute before `timeMs`. */
export const DATADOG_INSTANT_WINDOW_MS = 60_000;

const SITE = /^[a-z0-9-]+(?:\.[a-z0-9-]+)+$/;
const V1_PATH = '/api/v1/query';
const V2_PATH = '/api/v2/query/timeseries';

/** The configuration of a Datadog provider (a `MetricTemplate`'s `provider` block, resolved). */
export const datadogConfigSchema = z.object({
  kind: z.literal(MetricProviderKind.Datadog),
  /** `datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, `us5.datadoghq.com`, `ap1.datadoghq.com`, `ddog-gov.com`, … */
  site: z
    .string()
    .regex(SITE, 'must be a Datadog site such as datadoghq.eu')
    .default(DATADOG_DEFAULT_SITE),
  /** Overrides `site` (a proxy, or the simulator): the API's base URL. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Sent as `DD-API-KEY`; never logged. */
  apiKey: z.string().min(1),
  /** Sent as `DD-APPLICATION-KEY` (needs the `timeseries_query` permission); never logged. */
  appKey: z.string().min(1),
  maxQueriesPerRequest: z.number().int().min(1).max(DATADOG_MAX_QUERIES_PER_REQUEST).optional(),
  timeoutMs: z.number().int().positive().max(600_000).optional(),
});
export type DatadogConfig = z.infer<typeof datadogConfigSchema>;

export interface DatadogProviderOptions {
  /** Default `datadoghq.com`; the API is `https://api.<site>`. */
  readonly site?: string;
  /** Overrides `site`: the API's base URL (e.g. the simulator's `http://127.0.0.1:<port>`). */
  readonly baseUrl?: string;
  readonly apiKey: string;
  readonly appKey: string;
  /** Metric queries (and formulas) per HTTP request; default 20, at most 35. */
  readonly maxQueriesPerRequest?: number;
  /** Per HTTP request; default 30 s. */
  readonly timeoutMs?: number;
  /**
   * Called once per HTTP answer (2xx, 4xx, 5xx; not for a request that got no answer) with its
   * status and its `x-ratelimit-*` and `retry-after` headers, lowercased: wire it to
   * `WindowBudget.observe(status, headers, nowMs)` of the budget named by `x-ratelimit-name`.
   */
  readonly onRateLimit?: (status: number, headers: RateLimitHeaders) => void;
  /** For tests; default the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** The clock for instant queries without `timeMs`; default `Date.now`. */
  readonly now?: () => number;
}

/** One expression of a batch, named by the caller (names are unique within a batch). */
export interface DatadogBatchRequest {
  readonly name: string;
  /** A Datadog expression: metric queries, arithmetic, numbers, formula functions. */
  readonly query: string;
}

/** A batch's time window: buckets of `intervalMs` from `fromMs` (inclusive) to `toMs` (exclusive). */
export interface DatadogWindow {
  readonly fromMs: number;
  readonly toMs: number;
  /** v2 only (Datadog may widen it); v1 chooses its own interval. */
  readonly intervalMs: number;
}

export interface DatadogProvider extends MetricProvider {
  readonly kind: typeof MetricProviderKind.Datadog;
  /**
   * Runs several expressions over one window in as few HTTP requests as
   * `maxQueriesPerRequest` allows, and resolves with each request's result by name, in request
   * order: `ok` with one series per group (`group_tags` as labels; a null value is a `NaN`
   * sample: no data, never 0), or `failed`. Chunks go one after the other; after a `throttled`
   * or a 401/403 the remaining chunks are not sent and share that failure. Rejects only with a
   * `ValidationError` (bad window, empty or duplicate names, empty query) or `ABORTED`.
   */
  queryBatch(
    requests: readonly DatadogBatchRequest[],
    window: DatadogWindow,
    signal: AbortSignal,
  ): Promise<ReadonlyMap<string, ProviderResult>>;
}

interface Prepared {
  readonly request: DatadogBatchRequest;
  readonly split: SplitExpression;
}

/** The HTTP answer the fetch wrapper saw for one call. */
interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** The body of a non-2xx answer, read by the wrapper. */
  body?: string;
}

type Exchange<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | {
      readonly kind: 'http';
      readonly status: number;
      readonly headers: Headers;
      readonly body: string;
    }
  | { readonly kind: 'failed'; readonly result: ProviderFailed };

export function createDatadogProvider(options: DatadogProviderOptions): DatadogProvider {
  const settings = validateOptions(options);
  const { base, apiKey, appKey, maxQueries, timeoutMs } = settings;
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const shownBase = redactUrl(base);
  const secrets = [apiKey, appKey].filter((k) => k.length >= 4);
  const scrub = (text: string): string =>
    secrets.reduce((out, secret) => out.split(secret).join('***'), text);
  let v2Unavailable = false;

  /** One call through the official client, with its own configuration, signal and capture. */
  async function exchange<T>(
    what: string,
    signal: AbortSignal,
    call: (configuration: client.Configuration) => Promise<T>,
  ): Promise<Exchange<T>> {
    if (signal.aborted) throw abortedError(signal, what);
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    let answer: Answer | undefined;
    let transportError: unknown;
    const capture = async (url: string, init: RequestInit): Promise<Response> => {
      let response: Response;
      try {
        response = await doFetch(url, init);
      } catch (error) {
        // The client logs every rejected fetch (with `console`); keep the failure here and hand
        // it a placeholder answer instead, so the failure is reported once, as data.
        transportError = error;
        return new Response(null, { status: 599 });
      }
      const seen: Answer = { status: response.status, headers: response.headers };
      answer = seen;
      if (response.ok) return response;
      seen.body = await response.text().catch(() => '');
      return new Response(NULL_BODY_STATUSES.has(response.status) ? null : seen.body, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
    const configuration = client.createConfiguration({
      baseServer: new client.BaseServerConfiguration(base, {}),
      authMethods: { apiKeyAuth: apiKey, appKeyAuth: appKey },
      enableRetry: false,
      fetch: capture,
      httpConfig: { signal: combined },
    });

    let value: T;
    try {
      value = await call(configuration);
    } catch (error) {
      if (answer !== undefined) report(answer);
      if (signal.aborted) throw abortedError(signal, what);
      if (timeout.aborted) {
        return {
          kind: 'failed',
          result: failed(
            ProviderFailureReason.Timeout,
            `${what}: no answer within ${timeoutMs} ms`,
          ),
        };
      }
      if (answer === undefined) {
        const cause = transportError ?? error;
        return {
          kind: 'failed',
          result: failed(
            ProviderFailureReason.Unreachable,
            scrub(`${what}: ${networkMessage(cause)}`),
          ),
        };
      }
      if (answer.status >= 200 && answer.status < 300) {
        const detail = error instanceof Error ? error.message : String(error);
        return {
          kind: 'failed',
          result: failed(
            ProviderFailureReason.BadResponse,
            scrub(`${what}: the answer does not parse: ${snippet(detail)}`),
            answer.status,
          ),
        };
      }
      return {
        kind: 'http',
        status: answer.status,
        headers: answer.headers,
        body: answer.body ?? '',
      };
    }
    if (answer !== undefined) report(answer);
    return { kind: 'ok', value };
  }

  function report(answer: Answer): void {
    options.onRateLimit?.(answer.status, rateLimitHeaders(answer.headers));
  }

  async function sendV2(
    chunk: readonly Prepared[],
    window: DatadogWindow,
    signal: AbortSignal,
  ): Promise<readonly ProviderResult[] | 'unavailable'> {
    const what = `POST ${shownBase}${V2_PATH}`;
    const leaves = distinctLeaves(chunk.map((p) => p.split));
    const names = new Map(leaves.map((leaf, i) => [leaf, `q${i}`]));
    const body: v2.TimeseriesFormulaQueryRequest = {
      data: {
        type: 'timeseries_request',
        attributes: {
          from: window.fromMs,
          to: window.toMs,
          interval: window.intervalMs,
          queries: leaves.map((leaf, i) => ({ dataSource: 'metrics', name: `q${i}`, query: leaf })),
          formulas: chunk.map((p) => ({
            formula: formulaOf(p.split, (leaf) => names.get(leaf) ?? ''),
          })),
        },
      },
    };
    const outcome = await exchange(what, signal, (configuration) =>
      new v2.MetricsApi(configuration).queryTimeseriesData({ body }),
    );
    switch (outcome.kind) {
      case 'ok': {
        const parsed = parseTimeseriesResponse(outcome.value, chunk.length);
        return 'message' in parsed
          ? chunk.map(() => failed(parsed.reason, scrub(`${what}: ${parsed.message}`), 200))
          : parsed.results;
      }
      case 'http':
        if (outcome.status === 404 || outcome.status === 405) return 'unavailable';
        return chunk.map(() => failure(outcome, what));
      case 'failed':
        return chunk.map(() => outcome.result);
      default:
        return unreachable(outcome);
    }
  }

  async function sendV1(
    chunk: readonly Prepared[],
    window: DatadogWindow,
    signal: AbortSignal,
  ): Promise<readonly ProviderResult[]> {
    const what = `GET ${shownBase}${V1_PATH}`;
    const { from, to } = v1Seconds(window);
    const query = chunk.map((p) => p.request.query.trim()).join(',');
    const outcome = await exchange(what, signal, (configuration) =>
      new v1.MetricsApi(configuration).queryMetrics({ from, to, query }),
    );
    switch (outcome.kind) {
      case 'ok': {
        const parsed = parseQueryMetricsResponse(outcome.value, chunk.length);
        return 'message' in parsed
          ? chunk.map(() => failed(parsed.reason, scrub(`${what}: ${parsed.message}`), 200))
          : parsed.results;
      }
      case 'http':
        return chunk.map(() => failure(outcome, what));
      case 'failed':
        return chunk.map(() => outcome.result);
      default:
        return unreachable(outcome);
    }
  }

  function failure(
    answer: { status: number; headers: Headers; body: string },
    what: string,
  ): ProviderFailed {
    const result = interpretFailure(answer.status, answer.headers, answer.body, what, now());
    return { ...result, message: scrub(result.message) };
  }

  /** Runs chunks one after the other; after a throttle or refused keys, the rest share that failure. */
  async function runChunks(
    chunks: readonly (readonly Prepared[])[],
    send: (chunk: readonly Prepared[]) => Promise<readonly ProviderResult[] | 'unavailable'>,
    results: Map<string, ProviderResult>,
  ): Promise<readonly Prepared[]> {
    let stop: ProviderFailed | undefined;
    for (const [i, chunk] of chunks.entries()) {
      if (stop !== undefined) {
        for (const p of chunk) results.set(p.request.name, stop);
        continue;
      }
      const answers = await send(chunk);
      if (answers === 'unavailable') return chunks.slice(i).flat();
      for (const [j, p] of chunk.entries()) {
        const result = answers[j];
        if (result !== undefined) results.set(p.request.name, result);
      }
      const first = answers[0];
      if (first?.status === ProviderResultStatus.Failed && stopsBatch(first)) stop = first;
    }
    return [];
  }

  async function queryBatch(
    requests: readonly DatadogBatchRequest[],
    window: DatadogWindow,
    signal: AbortSignal,
  ): Promise<ReadonlyMap<string, ProviderResult>> {
    validateBatch(requests, window);
    if (signal.aborted) throw abortedError(signal, `datadog query batch`);
    const results = new Map<string, ProviderResult>();
    const prepared: Prepared[] = [];
    for (const request of requests) {
      const split = splitExpression(request.query);
      if ('error' in split) {
        results.set(
          request.name,
          failed(
            ProviderFailureReason.QueryRejected,
            scrub(`query "${request.name}": ${split.error}`),
          ),
        );
      } else if (split.leaves.length > maxQueries) {
        results.set(
          request.name,
          failed(
            ProviderFailureReason.QueryRejected,
            `query "${request.name}" holds ${split.leaves.length} metric queries; at most ${maxQueries} fit one request (maxQueriesPerRequest)`,
          ),
        );
      } else {
        prepared.push({ request, split });
      }
    }

    let pending: readonly Prepared[] = prepared;
    if (!v2Unavailable && pending.length > 0) {
      const chunks = chunkBy(
        pending,
        (chunk) =>
          chunk.length <= maxQueries &&
          distinctLeaves(chunk.map((p) => p.split)).length <= maxQueries,
      );
      pending = await runChunks(chunks, (chunk) => sendV2(chunk, window, signal), results);
      if (pending.length > 0) v2Unavailable = true;
    }
    if (pending.length > 0) {
      const fitting: Prepared[] = [];
      for (const p of pending) {
        if (v1UrlLength(base, window, [p]) > DATADOG_MAX_V1_URL_CHARS) {
          results.set(
            p.request.name,
            failed(
              ProviderFailureReason.QueryRejected,
              `query "${p.request.name}" makes a v1 URL longer than ${DATADOG_MAX_V1_URL_CHARS} characters`,
            ),
          );
        } else {
          fitting.push(p);
        }
      }
      const chunks = chunkBy(
        fitting,
        (chunk) =>
          chunk.length <= maxQueries &&
          v1UrlLength(base, window, chunk) <= DATADOG_MAX_V1_URL_CHARS,
      );
      await runChunks(chunks, (chunk) => sendV1(chunk, window, signal), results);
    }

    const ordered = new Map<string, ProviderResult>();
    for (const { name } of requests) {
      const result = results.get(name);
      if (result === undefined) throw new Error(`datadog provider: no result for "${name}"`);
      ordered.set(name, result);
    }
    return ordered;
  }

  return {
    kind: MetricProviderKind.Datadog,
    queryBatch,
    async query(request: MetricQueryRequest, signal: AbortSignal): Promise<ProviderResult> {
      const window = windowOf(request, now);
      const results = await queryBatch([{ name: 'query', query: request.query }], window, signal);
      const result = results.get('query');
      if (result === undefined) throw new Error('datadog provider: no result for the query');
      return result;
    },
  };
}

const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 204, 205, 304]);

function stopsBatch(result: ProviderFailed): boolean {
  return (
    result.reason === ProviderFailureReason.Throttled ||
    result.httpStatus === 401 ||
    result.httpStatus === 403
  );
}

function validateOptions(options: DatadogProviderOptions): {
  base: string;
  apiKey: string;
  appKey: string;
  maxQueries: number;
  timeoutMs: number;
} {
  const issues: ValidationIssue[] = [];
  // Never the keys' values in an issue: only whether they are usable.
  for (const key of ['apiKey', 'appKey'] as const) {
    const value: unknown = options[key];
    if (typeof value !== 'string' || value.trim() === '' || /[\r\n]/.test(value)) {
      issues.push({ path: key, message: 'must be a non-empty key on one line' });
    }
  }
  const site = options.site ?? DATADOG_DEFAULT_SITE;
  let base = `https://api.${site}`;
  if (options.baseUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.baseUrl);
    } catch {
      issues.push({ path: 'baseUrl', message: `not a URL: ${redactUrl(options.baseUrl)}` });
    }
    if (url !== undefined) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        issues.push({ path: 'baseUrl', message: `must be http(s), got ${url.protocol}` });
      } else if (
        url.username !== '' ||
        url.password !== '' ||
        url.search !== '' ||
        url.hash !== ''
      ) {
        issues.push({
          path: 'baseUrl',
          message: 'must not hold credentials, a query or a fragment',
        });
      }
      base = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
    }
  } else if (!SITE.test(site)) {
    issues.push({ path: 'site', message: `not a Datadog site: ${JSON.stringify(site)}` });
  }
  const maxQueries = options.maxQueriesPerRequest ?? DATADOG_DEFAULT_MAX_QUERIES_PER_REQUEST;
  if (
    !Number.isInteger(maxQueries) ||
    maxQueries < 1 ||
    maxQueries > DATADOG_MAX_QUERIES_PER_REQUEST
  ) {
    issues.push({
      path: 'maxQueriesPerRequest',
      message: `must be an integer from 1 to ${DATADOG_MAX_QUERIES_PER_REQUEST}`,
    });
  }
  const timeoutMs = options.timeoutMs ?? DATADOG_DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    issues.push({ path: 'timeoutMs', message: 'must be a positive number of milliseconds' });
  }
  if (issues.length > 0) throw new ValidationError('datadog provider', issues);
  return { base, apiKey: options.apiKey, appKey: options.appKey, maxQueries, timeoutMs };
}

function validateBatch(requests: readonly DatadogBatchRequest[], window: DatadogWindow): void {
  const issues: ValidationIssue[] = [];
  const { fromMs, toMs, intervalMs } = window;
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs <= fromMs) {
    issues.push({ path: 'window', message: 'needs finite fromMs < toMs (epoch ms)' });
  }
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    issues.push({
      path: 'window.intervalMs',
      message: 'must be a positive number of milliseconds',
    });
  }
  const seen = new Set<string>();
  for (const [i, request] of requests.entries()) {
    if (typeof request.name !== 'string' || request.name === '') {
      issues.push({ path: `requests[${i}].name`, message: 'must be a non-empty name' });
    } else if (seen.has(request.name)) {
      issues.push({ path: `requests[${i}].name`, message: `"${request.name}" is used twice` });
    }
    seen.add(request.name);
    if (typeof request.query !== 'string' || request.query.trim() === '') {
      issues.push({ path: `requests[${i}].query`, message: 'must be a non-empty query' });
    }
  }
  if (issues.length > 0) throw new ValidationError('datadog query batch', issues);
}

/**
 * The contract's request as a window: a range covers `[startMs, endMs)` in `stepMs` buckets (so
 * `endMs` must be after `startMs`); an instant query the minute before `timeMs` (default now).
 */
function windowOf(request: MetricQueryRequest, now: () => number): DatadogWindow {
  if (typeof request.query !== 'string' || request.query.trim() === '') {
    throw new ValidationError('datadog query', [
      { path: 'query', message: 'must be a non-empty query' },
    ]);
  }
  const { range } = request;
  if (range !== undefined) {
    const { startMs, endMs, stepMs } = range;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) {
      throw new ValidationError('datadog query', [
        {
          path: 'range',
          message:
            'needs finite startMs < endMs (epoch ms): Datadog buckets cover [startMs, endMs)',
        },
      ]);
    }
    return { fromMs: startMs, toMs: endMs, intervalMs: stepMs };
  }
  const t = request.timeMs ?? now();
  if (!Number.isFinite(t)) {
    throw new ValidationError('datadog query', [
      { path: 'timeMs', message: 'must be epoch milliseconds' },
    ]);
  }
  return { fromMs: t - DATADOG_INSTANT_WINDOW_MS, toMs: t, intervalMs: DATADOG_INSTANT_WINDOW_MS };
}

function v1Seconds(window: DatadogWindow): { from: number; to: number } {
  return { from: Math.floor(window.fromMs / 1000), to: Math.ceil(window.toMs / 1000) };
}

/** The length of the v1 URL the client builds (`URLSearchParams` encoding). */
function v1UrlLength(base: string, window: DatadogWindow, chunk: readonly Prepared[]): number {
  const { from, to } = v1Seconds(window);
  const query = chunk.map((p) => p.request.query.trim()).join(',');
  const search = new URLSearchParams({ from: String(from), to: String(to), query });
  return `${base}${V1_PATH}?${search.toString()}`.length;
}

type ParseOutcome =
  | { readonly results: readonly ProviderOk[] }
  | { readonly reason: ProviderFailureReason; readonly message: string };

/**
 * A v2 `TimeseriesFormulaQueryResponse` (as the client deserialises it) as one result per
 * formula: `series[i]` with `values[i]`, `values[i][j]` at `times[j]`, `queryIndex` naming the
 * formula; `groupTags` (`key:value`) become labels; `null` is a `NaN` sample (no data, never 0).
 * A top-level `errors` string on a 200 is passed on as a warning.
 */
export function parseTimeseriesResponse(
  response: v2.TimeseriesFormulaQueryResponse,
  formulaCount: number,
): ParseOutcome {
  const bad = (message: string): ParseOutcome => ({
    reason: ProviderFailureReason.BadResponse,
    message,
  });
  const attributes = response.data?.attributes;
  const series = attributes?.series ?? [];
  const times = attributes?.times ?? [];
  const values = attributes?.values ?? [];
  if (!Array.isArray(series) || !Array.isArray(times) || !Array.isArray(values)) {
    return bad('`series`, `times` and `values` must be lists');
  }
  if (values.length !== series.length) {
    return bad(`${series.length} series but ${values.length} value lists`);
  }
  for (const [j, t] of times.entries()) {
    if (typeof t !== 'number' || !Number.isFinite(t))
      return bad(`times[${j}] is not epoch milliseconds`);
  }
  const grouped: MetricSeries[][] = Array.from({ length: formulaCount }, () => []);
  for (const [i, entry] of series.entries()) {
    const index = entry.queryIndex ?? (formulaCount === 1 ? 0 : undefined);
    const target = index === undefined ? undefined : grouped[index];
    if (target === undefined)
      return bad(`series[${i}].query_index ${String(index)} names no formula`);
    const labels = tagsToLabels(entry.groupTags ?? [], `series[${i}].group_tags`);
    if (typeof labels === 'string') return bad(labels);
    const row = values[i];
    if (!Array.isArray(row) || row.length !== times.length) {
      return bad(`values[${i}] does not hold one value per time (${times.length})`);
    }
    const samples: MetricSample[] = [];
    for (const [j, tMs] of times.entries()) {
      const value = sampleValue(row[j]);
      if (value === undefined) return bad(`values[${i}][${j}] is not a number or null`);
      samples.push({ tMs, value });
    }
    target.push({ labels, samples });
  }
  const warnings =
    typeof response.errors === 'string' && response.errors !== '' ? [response.errors] : [];
  return { results: grouped.map((s) => okResult(s, warnings)) };
}

/**
 * A v1 `MetricsQueryResponse` as one result per comma-separated query: `queryIndex` names the
 * query, `tagSet` gives the labels, `pointlist` `[ms, value|null]` the samples (null → `NaN`).
 * `status: "error"` on a 200 is Datadog refusing the query.
 */
export function parseQueryMetricsResponse(
  response: v1.MetricsQueryResponse,
  queryCount: number,
): ParseOutcome {
  const bad = (message: string): ParseOutcome => ({
    reason: ProviderFailureReason.BadResponse,
    message,
  });
  if (response.status === 'error') {
    return {
      reason: ProviderFailureReason.QueryRejected,
      message: `query refused: ${snippet(response.error ?? response.message ?? 'no reason given')}`,
    };
  }
  const series = response.series ?? [];
  if (!Array.isArray(series)) return bad('`series` is not a list');
  const grouped: MetricSeries[][] = Array.from({ length: queryCount }, () => []);
  for (const [i, entry] of series.entries()) {
    const index = entry.queryIndex ?? (queryCount === 1 ? 0 : undefined);
    const target = index === undefined ? undefined : grouped[index];
    if (target === undefined)
      return bad(`series[${i}].query_index ${String(index)} names no query`);
    const labels = tagsToLabels(entry.tagSet ?? [], `series[${i}].tag_set`);
    if (typeof labels === 'string') return bad(labels);
    const points: unknown = entry.pointlist ?? [];
    if (!Array.isArray(points)) return bad(`series[${i}].pointlist is not a list`);
    const samples: MetricSample[] = [];
    for (const [j, point] of points.entries()) {
      if (!Array.isArray(point) || point.length !== 2)
        return bad(`series[${i}].pointlist[${j}] is not a [time, value] pair`);
      const [tMs, raw] = point as [unknown, unknown];
      const value = sampleValue(raw);
      if (typeof tMs !== 'number' || !Number.isFinite(tMs) || value === undefined) {
        return bad(`series[${i}].pointlist[${j}] is not a [ms, number|null] pair`);
      }
      samples.push({ tMs, value });
    }
    target.push({ labels, samples });
  }
  return { results: grouped.map((s) => okResult(s, [])) };
}

function okResult(series: readonly MetricSeries[], warnings: readonly string[]): ProviderOk {
  return warnings.length > 0
    ? { status: ProviderResultStatus.Ok, series, warnings }
    : { status: ProviderResultStatus.Ok, series };
}

/** `null` (an empty bucket) → `NaN`: no data, never 0. */
function sampleValue(raw: unknown): number | undefined {
  if (raw === null) return Number.NaN;
  return typeof raw === 'number' ? raw : undefined;
}

/** `["kube_deployment:checkout", "env:prod"]` → labels; a tag without `:` has an empty value. */
export function tagsToLabels(
  tags: readonly unknown[],
  path: string,
): Record<string, string> | string {
  const labels: Record<string, string> = {};
  for (const [i, tag] of tags.entries()) {
    if (typeof tag !== 'string') return `${path}[${i}] is not a string`;
    const colon = tag.indexOf(':');
    const key = colon < 0 ? tag : tag.slice(0, colon);
    labels[key] = colon < 0 ? '' : tag.slice(colon + 1);
  }
  return labels;
}

/**
 * Maps a non-2xx answer to a failure. Exported for unit tests; `what` names the request (method
 * and redacted URL); Datadog's `{"errors": [...]}` becomes the detail of the message.
 */
export function interpretFailure(
  httpStatus: number,
  headers: Headers,
  body: string,
  what: string,
  nowMs: number,
): ProviderFailed {
  const detail = errorDetail(body);
  const message = `${what}: HTTP ${httpStatus}${detail === '' ? '' : `: ${detail}`}`;
  const retryAfter = parseRetryAfter(headers.get('retry-after'), nowMs);
  if (httpStatus === 429) {
    return failed(
      ProviderFailureReason.Throttled,
      message,
      httpStatus,
      parseRateLimitReset(headers.get('x-ratelimit-reset')) ?? retryAfter,
    );
  }
  if (httpStatus === 401 || httpStatus === 403) {
    return failed(
      ProviderFailureReason.QueryRejected,
      `${message} (Datadog refused the API or application key: check the keys, the site, and that the application key may query timeseries)`,
      httpStatus,
    );
  }
  if (httpStatus === 408 || httpStatus === 504) {
    return failed(ProviderFailureReason.Timeout, message, httpStatus, retryAfter);
  }
  if (httpStatus >= 500)
    return failed(ProviderFailureReason.ServerError, message, httpStatus, retryAfter);
  if (httpStatus >= 400) return failed(ProviderFailureReason.QueryRejected, message, httpStatus);
  return failed(ProviderFailureReason.BadResponse, message, httpStatus);
}

/** `X-RateLimit-Reset`: seconds until the window resets (not an epoch), as milliseconds. */
export function parseRateLimitReset(value: string | null): number | undefined {
  if (value === null || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return Math.round(Number(value.trim()) * 1000);
}

function rateLimitHeaders(headers: Headers): RateLimitHeaders {
  const picked: Record<string, string> = {};
  headers.forEach((value, name) => {
    const key = name.toLowerCase();
    if (key.startsWith('x-ratelimit-') || key === 'retry-after') picked[key] = value;
  });
  return picked;
}

function errorDetail(body: string): string {
  const trimmed = body.trim();
  if (trimmed === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return snippet(trimmed);
  }
  if (typeof parsed === 'object' && parsed !== null && 'errors' in parsed) {
    const { errors } = parsed as { errors: unknown };
    if (Array.isArray(errors)) return snippet(errors.map(String).join('; '));
    if (typeof errors === 'string') return snippet(errors);
  }
  return snippet(trimmed);
}

function failed(
  reason: ProviderFailureReason,
  message: string,
  httpStatus?: number,
  retryAfterMs?: number,
): ProviderFailed {
  return {
    status: ProviderResultStatus.Failed,
    reason,
    message,
    ...(httpStatus === undefined ? {} : { httpStatus }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

function networkMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${cause.message})` : cause.message;
  }
  return error.message;
}

function snippet(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

function unreachable(value: never): never {
  throw new Error(`unexpected ${JSON.stringify(value)}`);
}
