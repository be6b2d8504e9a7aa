/**
 * Decoding `AnalysisRequest` messages (pure): canonical proto JSON through the generated schema
 * (`fromJson`, unknown fields refused), then validated and resolved into a check the scheduler can
 * plan. Never throws for bad input:
 *
 * - not JSON, or no usable `requestId` → `{ ok: false }` without an id: the caller drops the
 *   message with the logged reason;
 * - anything else wrong (unknown field, bad name, unknown check or template, no provider for it)
 *   → `{ ok: false }` with the request's identity: the caller answers an `Error` verdict.
 *
 * Resolution of the metric:
 * - `templateRef` set: the analyzer's template `namespace/name` (namespace defaults to the
 *   workload's);
 * - `request-success-rate` / `request-duration` without `templateRef`: the analyzer's template of
 *   that name if configured (e.g. a Datadog counts template), else Flagger's built-in PromQL for
 *   the request's router on the Prometheus provider;
 * - any other check name without `templateRef`: unknown check.
 */
import { CheckKind, type ThresholdRange as JudgeRange } from '@aviary/judge';
import { isValidClusterName } from '@aviary/messaging';
import {
  AnalysisPriority,
  type AnalysisRequest,
  analysisRequestSchema,
  JudgeMethod,
  RouterKind,
} from '@aviary/proto';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Priority } from '../budget/index.ts';
import { BuiltinMetric, MetricRouter } from '../metrics/builtin.ts';
import type { MetricProviderKind } from '../metrics/provider.ts';
import {
  type ActiveCheck,
  type ActiveCountCheck,
  type ActiveLatencyCheck,
  MetricSource,
} from '../scheduler/index.ts';
import { isCountsTemplate, type MetricTemplates } from './metric-templates.ts';

/** What a verdict echoes from its request. */
export interface RequestIdentity {
  readonly requestId: string;
  readonly releaseId: string;
  readonly cluster: string;
  readonly checkName: string;
}

/** A decoded request: one value, count or latency-comparison check for the scheduler. */
export type RequestCheck =
  | { readonly kind: 'value'; readonly active: ActiveCheck }
  | { readonly kind: 'counts'; readonly active: ActiveCountCheck }
  | { readonly kind: 'latency'; readonly active: ActiveLatencyCheck };

export interface DecodedRequest {
  readonly identity: RequestIdentity;
  readonly check: RequestCheck;
  /** The requested window's end, when given: the round waits for it plus the ingestion delay. */
  readonly windowEndMs?: number;
}

export type DecodeResult =
  | { readonly ok: true; readonly request: DecodedRequest }
  | {
      readonly ok: false;
      readonly reason: string;
      /** Set when the request can be answered (with an `Error` verdict). */
      readonly identity?: RequestIdentity;
    };

export interface RequestContext {
  readonly templates: MetricTemplates;
  /** The configured provider id of each kind (one provider per kind). */
  readonly providers: Readonly<Partial<Record<MetricProviderKind, string>>>;
  /** The interval when neither the request nor its window gives one; default 60 s. */
  readonly defaultIntervalMs?: number;
}

const MAX_ID_LENGTH = 256;
const ID = /^[\x21-\x7e]+$/;
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const ROUTERS: Readonly<Partial<Record<RouterKind, MetricRouter>>> = {
  [RouterKind.GATEWAY_API]: MetricRouter.GatewayApi,
  [RouterKind.NGINX]: MetricRouter.Nginx,
  [RouterKind.ISTIO]: MetricRouter.Istio,
  [RouterKind.SMI]: MetricRouter.Linkerd,
};

const BUILTINS: ReadonlySet<string> = new Set(Object.values(BuiltinMetric));

/** Decodes one message's payload. */
export function decodeAnalysisRequest(payload: Uint8Array, context: RequestContext): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return { ok: false, reason: 'not a UTF-8 JSON document' };
  }
  const loose = looseIdentity(json);
  let message: AnalysisRequest;
  try {
    message = fromJson(analysisRequestSchema, json as JsonValue, { ignoreUnknownFields: false });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return withIdentity(loose, `not an AnalysisRequest: ${detail}`);
  }
  const identity: RequestIdentity = {
    requestId: message.requestId,
    releaseId: message.releaseId,
    cluster: message.cluster,
    checkName: message.checkName,
  };
  if (!validId(identity.requestId)) {
    return { ok: false, reason: 'requestId must be 1–256 printable characters without spaces' };
  }
  const problems = validate(message);
  if (problems.length > 0) return { ok: false, identity, reason: problems.join('; ') };
  const resolved = resolveCheck(message, context);
  if (typeof resolved === 'string') return { ok: false, identity, reason: resolved };
  const windowEndMs = message.windowEnd === undefined ? undefined : timestampMs(message.windowEnd);
  return {
    ok: true,
    request: {
      identity,
      check: resolved,
      ...(windowEndMs === undefined ? {} : { windowEndMs }),
    },
  };
}

function validId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && ID.test(id);
}

function looseIdentity(json: unknown): RequestIdentity | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const record = json as Record<string, unknown>;
  const text = (camel: string, snake: string): string => {
    const value = record[camel] ?? record[snake];
    return typeof value === 'string' ? value : '';
  };
  const requestId = text('requestId', 'request_id');
  if (!validId(requestId)) return undefined;
  return {
    requestId,
    releaseId: text('releaseId', 'release_id'),
    cluster: text('cluster', 'cluster'),
    checkName: text('checkName', 'check_name'),
  };
}

function withIdentity(identity: RequestIdentity | undefined, reason: string): DecodeResult {
  return identity === undefined ? { ok: false, reason } : { ok: false, identity, reason };
}

function validate(message: AnalysisRequest): string[] {
  const problems: string[] = [];
  if (message.releaseId === '') problems.push('releaseId is required');
  if (!isValidClusterName(message.cluster)) problems.push('cluster must be a DNS-1123 label');
  const workload = message.workload;
  if (workload === undefined) problems.push('workload is required');
  else {
    if (!K8S_NAME.test(workload.namespace) || workload.namespace.length > 63) {
      problems.push('workload.namespace must be a Kubernetes namespace name');
    }
    if (!K8S_NAME.test(workload.name) || workload.name.length > 253) {
      problems.push('workload.name must be a Kubernetes name');
    }
  }
  if (!K8S_NAME.test(message.checkName)) problems.push('checkName must be a metric name');
  const range = message.thresholdRange;
  for (const bound of [range?.min, range?.max]) {
    if (bound !== undefined && !Number.isFinite(bound)) {
      problems.push('thresholdRange bounds must be finite');
    }
  }
  if (range?.min !== undefined && range.max !== undefined && range.min > range.max) {
    problems.push('thresholdRange.min must not exceed max');
  }
  if (message.intervalMs !== 0 && (message.intervalMs < 1000 || message.intervalMs % 1000 !== 0)) {
    problems.push('intervalMs must be 0 or whole seconds ≥ 1 s');
  }
  const { windowStart, windowEnd } = message;
  if ((windowStart === undefined) !== (windowEnd === undefined)) {
    problems.push('windowStart and windowEnd come together');
  } else if (windowStart !== undefined && windowEnd !== undefined) {
    const length = timestampMs(windowEnd) - timestampMs(windowStart);
    if (!(length >= 1000)) problems.push('the window must be at least 1 s long');
  }
  for (const key of Object.keys(message.templateVariables)) {
    if (!VARIABLE.test(key)) problems.push(`template variable ${JSON.stringify(key)}: bad name`);
  }
  if (message.templateRef !== undefined && message.templateRef.name === '') {
    problems.push('templateRef.name is required');
  }
  if (!Number.isFinite(message.latencySloMs) || message.latencySloMs < 0) {
    problems.push('latencySloMs must be a finite number ≥ 0');
  }
  if (JudgeMethod[message.method] === undefined) {
    problems.push(`unknown method ${message.method}`);
  }
  return problems;
}

function priorityOf(priority: AnalysisPriority): Priority {
  return priority === AnalysisPriority.ROLLBACK_RELEVANT ? Priority.Rollback : Priority.Routine;
}

function rangeOf(message: AnalysisRequest): JudgeRange {
  const range = message.thresholdRange;
  return {
    ...(range?.min === undefined ? {} : { min: range.min }),
    ...(range?.max === undefined ? {} : { max: range.max }),
  };
}

function intervalOf(message: AnalysisRequest, fallbackMs: number): number {
  if (message.intervalMs > 0) return message.intervalMs;
  if (message.windowStart !== undefined && message.windowEnd !== undefined) {
    return timestampMs(message.windowEnd) - timestampMs(message.windowStart);
  }
  return fallbackMs;
}

/**
 * The request's check, with its `method` applied: unspecified (or the default itself) keeps the
 * default; `LATENCY_COMPARISON` makes the built-in `request-duration` a latency comparison;
 * `RATE_COMPARISON` makes a counts template a comparison even with a threshold range. Any other
 * choice is refused: it does not fit the metric.
 */
function resolveCheck(message: AnalysisRequest, context: RequestContext): RequestCheck | string {
  if (message.method === JudgeMethod.LATENCY_COMPARISON) return resolveLatency(message, context);
  const resolved = resolveDefault(message, context);
  if (typeof resolved === 'string' || message.method === JudgeMethod.UNSPECIFIED) return resolved;
  const chosen = JudgeMethod[message.method];
  if (METHODS[resolved.active.check.kind] === message.method) return resolved;
  if (message.method === JudgeMethod.RATE_COMPARISON && resolved.kind === 'counts') {
    return {
      kind: 'counts',
      active: { ...resolved.active, check: { kind: CheckKind.RateComparison } },
    };
  }
  return `method ${chosen} does not fit check ${JSON.stringify(message.checkName)} (${resolved.active.check.kind})`;
}

const METHODS: Readonly<Record<CheckKind, JudgeMethod>> = {
  [CheckKind.ValueThreshold]: JudgeMethod.VALUE_THRESHOLD,
  [CheckKind.RateThreshold]: JudgeMethod.RATE_THRESHOLD,
  [CheckKind.RateComparison]: JudgeMethod.RATE_COMPARISON,
  [CheckKind.LatencyComparison]: JudgeMethod.LATENCY_COMPARISON,
};

/**
 * `request-duration` as a latency comparison: always the router's built-in histogram on the
 * Prometheus provider (a template gives one value or two counts, not a histogram), the SLO from
 * `latencySloMs`, else `thresholdRange.max` (the P99 limit a Flagger spec already has).
 */
function resolveLatency(message: AnalysisRequest, context: RequestContext): RequestCheck | string {
  const workload = message.workload;
  if (workload === undefined) return 'workload is required';
  if (message.checkName !== BuiltinMetric.RequestDuration || message.templateRef !== undefined) {
    return `method LATENCY_COMPARISON is for the built-in request-duration (no templateRef), not ${JSON.stringify(message.checkName)}`;
  }
  const providerId = context.providers.prometheus;
  if (providerId === undefined) return 'a latency comparison needs the Prometheus provider';
  const router = ROUTERS[message.router];
  if (router === undefined) {
    return `no built-in request-duration histogram for router ${RouterKind[message.router] ?? message.router}`;
  }
  const sloMs = message.latencySloMs > 0 ? message.latencySloMs : message.thresholdRange?.max;
  if (sloMs === undefined || !(sloMs > 0)) {
    return 'a latency comparison needs latencySloMs or thresholdRange.max (ms) > 0';
  }
  return {
    kind: 'latency',
    active: {
      ...baseOf(message, workload, context),
      providerId,
      metric: { router },
      check: { kind: CheckKind.LatencyComparison, sloMs },
    },
  };
}

function baseOf(
  message: AnalysisRequest,
  workload: NonNullable<AnalysisRequest['workload']>,
  context: RequestContext,
) {
  return {
    id: message.requestId,
    cluster: message.cluster,
    namespace: workload.namespace,
    workload: workload.name,
    intervalMs: intervalOf(message, context.defaultIntervalMs ?? 60_000),
    priority: priorityOf(message.priority),
    ...(Object.keys(message.templateVariables).length === 0
      ? {}
      : { variables: { ...message.templateVariables } }),
  };
}

function resolveDefault(message: AnalysisRequest, context: RequestContext): RequestCheck | string {
  const workload = message.workload;
  if (workload === undefined) return 'workload is required';
  const thresholdRange = rangeOf(message);
  const base = baseOf(message, workload, context);

  const ref = message.templateRef;
  const templateId =
    ref === undefined
      ? BUILTINS.has(message.checkName)
        ? message.checkName
        : undefined
      : `${ref.namespace === '' ? workload.namespace : ref.namespace}/${ref.name}`;
  if (templateId === undefined) {
    return `unknown check ${JSON.stringify(message.checkName)}: not a built-in (request-success-rate, request-duration) and no templateRef`;
  }
  const template = context.templates[templateId];

  if (template === undefined) {
    if (ref !== undefined) return `unknown metric template ${JSON.stringify(templateId)}`;
    const providerId = context.providers.prometheus;
    const router = ROUTERS[message.router];
    if (providerId === undefined) {
      return `built-in ${templateId} needs a Prometheus provider or a configured template of that name`;
    }
    if (router === undefined) {
      return `no built-in ${templateId} for router ${RouterKind[message.router] ?? message.router}`;
    }
    const metric = templateId as BuiltinMetric;
    return {
      kind: 'value',
      active: {
        ...base,
        providerId,
        metric: { source: MetricSource.Builtin, router, metric },
        check: {
          kind: CheckKind.ValueThreshold,
          thresholdRange,
          ...(metric === BuiltinMetric.RequestSuccessRate
            ? { label: 'request success rate', unit: '%' }
            : { label: 'request duration', unit: 'ms' }),
        },
      },
    };
  }

  const providerId = context.providers[template.provider];
  if (providerId === undefined) {
    return `template ${templateId} uses provider ${template.provider}, which is not configured`;
  }
  const delay =
    template.ingestionDelayMs === undefined ? {} : { ingestionDelayMs: template.ingestionDelayMs };
  if (!isCountsTemplate(template)) {
    return {
      kind: 'value',
      active: {
        ...base,
        ...delay,
        providerId,
        metric: { source: MetricSource.Template, templateId, query: template.query },
        check: { kind: CheckKind.ValueThreshold, thresholdRange, label: message.checkName },
      },
    };
  }
  const hasBound = thresholdRange.min !== undefined || thresholdRange.max !== undefined;
  return {
    kind: 'counts',
    active: {
      ...base,
      ...delay,
      providerId,
      metric: { templateId, totalQuery: template.total, badQuery: template.bad },
      check: hasBound
        ? { kind: CheckKind.RateThreshold, thresholdRange, measure: template.measure }
        : { kind: CheckKind.RateComparison },
    },
  };
}
