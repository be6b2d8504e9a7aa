/**
 * Builds a metric provider from its configuration: one case per `MetricProviderKind`, no
 * fallback, so adding a kind without its implementation fails the type check.
 */
import type { RateLimitHeaders } from '../budget/index.ts';
import { createDatadogProvider, type DatadogConfig } from './datadog.ts';
import { createPrometheusProvider, type PrometheusConfig } from './prometheus.ts';
import { type MetricProvider, MetricProviderKind } from './provider.ts';

export type MetricProviderConfig = PrometheusConfig | DatadogConfig;

/** What a provider needs besides its configuration: wiring to the analyzer's budget. */
export interface MetricProviderWiring {
  /** Datadog: every answer's status and `x-ratelimit-*` headers, for `WindowBudget.observe`. */
  readonly onRateLimit?: (status: number, headers: RateLimitHeaders) => void;
}

export function createMetricProvider(
  config: MetricProviderConfig,
  wiring: MetricProviderWiring = {},
): MetricProvider {
  switch (config.kind) {
    case MetricProviderKind.Prometheus:
      return createPrometheusProvider({
        address: config.address,
        ...(config.headers === undefined ? {} : { headers: config.headers }),
        ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
      });
    case MetricProviderKind.Datadog:
      return createDatadogProvider({
        site: config.site,
        apiKey: config.apiKey,
        appKey: config.appKey,
        ...(config.baseUrl === undefined ? {} : { baseUrl: config.baseUrl }),
        ...(config.maxQueriesPerRequest === undefined
          ? {}
          : { maxQueriesPerRequest: config.maxQueriesPerRequest }),
        ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
        ...(wiring.onRateLimit === undefined ? {} : { onRateLimit: wiring.onRateLimit }),
      });
    default:
      return unreachable(config);
  }
}

function unreachable(config: never): never {
  throw new Error(`unknown metric provider kind ${String((config as { kind?: unknown }).kind)}`);
}
