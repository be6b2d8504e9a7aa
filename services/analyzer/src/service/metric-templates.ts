/**
 * The analyzer's metric templates: check name or template → provider + query, configured once for
 * the analyzer (`AVIARY_METRIC_TEMPLATES` as JSON, or `AVIARY_METRIC_TEMPLATES_FILE` naming a JSON
 * file). Keys are a MetricTemplate's `namespace/name` (requests with a `templateRef`) or a
 * built-in check name (`request-success-rate`, `request-duration`) to measure it with a template
 * instead of Flagger's built-in PromQL, e.g. on Datadog. Two forms:
 *
 *   { "shop/latency": { "provider": "datadog", "query": "avg:trace.http.request.duration{…}" } }
 *   { "request-success-rate": { "provider": "datadog",
 *       "total": "sum:trace.http.request.hits{…}.as_count()",
 *       "bad": "sum:trace.http.request.errors{…}.as_count()" } }
 *
 * A `query` template is a value judged against `thresholdRange` (Flagger). A counts template
 * (`total` + `bad`) is judged with counts: `rate-threshold` (Wilson) when the request has a
 * threshold range, canary-vs-primary `rate-comparison` (sequential test) when it has none.
 * `measure` says which share the threshold is about (`good`: success rate, the default; `bad`).
 */
import { ValidationError } from '@aviary/core';
import { RateMeasure } from '@aviary/judge';
import { z } from '@aviary/platform';
import { MetricProviderKind } from '../metrics/provider.ts';

const provider = z.enum([MetricProviderKind.Prometheus, MetricProviderKind.Datadog]);
const query = z.string().trim().min(1).max(10_000);

/** The metric's own ingestion delay in ms (e.g. 900000 for a metric 15 min late); default: the provider's. */
const ingestionDelayMs = z
  .number()
  .int()
  .min(0)
  .max(24 * 3_600_000)
  .optional();

const valueTemplate = z.strictObject({ provider, query, ingestionDelayMs });
const countsTemplate = z.strictObject({
  provider,
  ingestionDelayMs,
  total: query,
  bad: query,
  measure: z.enum([RateMeasure.Good, RateMeasure.Bad]).default(RateMeasure.Good),
});

export const metricTemplatesSchema = z.record(
  z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/, {
    message: 'must be a check name or namespace/name',
  }),
  z.union([valueTemplate, countsTemplate]),
);

export type ValueTemplate = z.infer<typeof valueTemplate>;
export type CountsTemplate = z.infer<typeof countsTemplate>;
export type MetricTemplateConfig = ValueTemplate | CountsTemplate;
export type MetricTemplates = Readonly<Record<string, MetricTemplateConfig>>;

export function isCountsTemplate(template: MetricTemplateConfig): template is CountsTemplate {
  return 'total' in template;
}

/** Parses the templates' JSON; throws `ValidationError` naming every problem. */
export function parseMetricTemplates(json: string | undefined): MetricTemplates {
  if (json === undefined || json.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new ValidationError('metric templates', [
      { path: '', message: `not JSON: ${error instanceof Error ? error.message : String(error)}` },
    ]);
  }
  const parsed = metricTemplatesSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      'metric templates',
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return parsed.data;
}
