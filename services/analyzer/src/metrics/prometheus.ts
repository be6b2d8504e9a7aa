/**
 * Prometheus (and Prometheus-compatible: Thanos, Mimir, Cortex) over the HTTP API, tested against
 * Prometheus 2.42: POST form-encoded `/api/v1/query` and `/api/v1/query_range`, every response
 * shape validated, sample values parsed from their strings (`"NaN"`, `"+Inf"`, `"-Inf"`), and
 * every failure mapped to a reason (see `docs/metric-providers.md`):
 *
 * | backend answer                                   | reason           |
 * |--------------------------------------------------|------------------|
 * | HTTP 429 (Mimir/Cortex "too many outstanding")   | `throttled`      |
 * | `errorType` `bad_data`, `execution`, HTTP 400/422 | `query-rejected` |
 * | `errorType` `timeout`, HTTP 408/504, our timeout | `timeout`        |
 * | `errorType` `canceled`/`unavailable`/`internal`, 5xx | `server-error` |
 * | `not_found`, `not_acceptable`, 401/403/404/other 4xx | `query-rejected` |
 * | refused, reset, DNS failure                      | `unreachable`    |
 * | not JSON, wrong shape, unparsable value           | `bad-response`   |
 *
 * Credentials (`headers`, userinfo in `address`) are sent but never appear in a message.
 */
import { abortedError, ValidationError, type ValidationIssue } from '@aviary/core';
import { redactUrl, z } from '@aviary/platform';
import {
  type MetricProvider,
  MetricProviderKind,
  type MetricQueryRequest,
  type MetricSample,
  type MetricSeries,
  type ProviderFailed,
  ProviderFailureReason,
  type ProviderResult,
  ProviderResultStatus,
} from './provider.ts';

/** The configuration of a Prometheus provider (a `MetricTemplate`'s `provider` block, resolved). */
export const prometheusConfigSchema = z.object({
  kind: z.literal(MetricProviderKind.Prometheus),
  /** Base URL, e.g. `http://prometheus.monitoring:9090` or a Thanos/Mimir prefix `…/prometheus`. */
  address: z.url({ protocol: /^https?$/ }),
  /** Extra request headers (Authorization, `X-Scope-OrgID`, …). Never logged. */
  headers: z.record(z.string(), z.string()).optional(),
  /** Per-request timeout, also sent to the server as `timeout`. Default 10 s. */
  timeoutMs: z.number().int().positive().max(600_000).optional(),
});
export type PrometheusConfig = z.infer<typeof prometheusConfigSchema>;

export interface PrometheusProviderOptions {
  readonly address: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** For tests; default the global `fetch`. */
  readonly fetch?: typeof fetch;
}

export const PROMETHEUS_DEFAULT_TIMEOUT_MS = 10_000;
/** Prometheus refuses range queries of more than 11,000 points per series (400 `bad_data`). */
export const PROMETHEUS_MAX_POINTS = 11_000;

/** Prometheus `errorType` values (2.42 `web/api/v1/api.go`) and what each means for us. */
const ERROR_TYPE_REASON: ReadonlyMap<string, ProviderFailureReason> = new Map([
  ['bad_data', ProviderFailureReason.QueryRejected],
  ['execution', ProviderFailureReason.QueryRejected],
  ['not_found', ProviderFailureReason.QueryRejected],
  ['not_acceptable', ProviderFailureReason.QueryRejected],
  ['timeout', ProviderFailureReason.Timeout],
  ['canceled', ProviderFailureReason.ServerError],
  ['unavailable', ProviderFailureReason.ServerError],
  ['internal', ProviderFailureReason.ServerError],
]);

export function createPrometheusProvider(options: PrometheusProviderOptions): MetricProvider {
  const { base, headers: authHeaders } = parseAddress(options.address);
  const timeoutMs = options.timeoutMs ?? PROMETHEUS_DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new ValidationError('prometheus provider', [
      { path: 'timeoutMs', message: 'must be a positive number of milliseconds' },
    ]);
  }
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = {
    ...authHeaders,
    ...options.headers,
    'Content-Type': 'application/x-www-form-urlencoded',
    Accept: 'application/json',
  };
  const shownBase = redactUrl(base.toString());

  return {
    kind: MetricProviderKind.Prometheus,
    async query(request: MetricQueryRequest, signal: AbortSignal): Promise<ProviderResult> {
      const form = requestForm(request, timeoutMs);
      const endpoint = request.range === undefined ? 'api/v1/query' : 'api/v1/query_range';
      const url = new URL(endpoint, base);
      const what = `POST ${shownBase.replace(/\/$/, '')}/${endpoint}`;
      if (signal.aborted) throw abortedError(signal, what);
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = AbortSignal.any([signal, timeout]);

      let response: Response;
      let text: string;
      try {
        response = await doFetch(url, { method: 'POST', headers, body: form, signal: combined });
        text = await response.text();
      } catch (error) {
        if (signal.aborted) throw abortedError(signal, what);
        if (timeout.aborted) {
          return failed(ProviderFailureReason.Timeout, `${what}: no answer within ${timeoutMs} ms`);
        }
        return failed(ProviderFailureReason.Unreachable, `${what}: ${networkMessage(error)}`);
      }
      return interpretResponse(response.status, response.headers, text, what);
    },
  };
}

/** Splits userinfo out of the address (fetch refuses it) into a Basic Authorization header. */
function parseAddress(address: string): { base: URL; headers: Record<string, string> } {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ValidationError('prometheus provider', [
      { path: 'address', message: `not a URL: ${redactUrl(address)}` },
    ]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError('prometheus provider', [
      { path: 'address', message: `must be http(s), got ${url.protocol}` },
    ]);
  }
  const headers: Record<string, string> = {};
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.Authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return { base: url, headers };
}

function requestForm(request: MetricQueryRequest, timeoutMs: number): URLSearchParams {
  const issues: ValidationIssue[] = [];
  if (typeof request.query !== 'string' || request.query.trim() === '') {
    issues.push({ path: 'query', message: 'must be a non-empty query' });
  }
  const form = new URLSearchParams({ query: request.query, timeout: `${Math.ceil(timeoutMs)}ms` });
  const { range } = request;
  if (range === undefined) {
    if (request.timeMs !== undefined) {
      if (!Number.isFinite(request.timeMs)) {
        issues.push({ path: 'timeMs', message: 'must be epoch milliseconds' });
      }
      form.set('time', seconds(request.timeMs));
    }
  } else {
    const { startMs, endMs, stepMs } = range;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) {
      issues.push({ path: 'range', message: 'needs finite startMs <= endMs (epoch ms)' });
    }
    if (!Number.isFinite(stepMs) || stepMs <= 0) {
      issues.push({ path: 'range.stepMs', message: 'must be a positive number of milliseconds' });
    } else if ((endMs - startMs) / stepMs + 1 > PROMETHEUS_MAX_POINTS) {
      issues.push({
        path: 'range.stepMs',
        message: `more than ${PROMETHEUS_MAX_POINTS} points per series: widen the step`,
      });
    }
    form.set('start', seconds(startMs));
    form.set('end', seconds(endMs));
    form.set('step', seconds(stepMs));
  }
  if (issues.length > 0) throw new ValidationError('prometheus query', issues);
  return form;
}

function seconds(ms: number): string {
  return String(ms / 1000);
}

/**
 * Maps one HTTP answer to a result. Exported for unit tests of the response parsing; `what`
 * names the request in messages (method and redacted URL).
 */
export function interpretResponse(
  httpStatus: number,
  headers: Headers,
  text: string,
  what: string,
): ProviderResult {
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
  const body = parseJson(text);
  const envelope = isRecord(body) ? body : undefined;

  if (httpStatus === 429) {
    return failed(
      ProviderFailureReason.Throttled,
      `${what}: HTTP 429${errorText(envelope, text)}`,
      httpStatus,
      retryAfterMs,
    );
  }
  if (envelope?.status === 'error') {
    const errorType = typeof envelope.errorType === 'string' ? envelope.errorType : '';
    const reason =
      ERROR_TYPE_REASON.get(errorType) ??
      statusReason(httpStatus) ??
      ProviderFailureReason.ServerError;
    return failed(
      reason,
      `${what}: HTTP ${httpStatus} ${errorType || 'error'}${errorText(envelope, text)}`,
      httpStatus,
      retryAfterMs,
    );
  }
  if (httpStatus < 200 || httpStatus >= 300) {
    return failed(
      statusReason(httpStatus) ?? ProviderFailureReason.BadResponse,
      `${what}: HTTP ${httpStatus}${errorText(envelope, text)}`,
      httpStatus,
      retryAfterMs,
    );
  }
  if (envelope === undefined) {
    return failed(
      ProviderFailureReason.BadResponse,
      `${what}: the answer is not a JSON object: ${snippet(text)}`,
      httpStatus,
    );
  }
  const parsed = parseSuccess(envelope);
  if (typeof parsed === 'string') {
    return failed(ProviderFailureReason.BadResponse, `${what}: ${parsed}`, httpStatus);
  }
  return parsed;
}

function statusReason(httpStatus: number): ProviderFailureReason | undefined {
  if (httpStatus === 429) return ProviderFailureReason.Throttled;
  if (httpStatus === 408 || httpStatus === 504) return ProviderFailureReason.Timeout;
  if (httpStatus >= 500) return ProviderFailureReason.ServerError;
  if (httpStatus >= 400) return ProviderFailureReason.QueryRejected;
  return undefined;
}

/** A successful envelope as a result, or a description of what is wrong with it. */
function parseSuccess(envelope: Record<string, unknown>): ProviderResult | string {
  if (envelope.status !== 'success') return `unexpected status ${JSON.stringify(envelope.status)}`;
  const warnings = envelope.warnings;
  if (
    warnings !== undefined &&
    !(Array.isArray(warnings) && warnings.every((w) => typeof w === 'string'))
  ) {
    return '`warnings` is not a list of strings';
  }
  const data = envelope.data;
  if (!isRecord(data)) return '`data` is missing';
  const { resultType, result } = data;
  let series: MetricSeries[] | string;
  switch (resultType) {
    case 'vector':
      series = parseVector(result);
      break;
    case 'matrix':
      series = parseMatrix(result);
      break;
    case 'scalar': {
      const sample = parseSample(result, 'result');
      series = typeof sample === 'string' ? sample : [{ labels: {}, samples: [sample] }];
      break;
    }
    case 'string':
      return 'a string result has no numeric value: the query must return numbers';
    default:
      return `unknown resultType ${JSON.stringify(resultType)}`;
  }
  if (typeof series === 'string') return series;
  return warnings !== undefined && warnings.length > 0
    ? { status: ProviderResultStatus.Ok, series, warnings: warnings as string[] }
    : { status: ProviderResultStatus.Ok, series };
}

function parseVector(result: unknown): MetricSeries[] | string {
  if (!Array.isArray(result)) return 'vector `result` is not a list';
  const series: MetricSeries[] = [];
  for (const [i, item] of result.entries()) {
    if (!isRecord(item)) return `result[${i}] is not an object`;
    const labels = parseLabels(item.metric, `result[${i}].metric`);
    if (typeof labels === 'string') return labels;
    if (item.value === undefined && item.histogram !== undefined) {
      return `result[${i}] is a native histogram, which is not supported`;
    }
    const sample = parseSample(item.value, `result[${i}].value`);
    if (typeof sample === 'string') return sample;
    series.push({ labels, samples: [sample] });
  }
  return series;
}

function parseMatrix(result: unknown): MetricSeries[] | string {
  if (!Array.isArray(result)) return 'matrix `result` is not a list';
  const series: MetricSeries[] = [];
  for (const [i, item] of result.entries()) {
    if (!isRecord(item)) return `result[${i}] is not an object`;
    const labels = parseLabels(item.metric, `result[${i}].metric`);
    if (typeof labels === 'string') return labels;
    if (item.values === undefined && item.histograms !== undefined) {
      return `result[${i}] holds native histograms, which are not supported`;
    }
    if (!Array.isArray(item.values)) return `result[${i}].values is not a list`;
    const samples: MetricSample[] = [];
    for (const [j, raw] of item.values.entries()) {
      const sample = parseSample(raw, `result[${i}].values[${j}]`);
      if (typeof sample === 'string') return sample;
      samples.push(sample);
    }
    series.push({ labels, samples });
  }
  return series;
}

function parseLabels(metric: unknown, path: string): Record<string, string> | string {
  if (!isRecord(metric)) return `${path} is not an object`;
  const labels: Record<string, string> = {};
  for (const [name, value] of Object.entries(metric)) {
    if (typeof value !== 'string') return `${path}.${name} is not a string`;
    labels[name] = value;
  }
  return labels;
}

/** `[<unix seconds>, "<value>"]`. */
function parseSample(raw: unknown, path: string): MetricSample | string {
  if (!Array.isArray(raw) || raw.length !== 2) return `${path} is not a [time, value] pair`;
  const [t, v] = raw as [unknown, unknown];
  if (typeof t !== 'number' || !Number.isFinite(t)) return `${path}[0] is not a Unix time`;
  if (typeof v !== 'string') return `${path}[1] is not a string value`;
  const value = parseSampleValue(v);
  if (value === undefined) return `${path}[1] is not a number: ${snippet(v)}`;
  return { tMs: Math.round(t * 1000), value };
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Prometheus formats samples with Go's `strconv.FormatFloat(v, 'f', -1, 64)` plus NaN/±Inf. */
export function parseSampleValue(text: string): number | undefined {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    default:
      return DECIMAL.test(text) ? Number(text) : undefined;
  }
}

/** `Retry-After`: delay-seconds or an HTTP date; milliseconds from now, at least 0. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const dateMs = Date.parse(trimmed);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs);
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

function errorText(envelope: Record<string, unknown> | undefined, text: string): string {
  if (envelope !== undefined && typeof envelope.error === 'string') return `: ${envelope.error}`;
  const trimmed = text.trim();
  return trimmed === '' ? '' : `: ${snippet(trimmed)}`;
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function snippet(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
}
