/**
 * The analyzer's own metrics and trace spans (docs/observability.md):
 *
 * - `aviary_analyzer_verdicts_total{outcome}`: verdicts published (`success`, `failure`,
 *   `inconclusive`, `error`, … as the judge names them, lower case).
 * - `aviary_analyzer_provider_calls_total{provider, outcome}`: metric queries answered by a
 *   provider, `ok` or the failure reason (`throttled`, `timeout`, `unreachable`, …); a Datadog
 *   batch counts each of its queries.
 * - `aviary_analyzer_rate_limit_remaining{provider, limit}` and `…_rate_limit_limit`: the
 *   provider's rate-limit budget as its last answer's headers left it (Datadog), read at scrape.
 * - A verdict is published inside an `analysis verdict` span whose parent is the request's
 *   `traceparent` (the orchestrator's publish of the request), so request and verdict are one
 *   trace even though requests wait for their window and are judged in shared rounds.
 */
import {
  extractTraceContext,
  logFieldsOf,
  SpanKinds,
  type TraceCarrier,
  withSpan,
} from '@aviary/messaging';
import {
  Counter,
  Gauge,
  metricsOf,
  metricsRegistry,
  type Registry,
  withLogFields,
} from '@aviary/platform';
import type { WindowBudget } from '../budget/index.ts';
import type { DatadogProvider } from '../metrics/datadog.ts';
import type { MetricProvider, ProviderResult } from '../metrics/provider.ts';
import type { RequestIdentity } from './requests.ts';

interface WatchedBudget {
  readonly provider: string;
  readonly budget: WindowBudget;
  readonly now: () => number;
}

export function analyzerMetrics(registry: Registry = metricsRegistry) {
  return metricsOf(registry, 'aviary_analyzer', (r) => {
    const budgets = new Set<WatchedBudget>();
    const read = (
      set: (watched: WatchedBudget, state: ReturnType<WindowBudget['state']>) => void,
    ) => {
      for (const watched of budgets) set(watched, watched.budget.state(watched.now()));
    };
    return {
      budgets,
      verdicts: new Counter({
        name: 'aviary_analyzer_verdicts_total',
        help: 'Verdicts the analyzer published, by outcome.',
        labelNames: ['outcome'] as const,
        registers: [r],
      }),
      providerCalls: new Counter({
        name: 'aviary_analyzer_provider_calls_total',
        help: 'Metric queries answered by a provider, by provider and outcome (ok or the failure reason).',
        labelNames: ['provider', 'outcome'] as const,
        registers: [r],
      }),
      remaining: new Gauge({
        name: 'aviary_analyzer_rate_limit_remaining',
        help: 'Requests left in the provider’s current rate-limit window (from its answers’ headers).',
        labelNames: ['provider', 'limit'] as const,
        registers: [r],
        collect() {
          this.reset();
          read((w, state) => this.labels(w.provider, state.name).set(state.remaining));
        },
      }),
      limit: new Gauge({
        name: 'aviary_analyzer_rate_limit_limit',
        help: 'Requests the provider’s rate-limit window allows.',
        labelNames: ['provider', 'limit'] as const,
        registers: [r],
        collect() {
          this.reset();
          read((w, state) => this.labels(w.provider, state.name).set(state.limit));
        },
      }),
    };
  });
}

/** Exposes `budget` as the provider's rate-limit gauges. */
export function watchBudget(
  provider: string,
  budget: WindowBudget,
  now: () => number,
  registry: Registry = metricsRegistry,
): void {
  analyzerMetrics(registry).budgets.add({ provider, budget, now });
}

function outcomeOf(result: ProviderResult): string {
  return result.status === 'ok' ? 'ok' : result.reason;
}

/** `provider`, counting every query it answers. */
export function instrumentProvider<P extends MetricProvider | DatadogProvider>(
  provider: P,
  id: string,
  registry: Registry = metricsRegistry,
): P {
  const calls = analyzerMetrics(registry).providerCalls;
  const instrumented: MetricProvider = {
    kind: provider.kind,
    async query(request, signal) {
      const result = await provider.query(request, signal);
      calls.labels(id, outcomeOf(result)).inc();
      return result;
    },
  };
  if ('queryBatch' in provider) {
    const batch: DatadogProvider['queryBatch'] = async (requests, window, signal) => {
      const results = await provider.queryBatch(requests, window, signal);
      for (const result of results.values()) calls.labels(id, outcomeOf(result)).inc();
      return results;
    };
    return { ...instrumented, queryBatch: batch } as unknown as P;
  }
  return instrumented as P;
}

/** A request message's headers, as the trace propagator reads them. */
function carrierOf(header: (name: string) => string | undefined): TraceCarrier {
  return {
    get: (name) => header(name) ?? '',
    keys: () => ['traceparent', 'tracestate'].filter((name) => header(name) !== undefined),
  };
}

/**
 * Publishes a verdict in its span, continuing the trace of the request message (the first, when
 * a re-delivery brought it twice), and counts it once published.
 */
export async function publishVerdictTraced<T>(
  request: { header(name: string): string | undefined } | undefined,
  identity: RequestIdentity,
  outcome: string,
  publish: () => Promise<T>,
  registry: Registry = metricsRegistry,
): Promise<T> {
  const attributes = {
    'aviary.request.id': identity.requestId,
    'aviary.release.id': identity.releaseId,
    'aviary.cluster': identity.cluster,
    'aviary.check': identity.checkName,
    'aviary.verdict.outcome': outcome,
  };
  const result = await withLogFields(logFieldsOf(attributes), () =>
    withSpan(
      'analysis verdict',
      {
        kind: SpanKinds.Internal,
        parent: extractTraceContext(
          request === undefined ? undefined : carrierOf((n) => request.header(n)),
        ),
        attributes,
      },
      publish,
    ),
  );
  analyzerMetrics(registry).verdicts.labels(outcome.toLowerCase()).inc();
  return result;
}
