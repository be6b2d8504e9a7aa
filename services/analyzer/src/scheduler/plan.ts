/**
 * Query planning (pure): the active checks of every canary and the time in, the fewest queries
 * for this round out. Time is a parameter; nothing here reads a clock.
 *
 * - **Windows** are aligned to the check's interval and end before the provider's ingestion
 *   delay D: `endMs = floor((nowMs − D) / stepMs) · stepMs`, `startMs = endMs − stepMs`. Every
 *   canary on a provider with the same step shares the window, so answers are shareable and the
 *   closed window cacheable. Routine checks may get a wider step (`routineStepFactor`, from the
 *   budget), which also moves their window less often.
 * - **Folding**: checks sharing (provider, template, grouped query, window) become ONE query.
 *   Built-ins (Prometheus) through `groupedBuiltinQuery`; Datadog templates through
 *   `groupedDatadogQuery`. Custom Prometheus templates are rendered per canary (folding arbitrary
 *   PromQL is not safe: see docs/analyzer-scheduler.md); identical renders still share one query.
 * - **Packing**: a Datadog provider's queries over the same window go in requests of at most
 *   `maxQueriesPerRequest` metric queries, exactly as `DatadogProvider.queryBatch` chunks them, so
 *   one planned request is one HTTP call.
 * - Each planned query carries the checks it answers and the highest priority among them;
 *   requests are ordered rollback first.
 */
import { ValidationError } from '@aviary/core';
import type { TimeWindow, ValueThresholdCheck } from '@aviary/judge';
import { Priority } from '../budget/index.ts';
import {
  type BuiltinMetric,
  type CanaryRef,
  GroupedForm,
  type GroupedQuery,
  groupedBuiltinQuery,
  groupKey,
  type MetricRouter,
  Track,
} from '../metrics/builtin.ts';
import { DATADOG_DEFAULT_MAX_QUERIES_PER_REQUEST } from '../metrics/datadog.ts';
import { chunkBy, distinctLeaves, splitExpression } from '../metrics/datadog-query.ts';
import { MetricProviderKind } from '../metrics/provider.ts';
import { kubernetesNameProblem, renderQuery } from '../metrics/templates.ts';
import {
  groupedDatadogQuery,
  type IdentityField,
  identityLabels,
  renderDatadogQuery,
} from './datadog-template.ts';

/** Ingestion delay per provider kind (reference §5): scrape + staleness; agent + intake. */
export const DEFAULT_INGESTION_DELAY_MS: Readonly<Record<MetricProviderKind, number>> = {
  prometheus: 30_000,
  datadog: 120_000,
};

/** What planning needs to know about a provider. */
export interface ProviderPlanning {
  readonly id: string;
  readonly kind: MetricProviderKind;
  /** How long until a bucket is complete; default `DEFAULT_INGESTION_DELAY_MS[kind]`. */
  readonly ingestionDelayMs?: number;
  /** Datadog: metric queries per request (default 20, as the provider). */
  readonly maxQueriesPerRequest?: number;
  /** Prometheus: the label naming the cluster on every series (Thanos, Mimir, federation). */
  readonly clusterLabel?: string;
}

export const MetricSource = {
  Builtin: 'builtin',
  Template: 'template',
} as const;
export type MetricSource = (typeof MetricSource)[keyof typeof MetricSource];

export type CheckMetric =
  | {
      readonly source: typeof MetricSource.Builtin;
      readonly router: MetricRouter;
      readonly metric: BuiltinMetric;
      /**
       * `histogram`: the grouped latency histogram of `request-duration` (a latency
       * comparison's measurement, `latency.ts`) instead of its value; default `value`.
       */
      readonly form?: GroupedForm;
    }
  | {
      readonly source: typeof MetricSource.Template;
      /** `namespace/name` of the MetricTemplate. */
      readonly templateId: string;
      /** The template's query, in the provider's language. */
      readonly query: string;
    };

/** One check of one canary: what to measure, where, how often, and the threshold. */
export interface ActiveCheck {
  /** Unique per check and round (the AnalysisRequest's `request_id`). */
  readonly id: string;
  readonly cluster: string;
  readonly namespace: string;
  /** The target workload (`{{ target }}`). */
  readonly workload: string;
  readonly service?: string;
  readonly ingress?: string;
  readonly providerId: string;
  readonly metric: CheckMetric;
  /** `templateVariables`. */
  readonly variables?: Readonly<Record<string, string>>;
  /** The metric's interval: the window's length and its alignment. */
  readonly intervalMs: number;
  /**
   * The metric's own ingestion delay, when it differs from its provider's (a template of a
   * metric that arrives late, e.g. crawler or billing metrics 15–20 min): windows end before it.
   */
  readonly ingestionDelayMs?: number;
  /** Flagger's `thresholdRange` on the value. */
  readonly check: ValueThresholdCheck;
  readonly priority: Priority;
}

export interface PlanOptions {
  readonly nowMs: number;
  readonly providers: readonly ProviderPlanning[];
  /** Per provider id: how much wider routine checks' step is (1, 2, 5); default 1. */
  readonly routineStepFactor?: Readonly<Record<string, number>>;
}

/** How a planned query's answer is handed back to each check. */
export type Split =
  /** A grouped built-in: `splitGroupedResult`, by `groupKey`. */
  | { readonly kind: 'builtin'; readonly grouped: GroupedQuery }
  /** A grouped built-in histogram: `splitHistogramResult`, canary and primary by `groupKey`. */
  | { readonly kind: 'histogram'; readonly grouped: GroupedQuery }
  /** A grouped Datadog query: the series whose labels equal the answer's `labels`. */
  | { readonly kind: 'labels' }
  /** A per-canary query: its only series. */
  | { readonly kind: 'single' };

/** One check a planned query answers. */
export interface PlannedAnswer {
  readonly checkId: string;
  readonly check: ValueThresholdCheck;
  readonly canary: CanaryRef;
  /** Built-in: `groupKey(canary, track)` of the canary track. */
  readonly groupKey?: string;
  /** Labels split: the group tags of this canary's series. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface PlannedQuery {
  /** Identifies (provider, query, window): the in-flight and cache key. */
  readonly key: string;
  readonly providerId: string;
  readonly providerKind: MetricProviderKind;
  /** `namespace/name` of the template, or `builtin:<router>/<metric>`. */
  readonly templateId: string;
  readonly query: string;
  readonly window: TimeWindow;
  /** The ingestion delay the window ends before (the longest among its checks). */
  readonly ingestionDelayMs: number;
  /** The highest priority among the checks it answers. */
  readonly priority: Priority;
  readonly split: Split;
  readonly answers: readonly PlannedAnswer[];
}

/** One call to a provider: a Datadog batch (one HTTP request), or one Prometheus query. */
export interface PlannedRequest {
  readonly providerId: string;
  readonly window: TimeWindow;
  readonly priority: Priority;
  readonly queries: readonly PlannedQuery[];
}

/** A check that cannot be planned: unknown provider, invalid name, template or variable. */
export interface RejectedCheck {
  readonly checkId: string;
  readonly check: ValueThresholdCheck;
  readonly message: string;
}

export interface QueryPlan {
  readonly nowMs: number;
  readonly queries: readonly PlannedQuery[];
  /** Rollback first, then promotion, then routine. */
  readonly requests: readonly PlannedRequest[];
  readonly rejected: readonly RejectedCheck[];
}

const PRIORITY_RANK: Readonly<Record<Priority, number>> = {
  rollback: 0,
  promotion: 1,
  routine: 2,
};

/** The higher of two priorities. */
export function higherPriority(a: Priority, b: Priority): Priority {
  return PRIORITY_RANK[a] <= PRIORITY_RANK[b] ? a : b;
}

export function priorityRank(priority: Priority): number {
  return PRIORITY_RANK[priority];
}

/** The aligned window of a step ending before the ingestion delay. */
export function alignedWindow(nowMs: number, stepMs: number, ingestionDelayMs: number): TimeWindow {
  const endMs = Math.floor((nowMs - ingestionDelayMs) / stepMs) * stepMs;
  return { startMs: endMs - stepMs, endMs };
}

/** A PromQL duration for a number of milliseconds: `1m`, `90s`, `1500ms`. */
export function promqlDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function ingestionDelayOf(provider: ProviderPlanning): number {
  return provider.ingestionDelayMs ?? DEFAULT_INGESTION_DELAY_MS[provider.kind];
}

export function queryKey(providerId: string, query: string, window: TimeWindow): string {
  return JSON.stringify([providerId, window.startMs, window.endMs, query]);
}

interface Fold {
  readonly providerId: string;
  readonly providerKind: MetricProviderKind;
  readonly templateId: string;
  readonly window: TimeWindow;
  ingestionDelayMs: number;
  priority: Priority;
  readonly checks: ActiveCheck[];
  /** Set when the query is known before all checks are in (templates). */
  readonly query?: string;
  readonly split: 'builtin' | 'labels' | 'single';
  readonly identity?: Readonly<Record<string, IdentityField>>;
}

function canaryOf(check: ActiveCheck): CanaryRef {
  return {
    cluster: check.cluster,
    namespace: check.namespace,
    target: check.workload,
    ...(check.service === undefined ? {} : { service: check.service }),
    ...(check.ingress === undefined ? {} : { ingress: check.ingress }),
  };
}

/** Plans one round. Pure: the same checks, time and options give the same plan. */
export function planQueries(checks: readonly ActiveCheck[], options: PlanOptions): QueryPlan {
  const { nowMs } = options;
  const providers = new Map(options.providers.map((p) => [p.id, p]));
  const folds = new Map<string, Fold>();
  const rejected: RejectedCheck[] = [];
  const reject = (check: ActiveCheck, message: string) =>
    rejected.push({ checkId: check.id, check: check.check, message });

  for (const check of checks) {
    const provider = providers.get(check.providerId);
    if (provider === undefined) {
      reject(check, `unknown metric provider ${JSON.stringify(check.providerId)}`);
      continue;
    }
    if (!Number.isInteger(check.intervalMs) || check.intervalMs < 1000) {
      reject(check, `interval must be a whole number of ms ≥ 1 s, got ${check.intervalMs}`);
      continue;
    }
    const factor =
      check.priority === Priority.Routine ? (options.routineStepFactor?.[provider.id] ?? 1) : 1;
    const stepMs = check.intervalMs * factor;
    const delayMs = check.ingestionDelayMs ?? ingestionDelayOf(provider);
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      reject(check, `ingestion delay must be ≥ 0 ms, got ${delayMs}`);
      continue;
    }
    const window = alignedWindow(nowMs, stepMs, delayMs);
    const base = { providerId: provider.id, providerKind: provider.kind, window };
    const add = (
      key: string,
      make: () => Omit<Fold, 'checks' | 'priority' | 'ingestionDelayMs'>,
    ) => {
      let fold = folds.get(key);
      if (fold === undefined) {
        fold = { ...make(), checks: [], priority: check.priority, ingestionDelayMs: delayMs };
        folds.set(key, fold);
      }
      fold.checks.push(check);
      fold.priority = higherPriority(fold.priority, check.priority);
      fold.ingestionDelayMs = Math.max(fold.ingestionDelayMs, delayMs);
    };
    try {
      const { metric } = check;
      if (metric.source === MetricSource.Builtin) {
        if (provider.kind !== MetricProviderKind.Prometheus) {
          reject(check, `built-in ${metric.metric} exists for Prometheus only; use a template`);
          continue;
        }
        // Names are checked per canary, so that one bad name cannot spoil the whole fold.
        const problems = nameProblems(check);
        if (problems.length > 0) {
          reject(check, `invalid canary: ${problems.join('; ')}`);
          continue;
        }
        const histogram = metric.form === GroupedForm.Histogram;
        const templateId = `builtin:${metric.router}/${metric.metric}${histogram ? '#histogram' : ''}`;
        add(JSON.stringify([provider.id, templateId, window.startMs, window.endMs]), () => ({
          ...base,
          templateId,
          split: 'builtin',
        }));
      } else if (provider.kind === MetricProviderKind.Datadog) {
        const model = { intervalMs: stepMs, ...variablesOf(check) };
        // Rendered for every canary, folded or not: its names and variables are validated.
        const own = renderDatadogQuery(metric.query, { ...identityOf(check), ...model });
        const grouped = groupedDatadogQuery(metric.query, model);
        const query = 'unfoldable' in grouped ? own : grouped.query;
        add(queryKey(provider.id, query, window), () => ({
          ...base,
          templateId: metric.templateId,
          query,
          ...('unfoldable' in grouped
            ? { split: 'single' as const }
            : { split: 'labels' as const, identity: grouped.identity }),
        }));
      } else {
        const query = renderQuery(metric.query, {
          namespace: check.namespace,
          target: check.workload,
          ...(check.service === undefined ? {} : { service: check.service }),
          ...(check.ingress === undefined ? {} : { ingress: check.ingress }),
          interval: promqlDuration(stepMs),
          ...variablesOf(check),
        });
        add(queryKey(provider.id, query, window), () => ({
          ...base,
          templateId: metric.templateId,
          query,
          split: 'single',
        }));
      }
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      reject(check, describe(error));
    }
  }

  const queries: PlannedQuery[] = [];
  for (const fold of folds.values()) {
    try {
      queries.push(toPlannedQuery(fold, providers.get(fold.providerId)));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      for (const check of fold.checks) reject(check, describe(error));
    }
  }
  queries.sort(byPriorityThenKey);
  return { nowMs, queries, requests: packRequests(queries, providers), rejected };
}

function variablesOf(check: ActiveCheck): { variables?: Readonly<Record<string, string>> } {
  return check.variables === undefined ? {} : { variables: check.variables };
}

function identityOf(check: ActiveCheck) {
  return {
    cluster: check.cluster,
    namespace: check.namespace,
    target: check.workload,
    ...(check.service === undefined ? {} : { service: check.service }),
    ...(check.ingress === undefined ? {} : { ingress: check.ingress }),
  };
}

function nameProblems(check: ActiveCheck): string[] {
  const fields: [string, string | undefined, boolean][] = [
    ['namespace', check.namespace, true],
    ['workload', check.workload, false],
    ['service', check.service, false],
    ['ingress', check.ingress, false],
  ];
  return fields.flatMap(([field, value, namespace]) => {
    if (value === undefined) return [];
    const problem = kubernetesNameProblem(value, namespace);
    return problem === undefined ? [] : [`${field}: ${problem}`];
  });
}

function describe(error: ValidationError): string {
  return error.message;
}

function toPlannedQuery(fold: Fold, provider: ProviderPlanning | undefined): PlannedQuery {
  const answersOf = (extra: (check: ActiveCheck) => Partial<PlannedAnswer>): PlannedAnswer[] =>
    fold.checks.map((check) => ({
      checkId: check.id,
      check: check.check,
      canary: canaryOf(check),
      ...extra(check),
    }));
  const common = {
    providerId: fold.providerId,
    providerKind: fold.providerKind,
    templateId: fold.templateId,
    window: fold.window,
    ingestionDelayMs: fold.ingestionDelayMs,
    priority: fold.priority,
  };
  if (fold.split === 'builtin') {
    const first = fold.checks[0];
    if (first === undefined || first.metric.source !== MetricSource.Builtin) {
      throw new Error('planner: a built-in fold without a built-in check');
    }
    // One entry per canary, whatever the number of its checks on this metric.
    const canaries = new Map<string, CanaryRef>();
    for (const check of fold.checks) {
      const canary = canaryOf(check);
      canaries.set(groupKey(canary, Track.Canary), canary);
    }
    const form = first.metric.form ?? GroupedForm.Value;
    const grouped = groupedBuiltinQuery({
      router: first.metric.router,
      metric: first.metric.metric,
      form,
      interval: promqlDuration(fold.window.endMs - fold.window.startMs),
      canaries: [...canaries.values()],
      ...(provider?.clusterLabel === undefined ? {} : { clusterLabel: provider.clusterLabel }),
    });
    return {
      ...common,
      key: queryKey(fold.providerId, grouped.query, fold.window),
      query: grouped.query,
      split:
        form === GroupedForm.Histogram
          ? { kind: 'histogram', grouped }
          : { kind: 'builtin', grouped },
      answers: answersOf((check) => ({ groupKey: groupKey(canaryOf(check), Track.Canary) })),
    };
  }
  const query = fold.query ?? '';
  const { identity } = fold;
  return {
    ...common,
    key: queryKey(fold.providerId, query, fold.window),
    query,
    split: fold.split === 'labels' ? { kind: 'labels' } : { kind: 'single' },
    answers: answersOf((check) =>
      identity === undefined ? {} : { labels: identityLabels(identity, identityOf(check)) },
    ),
  };
}

function byPriorityThenKey(a: PlannedQuery, b: PlannedQuery): number {
  return (
    priorityRank(a.priority) - priorityRank(b.priority) ||
    a.window.endMs - b.window.endMs ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
}

/**
 * Datadog: queries over the same window packed like `queryBatch` chunks them (at most
 * `maxQueriesPerRequest` distinct metric queries per request), highest priority first, so that
 * rollback-relevant queries ride in the first requests. Prometheus: one request per query.
 */
function packRequests(
  queries: readonly PlannedQuery[],
  providers: ReadonlyMap<string, ProviderPlanning>,
): PlannedRequest[] {
  const requests: PlannedRequest[] = [];
  const batches = new Map<string, PlannedQuery[]>();
  for (const query of queries) {
    if (query.providerKind !== MetricProviderKind.Datadog) {
      requests.push({
        providerId: query.providerId,
        window: query.window,
        priority: query.priority,
        queries: [query],
      });
      continue;
    }
    const key = JSON.stringify([query.providerId, query.window.startMs, query.window.endMs]);
    const list = batches.get(key) ?? [];
    list.push(query);
    batches.set(key, list);
  }
  for (const list of batches.values()) {
    const first = list[0];
    if (first === undefined) continue;
    const max =
      providers.get(first.providerId)?.maxQueriesPerRequest ??
      DATADOG_DEFAULT_MAX_QUERIES_PER_REQUEST;
    const leaves = (chunk: readonly PlannedQuery[]) =>
      distinctLeaves(
        chunk.flatMap((q) => {
          const split = splitExpression(q.query);
          return 'error' in split ? [] : [split];
        }),
      ).length;
    for (const chunk of chunkBy(list, (c) => c.length <= max && leaves(c) <= max)) {
      const head = chunk[0];
      if (head === undefined) continue;
      requests.push({
        providerId: head.providerId,
        window: head.window,
        priority: chunk.reduce((p, q) => higherPriority(p, q.priority), head.priority),
        queries: chunk,
      });
    }
  }
  return requests.sort(
    (a, b) =>
      priorityRank(a.priority) - priorityRank(b.priority) || a.window.endMs - b.window.endMs,
  );
}
