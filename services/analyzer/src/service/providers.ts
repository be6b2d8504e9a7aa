/**
 * The analyzer's metric providers from its configuration: at most one Prometheus-compatible and
 * one Datadog provider (ids `prometheus` and `datadog`), each with what the scheduler drives it
 * with (a concurrency limiter; a window budget synchronised with every answer's rate-limit
 * headers). Keys are passed to the provider only; nothing here logs them.
 */
import { ConcurrencyLimiter, WindowBudget } from '../budget/index.ts';
import { createDatadogProvider } from '../metrics/datadog.ts';
import { createPrometheusProvider } from '../metrics/prometheus.ts';
import { MetricProviderKind } from '../metrics/provider.ts';
import { rateLimitObserver, type ScheduledProvider } from '../scheduler/index.ts';
import { instrumentProvider, watchBudget } from './telemetry.ts';

export interface ProvidersConfig {
  readonly prometheus?: {
    readonly address: string;
    readonly maxConcurrency?: number;
    readonly ingestionDelayMs?: number;
    readonly clusterLabel?: string;
  };
  readonly datadog?: {
    readonly apiKey: string;
    readonly appKey: string;
    readonly site?: string;
    readonly baseUrl?: string;
    readonly maxQueriesPerRequest?: number;
    readonly ingestionDelayMs?: number;
  };
}

export interface ConfiguredProviders {
  readonly scheduled: readonly ScheduledProvider[];
  /** Provider id per kind, for resolving requests. */
  readonly ids: Readonly<Partial<Record<MetricProviderKind, string>>>;
}

export function createProviders(
  config: ProvidersConfig,
  now: () => number = Date.now,
): ConfiguredProviders {
  const scheduled: ScheduledProvider[] = [];
  const ids: Partial<Record<MetricProviderKind, string>> = {};
  const { prometheus, datadog } = config;
  if (prometheus !== undefined) {
    ids.prometheus = MetricProviderKind.Prometheus;
    scheduled.push({
      planning: {
        id: MetricProviderKind.Prometheus,
        kind: MetricProviderKind.Prometheus,
        ...(prometheus.ingestionDelayMs === undefined
          ? {}
          : { ingestionDelayMs: prometheus.ingestionDelayMs }),
        ...(prometheus.clusterLabel === undefined ? {} : { clusterLabel: prometheus.clusterLabel }),
      },
      provider: instrumentProvider(
        createPrometheusProvider({ address: prometheus.address }),
        MetricProviderKind.Prometheus,
      ),
      limiter: new ConcurrencyLimiter({ max: prometheus.maxConcurrency ?? 10 }),
    });
  }
  if (datadog !== undefined) {
    ids.datadog = MetricProviderKind.Datadog;
    const budget = new WindowBudget({ name: 'datadog' });
    watchBudget(MetricProviderKind.Datadog, budget, now);
    scheduled.push({
      planning: {
        id: MetricProviderKind.Datadog,
        kind: MetricProviderKind.Datadog,
        ...(datadog.ingestionDelayMs === undefined
          ? {}
          : { ingestionDelayMs: datadog.ingestionDelayMs }),
        ...(datadog.maxQueriesPerRequest === undefined
          ? {}
          : { maxQueriesPerRequest: datadog.maxQueriesPerRequest }),
      },
      provider: instrumentProvider(
        createDatadogProvider({
          apiKey: datadog.apiKey,
          appKey: datadog.appKey,
          ...(datadog.site === undefined ? {} : { site: datadog.site }),
          ...(datadog.baseUrl === undefined ? {} : { baseUrl: datadog.baseUrl }),
          ...(datadog.maxQueriesPerRequest === undefined
            ? {}
            : { maxQueriesPerRequest: datadog.maxQueriesPerRequest }),
          onRateLimit: rateLimitObserver(budget, now),
        }),
        MetricProviderKind.Datadog,
      ),
      budget,
    });
  }
  return { scheduled, ids };
}
