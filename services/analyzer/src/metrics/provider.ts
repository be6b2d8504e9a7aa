/**
 * The metric provider contract (Argo Rollouts' shape): one interface, one `kind` per backend, and
 * results that are data. A provider never throws because its backend failed: a 429, a 5xx, a
 * timeout, a refused connection or an unparsable answer is a `failed` result with a `reason` the
 * judge maps to an `Error` verdict (never a failed check). It throws only for a programming error
 * in the request (`ValidationError`) or when the caller's own AbortSignal fires (`ABORTED`).
 *
 * The failure reasons are exactly the judge's `ProviderFailureReason`, so a result converts to a
 * judge `Observation` without translation (`toObservation`).
 */
import {
  type Observation,
  ObservationStatus,
  type ProviderFailure,
  ProviderFailureReason,
} from '@aviary/judge';

/** The metric backends Aviary queries, one provider file each. */
export const MetricProviderKind = {
  Prometheus: 'prometheus',
  Datadog: 'datadog',
} as const;
export type MetricProviderKind = (typeof MetricProviderKind)[keyof typeof MetricProviderKind];

/** Why a query failed; the same union as the judge's, re-exported for providers. */
export { ProviderFailureReason };

/** An instant query (at `timeMs`, default: the backend's now) or a range query. */
export interface MetricQueryRequest {
  /** The query in the provider's language, already rendered (see `templates.ts`). */
  readonly query: string;
  /** Evaluation time of an instant query, Unix epoch milliseconds. Ignored with `range`. */
  readonly timeMs?: number;
  /** A range query: every `stepMs` from `startMs` to `endMs` inclusive (epoch milliseconds). */
  readonly range?: MetricQueryRange;
}

export interface MetricQueryRange {
  readonly startMs: number;
  readonly endMs: number;
  readonly stepMs: number;
}

/** One sample: epoch milliseconds and a value (`NaN`, `Infinity` and `-Infinity` included). */
export interface MetricSample {
  readonly tMs: number;
  readonly value: number;
}

/** One series: its labels and its samples, oldest first (one sample for instant queries). */
export interface MetricSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly samples: readonly MetricSample[];
}

export const ProviderResultStatus = {
  Ok: 'ok',
  Failed: 'failed',
} as const;
export type ProviderResultStatus = (typeof ProviderResultStatus)[keyof typeof ProviderResultStatus];

export interface ProviderOk {
  readonly status: typeof ProviderResultStatus.Ok;
  /** Zero series is a valid answer: no data (no traffic, or no telemetry). */
  readonly series: readonly MetricSeries[];
  /** Warnings the backend attached to a successful answer (e.g. partial data). */
  readonly warnings?: readonly string[];
}

export interface ProviderFailed {
  readonly status: typeof ProviderResultStatus.Failed;
  readonly reason: ProviderFailureReason;
  /** What went wrong, safe to log and show: never credentials or request headers. */
  readonly message: string;
  /** When a retry makes sense, from `Retry-After` (429, 503) or Datadog's `X-RateLimit-Reset`. */
  readonly retryAfterMs?: number;
  /** The HTTP status, when the backend answered at all. */
  readonly httpStatus?: number;
}

export type ProviderResult = ProviderOk | ProviderFailed;

/**
 * A metric backend. Implementations: `prometheus.ts`, `datadog.ts` (which also batches several
 * queries per request: `DatadogProvider.queryBatch`); built by `create-provider.ts`.
 */
export interface MetricProvider {
  readonly kind: MetricProviderKind;
  /**
   * Runs one query. Resolves with `ok` or `failed`; rejects only with a `ValidationError` for an
   * invalid request, or `ABORTED` when `signal` fires.
   */
  query(request: MetricQueryRequest, signal: AbortSignal): Promise<ProviderResult>;
}

/** A failed result as the judge's `ProviderFailure`. */
export function toProviderFailure(result: ProviderFailed): ProviderFailure {
  return result.retryAfterMs === undefined
    ? { reason: result.reason, message: result.message }
    : { reason: result.reason, message: result.message, retryAfterMs: result.retryAfterMs };
}

/**
 * A single-value observation for the judge from a result: the last sample of the only series.
 * No series, or a last value that is `NaN` (0/0: no traffic), is `no-data`; more than one series
 * is a `bad-response` (the query was meant to return one value; use the grouped forms to fold).
 */
export function toValueObservation(result: ProviderResult): Observation<number> {
  if (result.status === ProviderResultStatus.Failed) {
    return { status: ObservationStatus.ProviderError, failure: toProviderFailure(result) };
  }
  if (result.series.length > 1) {
    return {
      status: ObservationStatus.ProviderError,
      failure: {
        reason: ProviderFailureReason.BadResponse,
        message: `expected one series, got ${result.series.length}: aggregate the query (e.g. sum(...))`,
      },
    };
  }
  return seriesObservation(result.series[0]);
}

/** The observation of one series: its last sample, `no-data` when absent or `NaN`. */
export function seriesObservation(series: MetricSeries | undefined): Observation<number> {
  const last = series?.samples.at(-1);
  if (last === undefined || Number.isNaN(last.value)) return { status: ObservationStatus.NoData };
  return { status: ObservationStatus.Ok, data: last.value };
}
