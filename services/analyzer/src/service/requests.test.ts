import { CheckKind } from '@aviary/judge';
import {
  AnalysisPriority,
  analysisRequestSchema,
  JudgeMethod,
  RouterKind,
  WorkloadKind,
} from '@aviary/proto';
import { create, type MessageInitShape, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { parseMetricTemplates } from './metric-templates.ts';
import { decodeAnalysisRequest, type RequestContext } from './requests.ts';

const END = Date.UTC(2026, 0, 1, 12, 0, 0);
const context: RequestContext = {
  templates: parseMetricTemplates(
    JSON.stringify({
      'shop/latency': { provider: 'datadog', query: 'avg:lat{kube_deployment:{{ target }}}' },
      'request-success-rate': {
        provider: 'datadog',
        total: 'sum:hits{kube_deployment:{{ target }}}.as_count()',
        bad: 'sum:errors{kube_deployment:{{ target }}}.as_count()',
      },
    }),
  ),
  providers: { datadog: 'datadog', prometheus: 'prometheus' },
};

type RequestInit = Exclude<MessageInitShape<typeof analysisRequestSchema>, { $typeName: string }>;

function request(overrides: RequestInit = {}) {
  const init: RequestInit = {
    requestId: 'req-1',
    releaseId: 'rel-1',
    cluster: 'eu-1',
    workload: { namespace: 'shop', name: 'cart', kind: WorkloadKind.DEPLOYMENT },
    checkName: 'request-success-rate',
    thresholdRange: { min: 99 },
    intervalMs: 60_000,
    windowStart: timestampFromMs(END - 60_000),
    windowEnd: timestampFromMs(END),
    priority: AnalysisPriority.ROLLBACK_RELEVANT,
    router: RouterKind.ISTIO,
    ...overrides,
  };
  return create(analysisRequestSchema, init);
}

const bytes = (text: string) => new TextEncoder().encode(text);
const encode = (r: ReturnType<typeof request>) => bytes(toJsonString(analysisRequestSchema, r));

describe('decodeAnalysisRequest', () => {
  it('decodes a built-in with a counts template into a rate-threshold check', () => {
    const result = decodeAnalysisRequest(encode(request()), context);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request.identity).toEqual({
      requestId: 'req-1',
      releaseId: 'rel-1',
      cluster: 'eu-1',
      checkName: 'request-success-rate',
    });
    expect(result.request.windowEndMs).toBe(END);
    expect(result.request.check).toMatchObject({
      kind: 'counts',
      active: {
        id: 'req-1',
        cluster: 'eu-1',
        namespace: 'shop',
        workload: 'cart',
        providerId: 'datadog',
        intervalMs: 60_000,
        priority: 'rollback',
        check: { kind: CheckKind.RateThreshold, thresholdRange: { min: 99 }, measure: 'good' },
      },
    });
  });

  it('makes a counts check without a threshold a canary-vs-primary comparison', () => {
    const r = request();
    r.thresholdRange = undefined;
    const result = decodeAnalysisRequest(encode(r), context);
    expect(result.ok && result.request.check.active.check.kind).toBe(CheckKind.RateComparison);
  });

  it('resolves a templateRef (namespace defaulting to the workload’s) to a value check', () => {
    const result = decodeAnalysisRequest(
      encode(
        request({
          checkName: 'latency',
          templateRef: { namespace: '', name: 'latency' },
          thresholdRange: { max: 500 },
          priority: AnalysisPriority.NORMAL,
        }),
      ),
      context,
    );
    expect(result.ok && result.request.check).toMatchObject({
      kind: 'value',
      active: {
        priority: 'routine',
        metric: { source: 'template', templateId: 'shop/latency' },
        check: { kind: CheckKind.ValueThreshold, thresholdRange: { max: 500 } },
      },
    });
  });

  it('carries a template’s own ingestion delay into its check', () => {
    const delayed: RequestContext = {
      ...context,
      templates: parseMetricTemplates(
        JSON.stringify({
          'shop/crawl': {
            provider: 'datadog',
            query: 'avg:crawl.lag{kube_deployment:{{ target }}}',
            ingestionDelayMs: 900_000,
          },
        }),
      ),
    };
    const result = decodeAnalysisRequest(
      encode(request({ checkName: 'crawl', templateRef: { namespace: '', name: 'crawl' } })),
      delayed,
    );
    expect(result.ok && result.request.check.active.ingestionDelayMs).toBe(900_000);
    const plain = decodeAnalysisRequest(encode(request()), context);
    expect(plain.ok && plain.request.check.active.ingestionDelayMs).toBeUndefined();
    expect(() =>
      parseMetricTemplates(
        JSON.stringify({ x: { provider: 'datadog', query: 'q', ingestionDelayMs: -5 } }),
      ),
    ).toThrow(/metric templates/);
  });

  it('falls back to the Prometheus built-in for the router when no template is configured', () => {
    const result = decodeAnalysisRequest(
      encode(request({ checkName: 'request-duration', thresholdRange: { max: 500 } })),
      context,
    );
    expect(result.ok && result.request.check.active).toMatchObject({
      providerId: 'prometheus',
      metric: { source: 'builtin', router: 'istio', metric: 'request-duration' },
    });
  });

  it('drops what is not JSON or has no request id, without an identity', () => {
    expect(decodeAnalysisRequest(bytes('{nope'), context)).toEqual({
      ok: false,
      reason: 'not a UTF-8 JSON document',
    });
    expect(decodeAnalysisRequest(new Uint8Array([0xff, 0xfe]), context).ok).toBe(false);
    const noId = decodeAnalysisRequest(bytes('{"cluster":"eu-1"}'), context);
    expect(noId.ok === false && noId.identity).toBeUndefined();
  });

  it('answers malformed requests that carry an id: unknown field, bad names, bad range', () => {
    const unknown = decodeAnalysisRequest(bytes('{"requestId":"r9","bogus":true}'), context);
    expect(unknown).toMatchObject({ ok: false, identity: { requestId: 'r9' } });
    expect(!unknown.ok && unknown.reason).toContain('not an AnalysisRequest');

    const bad = decodeAnalysisRequest(
      encode(
        request({
          cluster: 'EU 1',
          workload: { namespace: 'shop', name: 'cart"}) or vector(1', kind: 1 },
          thresholdRange: { min: 5, max: 1 },
        }),
      ),
      context,
    );
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.identity?.requestId).toBe('req-1');
    expect(bad.reason).toContain('cluster');
    expect(bad.reason).toContain('workload.name');
    expect(bad.reason).toContain('thresholdRange.min');
  });

  it('rejects an unknown check, an unknown template and an unconfigured provider', () => {
    const unknownCheck = decodeAnalysisRequest(encode(request({ checkName: 'made-up' })), context);
    expect(!unknownCheck.ok && unknownCheck.reason).toContain('unknown check "made-up"');

    const unknownTemplate = decodeAnalysisRequest(
      encode(request({ checkName: 'x', templateRef: { namespace: 'shop', name: 'nope' } })),
      context,
    );
    expect(!unknownTemplate.ok && unknownTemplate.reason).toContain('unknown metric template');

    const noProvider = decodeAnalysisRequest(encode(request()), {
      ...context,
      providers: { prometheus: 'prometheus' },
    });
    expect(!noProvider.ok && noProvider.reason).toContain('not configured');
  });
});

describe('parseMetricTemplates', () => {
  it('refuses unknown fields and bad JSON', () => {
    expect(() =>
      parseMetricTemplates('{"a": {"provider": "datadog", "query": "q", "x": 1}}'),
    ).toThrow();
    expect(() => parseMetricTemplates('{')).toThrow(/not JSON/);
    expect(parseMetricTemplates(undefined)).toEqual({});
  });
});

describe('the request’s method', () => {
  const latency = (overrides: RequestInit = {}) =>
    decodeAnalysisRequest(
      encode(
        request({
          checkName: 'request-duration',
          thresholdRange: { max: 500 },
          method: JudgeMethod.LATENCY_COMPARISON,
          ...overrides,
        }),
      ),
      context,
    );

  it('makes the built-in request-duration a latency comparison, SLO from the range’s max', () => {
    const result = latency();
    expect(result.ok && result.request.check).toMatchObject({
      kind: 'latency',
      active: {
        id: 'req-1',
        providerId: 'prometheus',
        metric: { router: 'istio' },
        intervalMs: 60_000,
        priority: 'rollback',
        check: { kind: CheckKind.LatencyComparison, sloMs: 500 },
      },
    });
    const own = latency({ latencySloMs: 250 });
    expect(own.ok && own.request.check.active.check).toEqual({
      kind: CheckKind.LatencyComparison,
      sloMs: 250,
    });
    // Unspecified keeps Flagger's threshold on the P99.
    const threshold = decodeAnalysisRequest(
      encode(request({ checkName: 'request-duration', thresholdRange: { max: 500 } })),
      context,
    );
    expect(threshold.ok && threshold.request.check.active.check.kind).toBe(
      CheckKind.ValueThreshold,
    );
  });

  it('refuses a latency comparison it cannot measure or judge', () => {
    const reason = (r: ReturnType<typeof latency>) => (r.ok ? 'ok' : r.reason);
    expect(reason(latency({ thresholdRange: { min: 1 } }))).toContain('latencySloMs');
    expect(reason(latency({ latencySloMs: -1 }))).toContain('latencySloMs must be');
    expect(reason(latency({ checkName: 'request-success-rate' }))).toContain(
      'built-in request-duration',
    );
    expect(reason(latency({ templateRef: { namespace: 'shop', name: 'latency' } }))).toContain(
      'built-in request-duration',
    );
    expect(reason(latency({ router: RouterKind.UNSPECIFIED }))).toContain('no built-in');
    expect(
      reason(
        decodeAnalysisRequest(
          encode(
            request({
              checkName: 'request-duration',
              thresholdRange: { max: 500 },
              method: JudgeMethod.LATENCY_COMPARISON,
            }),
          ),
          { ...context, providers: { datadog: 'datadog' } },
        ),
      ),
    ).toContain('Prometheus');
  });

  it('makes a counts template a comparison on request, and refuses methods that do not fit', () => {
    const comparison = decodeAnalysisRequest(
      encode(request({ method: JudgeMethod.RATE_COMPARISON })),
      context,
    );
    expect(comparison.ok && comparison.request.check.active.check).toEqual({
      kind: CheckKind.RateComparison,
    });
    const same = decodeAnalysisRequest(
      encode(request({ method: JudgeMethod.RATE_THRESHOLD })),
      context,
    );
    expect(same.ok && same.request.check.active.check.kind).toBe(CheckKind.RateThreshold);
    const misfit = decodeAnalysisRequest(
      encode(
        request({
          checkName: 'request-duration',
          thresholdRange: { max: 500 },
          method: JudgeMethod.RATE_COMPARISON,
        }),
      ),
      context,
    );
    expect(misfit.ok ? 'ok' : misfit.reason).toContain('does not fit');
  });
});
