/**
 * Runs query plans against the providers and judges every check: one verdict per check, with its
 * evidence and the raw samples it was judged on.
 *
 * - **In-flight dedup**: identical (provider, query, window) share one promise, across rounds
 *   running at the same time too.
 * - **Cache**: answers for closed windows (ending at least the ingestion delay before the round's
 *   time) are immutable and kept for `cacheRetentionMs`; failures and answers with warnings are
 *   never cached.
 * - **Budget**: Datadog spends a `WindowBudget` (wire the provider's `onRateLimit` to it with
 *   `rateLimitObserver`) one planned request at a time, rollback first; Prometheus goes through a
 *   `ConcurrencyLimiter` fed with each answer's status. Under pressure, routine checks get a wider
 *   step (`routineStepMs`) at planning time instead of failing.
 * - A throttled, refused-by-budget, unreachable or failing provider gives every check it would
 *   have answered an `Error` verdict with `retryAfterMs` when known; never `Failed`. Every `Error`
 *   from a provider failure or a rejected check carries its `errorKind` (`error-kind.ts`):
 *   configuration (400/422, quarantined, not plannable) or provider unavailable.
 */
import { ValidationError } from '@aviary/core';
import {
  type HistogramSnapshot,
  judge,
  type Observation,
  ObservationStatus,
  Outcome,
  ProviderFailureReason,
  type TimeWindow,
} from '@aviary/judge';
import {
  type ConcurrencyLimiter,
  Priority,
  type RateLimitHeaders,
  routineStepMs,
  type WindowBudget,
} from '../budget/index.ts';
import {
  type CanaryRef,
  canaryHistograms,
  type GroupedQuery,
  splitGroupedResult,
  splitHistogramResult,
} from '../metrics/builtin.ts';
import type { DatadogProvider } from '../metrics/datadog.ts';
import {
  type MetricProvider,
  MetricProviderKind,
  type MetricSeries,
  type ProviderFailed,
  type ProviderResult,
  ProviderResultStatus,
  seriesObservation,
  toProviderFailure,
  toValueObservation,
} from '../metrics/provider.ts';
import { type AnalyzerVerdict, ErrorKind, errorKindOf, withErrorKind } from './error-kind.ts';
import {
  type ActiveCheck,
  higherPriority,
  type PlannedAnswer,
  type PlannedQuery,
  type PlannedRequest,
  type ProviderPlanning,
  planQueries,
  type QueryPlan,
} from './plan.ts';

/** A provider as the scheduler drives it: Datadog with its window budget, Prometheus with its limiter. */
export type ScheduledProvider =
  | {
      readonly planning: ProviderPlanning & { readonly kind: typeof MetricProviderKind.Datadog };
      readonly provider: DatadogProvider;
      readonly budget: WindowBudget;
    }
  | {
      readonly planning: ProviderPlanning & {
        readonly kind: typeof MetricProviderKind.Prometheus;
      };
      readonly provider: MetricProvider;
      readonly limiter: ConcurrencyLimiter;
    };

export interface SchedulerOptions {
  readonly providers: readonly ScheduledProvider[];
  /** The round period: the base step routine checks are widened from; default 60 s. */
  readonly roundMs?: number;
  /** How long closed windows stay cached after their end; default 2 h. */
  readonly cacheRetentionMs?: number;
  /**
   * How long a Datadog query the backend rejected (400/422, found by bisecting its batch) is
   * answered from memory with that rejection instead of being sent again; default 15 min.
   */
  readonly quarantineMs?: number;
}

/** Where a verdict's data came from. */
export const VerdictSource = {
  /** This round's call to the provider. */
  Provider: 'provider',
  /** The same query already in flight (another round, or another caller). */
  Shared: 'shared',
  /** The immutable cache of closed windows: no call. */
  Cache: 'cache',
  /** The budget refused the call: no call, an `Error` verdict with `retryAfterMs`. */
  Budget: 'budget',
  /** The check could not be planned (configuration error): an `Error` verdict. */
  Rejected: 'rejected',
  /** The backend rejected this query recently (400/422): answered without a call. */
  Quarantined: 'quarantined',
} as const;
export type VerdictSource = (typeof VerdictSource)[keyof typeof VerdictSource];

/** One check's verdict, with what a later re-judgement needs. */
export interface CheckVerdict {
  readonly checkId: string;
  /** Tagged with `errorKind` when it is an `Error` of known cause. */
  readonly verdict: AnalyzerVerdict;
  readonly source: VerdictSource;
  /** The rendered (grouped) query, for `Evidence.query`; empty when rejected. */
  readonly query: string;
  readonly templateId?: string;
  readonly window?: TimeWindow;
  /** The raw series this check was judged on (canary, and primary for built-ins). */
  readonly samples: readonly MetricSeries[];
  /**
   * A histogram check: the canary's and its primary's histograms over the window, on their
   * shared boundaries (the verdict is then the canary's request count, +Inf bucket, with no
   * threshold; `latency.ts` judges the comparison across looks).
   */
  readonly histograms?: HistogramSnapshot;
}

export interface Scheduler {
  /** The plan for `checks` at `nowMs`, routine steps widened when a budget is short. */
  plan(checks: readonly ActiveCheck[], nowMs: number): QueryPlan;
  /** Runs a plan: one verdict per planned or rejected check. */
  execute(plan: QueryPlan, signal: AbortSignal): Promise<readonly CheckVerdict[]>;
  /** `plan` then `execute`. */
  round(
    checks: readonly ActiveCheck[],
    nowMs: number,
    signal: AbortSignal,
  ): Promise<{ readonly plan: QueryPlan; readonly verdicts: readonly CheckVerdict[] }>;
  /** Entries in the closed-window cache. */
  readonly cacheSize: number;
}

/** Feeds a Datadog provider's `onRateLimit` into a budget, stamped by the caller's clock. */
export function rateLimitObserver(
  budget: WindowBudget,
  nowMs: () => number,
): (status: number, headers: RateLimitHeaders) => void {
  return (status, headers) => budget.observe(status, headers, nowMs());
}

interface QueryOutcome {
  readonly result: ProviderResult;
  readonly source: VerdictSource;
}

interface Deferred {
  readonly promise: Promise<ProviderResult>;
  resolve(result: ProviderResult): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve: (r: ProviderResult) => void = () => {};
  let reject: (e: unknown) => void = () => {};
  const promise = new Promise<ProviderResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A rejection is also seen by the round that owns it; never unhandled here.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export function createScheduler(options: SchedulerOptions): Scheduler {
  const roundMs = options.roundMs ?? 60_000;
  const retentionMs = options.cacheRetentionMs ?? 2 * 3_600_000;
  const providers = new Map(options.providers.map((p) => [p.planning.id, p]));
  const plannings = options.providers.map((p) => p.planning);
  const cache = new Map<string, { readonly result: ProviderResult; readonly endMs: number }>();
  const inFlight = new Map<string, Promise<ProviderResult>>();
  const quarantine: Quarantine = new Map();
  const quarantineMs = options.quarantineMs ?? 15 * 60_000;

  function plan(checks: readonly ActiveCheck[], nowMs: number): QueryPlan {
    const first = planQueries(checks, { nowMs, providers: plannings });
    const factors: Record<string, number> = {};
    for (const scheduled of options.providers) {
      if (scheduled.planning.kind !== MetricProviderKind.Datadog || !('budget' in scheduled)) {
        continue;
      }
      const routine = first.requests.filter(
        (r) =>
          r.providerId === scheduled.planning.id &&
          r.priority === Priority.Routine &&
          r.queries.some((q) => !cache.has(q.key)),
      ).length;
      if (routine === 0) continue;
      const step = routineStepMs(roundMs, routine, scheduled.budget.state(nowMs), nowMs);
      if (step > roundMs) factors[scheduled.planning.id] = step / roundMs;
    }
    return Object.keys(factors).length === 0
      ? first
      : planQueries(checks, { nowMs, providers: plannings, routineStepFactor: factors });
  }

  async function execute(plan: QueryPlan, signal: AbortSignal): Promise<readonly CheckVerdict[]> {
    const nowMs = plan.nowMs;
    for (const [key, entry] of cache) {
      if (entry.endMs + retentionMs < nowMs) cache.delete(key);
    }
    for (const [key, entry] of quarantine) {
      if (entry.untilMs <= nowMs) quarantine.delete(key);
    }

    // Phase 1, synchronous: every query is cached, already in flight, or ours to send. Ours are
    // registered before the first await, so a concurrent round shares them.
    const outcomes = new Map<string, Promise<QueryOutcome>>();
    const owned: { request: PlannedRequest; mine: { query: PlannedQuery; d: Deferred }[] }[] = [];
    for (const request of plan.requests) {
      const mine: { query: PlannedQuery; d: Deferred }[] = [];
      for (const query of request.queries) {
        if (outcomes.has(query.key)) continue;
        const cached = cache.get(query.key);
        const shared = inFlight.get(query.key);
        const rejected = quarantine.get(quarantineKey(query));
        if (rejected !== undefined) {
          outcomes.set(
            query.key,
            Promise.resolve({ result: rejected.result, source: VerdictSource.Quarantined }),
          );
        } else if (cached !== undefined) {
          outcomes.set(
            query.key,
            Promise.resolve({ result: cached.result, source: VerdictSource.Cache }),
          );
        } else if (shared !== undefined) {
          outcomes.set(
            query.key,
            shared.then((result) => ({ result, source: VerdictSource.Shared })),
          );
        } else {
          const d = deferred();
          inFlight.set(query.key, d.promise);
          outcomes.set(
            query.key,
            d.promise.then((result) => ({
              result,
              source:
                result.status === ProviderResultStatus.Failed && budgetRefusals.has(result)
                  ? VerdictSource.Budget
                  : VerdictSource.Provider,
            })),
          );
          mine.push({ query, d });
        }
      }
      if (mine.length > 0) owned.push({ request, mine });
    }

    // Phase 2: send, per provider; Datadog one request after the other in priority order.
    const byProvider = new Map<string, typeof owned>();
    for (const entry of owned) {
      const list = byProvider.get(entry.request.providerId) ?? [];
      list.push(entry);
      byProvider.set(entry.request.providerId, list);
    }
    const settle = (mine: readonly { query: PlannedQuery; d: Deferred }[], results: Results) => {
      for (const { query, d } of mine) {
        const result = results(query) ?? internalFailure(query);
        const closed =
          providers.has(query.providerId) && query.window.endMs <= nowMs - query.ingestionDelayMs;
        if (
          closed &&
          result.status === ProviderResultStatus.Ok &&
          (result.warnings?.length ?? 0) === 0
        ) {
          cache.set(query.key, { result, endMs: query.window.endMs });
        }
        inFlight.delete(query.key);
        d.resolve(result);
      }
    };
    const fail = (mine: readonly { query: PlannedQuery; d: Deferred }[], error: unknown) => {
      for (const { query, d } of mine) {
        inFlight.delete(query.key);
        d.reject(error);
      }
    };

    await Promise.all(
      [...byProvider.entries()].map(async ([providerId, entries]) => {
        const scheduled = providers.get(providerId);
        if (scheduled === undefined) {
          for (const { mine } of entries) settle(mine, () => undefined);
          return;
        }
        if ('budget' in scheduled) {
          for (const [i, { mine }] of entries.entries()) {
            try {
              settle(
                mine,
                await sendDatadog(scheduled, mine, nowMs, signal, (query, result) =>
                  quarantine.set(quarantineKey(query), { result, untilMs: nowMs + quarantineMs }),
                ),
              );
            } catch (error) {
              for (const rest of entries.slice(i)) fail(rest.mine, error);
              throw error;
            }
          }
        } else {
          await Promise.all(
            entries.map(async ({ mine }) => {
              try {
                settle(mine, await sendPrometheus(scheduled, mine, signal));
              } catch (error) {
                fail(mine, error);
                throw error;
              }
            }),
          );
        }
      }),
    );

    // Phase 3: split and judge.
    const verdicts: CheckVerdict[] = [];
    for (const query of plan.queries) {
      const outcome = await outcomes.get(query.key);
      if (outcome === undefined) throw new Error(`scheduler: no outcome for ${query.key}`);
      for (const answer of query.answers) verdicts.push(judgeAnswer(query, answer, outcome));
    }
    for (const rejected of plan.rejected) {
      verdicts.push({
        checkId: rejected.checkId,
        source: VerdictSource.Rejected,
        query: '',
        samples: [],
        verdict: withErrorKind(
          judge(rejected.check, {
            status: ObservationStatus.ProviderError,
            failure: {
              reason: ProviderFailureReason.QueryRejected,
              message: `configuration error: ${rejected.message}`,
            },
          }),
          ErrorKind.Configuration,
        ),
      });
    }
    return verdicts;
  }

  return {
    plan,
    execute,
    async round(checks, nowMs, signal) {
      const planned = plan(checks, nowMs);
      return { plan: planned, verdicts: await execute(planned, signal) };
    },
    get cacheSize() {
      return cache.size;
    },
  };
}

type Results = (query: PlannedQuery) => ProviderResult | undefined;

/** Failures the budget produced without calling the provider. */
const budgetRefusals = new WeakSet<ProviderResult>();

/** Queries the backend rejected, by (provider, query text): the template is wrong, not the window. */
type Quarantine = Map<string, { readonly result: ProviderFailed; readonly untilMs: number }>;

function quarantineKey(query: PlannedQuery): string {
  return JSON.stringify([query.providerId, query.query]);
}

/** A 400/422: Datadog refused the request's content (a query it cannot parse or run). */
function isRejection(result: ProviderResult | undefined): result is ProviderFailed {
  return (
    result?.status === ProviderResultStatus.Failed &&
    result.reason === ProviderFailureReason.QueryRejected &&
    (result.httpStatus === 400 || result.httpStatus === 422)
  );
}

/**
 * One planned Datadog request. Datadog answers a packed request with one bad query with a 400
 * for all of them; so a rejected request of several queries is split in halves, each sent again
 * (each call spending the budget), until the rejected queries stand alone. k bad queries among n
 * cost about 2k·log2(n) extra calls, once: each one found is reported to `onRejected` (the
 * scheduler quarantines it), and the other queries get their answers.
 */
async function sendDatadog(
  scheduled: Extract<ScheduledProvider, { readonly budget: WindowBudget }>,
  mine: readonly { query: PlannedQuery }[],
  nowMs: number,
  signal: AbortSignal,
  onRejected: (query: PlannedQuery, result: ProviderFailed) => void = () => {},
): Promise<Results> {
  const results = new Map<string, ProviderResult>();
  const send = async (chunk: readonly { query: PlannedQuery }[]): Promise<void> => {
    const answers = await sendDatadogOnce(scheduled, chunk, nowMs, signal);
    const all = chunk.map(({ query }) => answers(query));
    if (chunk.length > 1 && all.every(isRejection)) {
      const half = Math.ceil(chunk.length / 2);
      await send(chunk.slice(0, half));
      await send(chunk.slice(half));
      return;
    }
    for (const [i, { query }] of chunk.entries()) {
      const result = all[i];
      if (result === undefined) continue;
      if (isRejection(result)) {
        const isolated: ProviderFailed = {
          ...result,
          message: `configuration error: Datadog rejected template ${query.templateId}: ${result.message}`,
        };
        onRejected(query, isolated);
        results.set(query.key, isolated);
      } else {
        results.set(query.key, result);
      }
    }
  };
  await send(mine);
  return (query) => results.get(query.key);
}

async function sendDatadogOnce(
  scheduled: Extract<ScheduledProvider, { readonly budget: WindowBudget }>,
  mine: readonly { query: PlannedQuery }[],
  nowMs: number,
  signal: AbortSignal,
): Promise<Results> {
  const head = mine[0]?.query;
  if (head === undefined) return () => undefined;
  const priority = mine.reduce<Priority>(
    (p, m) => higherPriority(p, m.query.priority),
    head.priority,
  );
  const decision = scheduled.budget.canSpend(priority, nowMs);
  if (!decision.allowed) {
    const refused: ProviderFailed = {
      status: ProviderResultStatus.Failed,
      reason: ProviderFailureReason.Throttled,
      message: `budget ${scheduled.budget.name}: ${decision.reason}`,
      retryAfterMs: decision.retryAfterMs,
    };
    budgetRefusals.add(refused);
    return () => refused;
  }
  scheduled.budget.spend(nowMs);
  const names = new Map(mine.map(({ query }, i) => [query.key, `q${i}`]));
  try {
    const results = await scheduled.provider.queryBatch(
      mine.map(({ query }, i) => ({ name: `q${i}`, query: query.query })),
      {
        fromMs: head.window.startMs,
        toMs: head.window.endMs,
        intervalMs: head.window.endMs - head.window.startMs,
      },
      signal,
    );
    return (query) => {
      const name = names.get(query.key);
      return name === undefined ? undefined : results.get(name);
    };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const rejected = queryRejected(error.message);
    return () => rejected;
  }
}

async function sendPrometheus(
  scheduled: Extract<ScheduledProvider, { readonly limiter: ConcurrencyLimiter }>,
  mine: readonly { query: PlannedQuery }[],
  signal: AbortSignal,
): Promise<Results> {
  const results = new Map<string, ProviderResult>();
  for (const { query } of mine) {
    const release = await scheduled.limiter.acquire(signal);
    try {
      const result = await scheduled.provider
        .query({ query: query.query, timeMs: query.window.endMs }, signal)
        .catch((error: unknown) => {
          if (error instanceof ValidationError) return queryRejected(error.message);
          throw error;
        });
      const status =
        result.status === ProviderResultStatus.Ok
          ? 200
          : (result.httpStatus ?? (result.reason === ProviderFailureReason.Throttled ? 429 : 0));
      if (status > 0) scheduled.limiter.observe(status);
      results.set(query.key, result);
    } finally {
      release();
    }
  }
  return (query) => results.get(query.key);
}

function queryRejected(message: string): ProviderFailed {
  return {
    status: ProviderResultStatus.Failed,
    reason: ProviderFailureReason.QueryRejected,
    message,
  };
}

function internalFailure(query: PlannedQuery): ProviderFailed {
  return {
    status: ProviderResultStatus.Failed,
    reason: ProviderFailureReason.BadResponse,
    message: `no answer for ${query.templateId} from provider ${query.providerId}`,
  };
}

function judgeAnswer(
  query: PlannedQuery,
  answer: PlannedAnswer,
  outcome: QueryOutcome,
): CheckVerdict {
  const { result } = outcome;
  let observation: Observation<number>;
  let samples: readonly MetricSeries[] = [];
  let histograms: HistogramSnapshot | undefined;
  let errorKind: ErrorKind | undefined;
  if (result.status === ProviderResultStatus.Failed) {
    errorKind = errorKindOf(result.reason);
    observation = { status: ObservationStatus.ProviderError, failure: toProviderFailure(result) };
  } else {
    switch (query.split.kind) {
      case 'builtin': {
        const split = splitGroupedResult(query.split.grouped, result);
        observation = split.get(answer.groupKey ?? '') ?? { status: ObservationStatus.NoData };
        samples = builtinSeries(query.split.grouped, answer.canary, result.series);
        break;
      }
      case 'histogram': {
        const split = canaryHistograms(
          splitHistogramResult(query.split.grouped, result),
          answer.canary,
        );
        samples = builtinSeries(query.split.grouped, answer.canary, result.series);
        if (split.status === ObservationStatus.Ok) {
          histograms = split.data;
          const total = split.data.canary.at(-1)?.count ?? 0;
          observation = { status: ObservationStatus.Ok, data: total };
        } else {
          observation = split;
        }
        break;
      }
      case 'labels': {
        const wanted = Object.entries(answer.labels ?? {});
        const found = result.series.filter((s) => wanted.every(([k, v]) => s.labels[k] === v));
        samples = found;
        observation =
          found.length > 1
            ? {
                status: ObservationStatus.ProviderError,
                failure: {
                  reason: ProviderFailureReason.BadResponse,
                  message: `${found.length} series for ${answer.canary.namespace}/${answer.canary.target}`,
                },
              }
            : seriesObservation(found[0]);
        break;
      }
      case 'single':
        samples = result.series;
        observation = toValueObservation(result);
        break;
      default: {
        const never: never = query.split;
        throw new Error(`unknown split ${JSON.stringify(never)}`);
      }
    }
  }
  const judged = judge(answer.check, { ...observation, window: query.window });
  const verdict = judged.outcome === Outcome.Error ? withErrorKind(judged, errorKind) : judged;
  return {
    checkId: answer.checkId,
    verdict,
    source: outcome.source,
    query: query.query,
    templateId: query.templateId,
    window: query.window,
    samples,
    ...(histograms === undefined ? {} : { histograms }),
  };
}

/** The canary's and its primary's series in a grouped built-in answer. */
function builtinSeries(
  grouped: GroupedQuery,
  canary: CanaryRef,
  series: readonly MetricSeries[],
): MetricSeries[] {
  const identity =
    grouped.router === 'nginx'
      ? (canary.ingress ?? canary.target)
      : grouped.router === 'contour'
        ? (canary.service ?? canary.target)
        : canary.target;
  return series.filter(
    (s) =>
      s.labels.namespace === canary.namespace &&
      s.labels.workload === identity &&
      (grouped.clusterLabel === undefined ||
        s.labels[grouped.clusterLabel] === (canary.cluster ?? '')),
  );
}

/** True when the verdict could count towards a rollback (for callers and tests). */
export function isFailed(verdict: CheckVerdict): boolean {
  return verdict.verdict.outcome === Outcome.Failed;
}
