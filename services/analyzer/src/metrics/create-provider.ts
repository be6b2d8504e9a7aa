/**
 * Builds a metric provider from its configuration: one case per `MetricProviderKind`, no
 * fallback, so adding a kind without its implementation fails the type check.
 */
import { createPrometheusProvider, type PrometheusConfig } from './prometheus.ts';
import { type MetricProvider, MetricProviderKind } from './provider.ts';

export type MetricProviderConfig = PrometheusConfig;

export function createMetricProvider(config: MetricProviderConfig): MetricProvider {
  switch (config.kind) {
    case MetricProviderKind.Prometheus:
      return createPrometheusProvider({
        address: config.address,
        ...(config.headers === undefined ? {} : { headers: config.headers }),
        ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
      });
    default:
      return unreachable(config.kind);
  }
}

function unreachable(kind: never): never {
  throw new Error(`unknown metric provider kind ${String(kind)}`);
}
