import type { v1, v2 } from '@datadog/datadog-api-client';
import { describe, expect, it } from 'vitest';
import {
  interpretFailure,
  parseQueryMetricsResponse,
  parseRateLimitReset,
  parseTimeseriesResponse,
  tagsToLabels,
} from './datadog.ts';
import { seriesObservation } from './provider.ts';

const WHAT = 'POST https://api.datadoghq.eu/api/v2/query/timeseries';
const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);

const v2Response = (attributes: Record<string, unknown>, errors?: string) =>
  ({
    data: { type: 'timeseries_response', attributes },
    ...(errors === undefined ? {} : { errors }),
  }) as unknown as v2.TimeseriesFormulaQueryResponse;

describe('parsing a v2 timeseries answer', () => {
  it('gives each formula its groups, group_tags as labels, null as NaN (no data, never 0)', () => {
    const parsed = parseTimeseriesResponse(
      v2Response({
        times: [1000, 2000],
        series: [
          { queryIndex: 0, groupTags: ['kube_deployment:checkout', 'env:prod'] },
          { queryIndex: 0, groupTags: ['kube_deployment:cart', 'env:prod'] },
          { queryIndex: 1, groupTags: [] },
        ],
        values: [
          [99, 98.5],
          [97, null],
          [null, null],
        ],
      }),
      3,
    );
    expect(parsed).toEqual({
      results: [
        {
          status: 'ok',
          series: [
            {
              labels: { kube_deployment: 'checkout', env: 'prod' },
              samples: [
                { tMs: 1000, value: 99 },
                { tMs: 2000, value: 98.5 },
              ],
            },
            {
              labels: { kube_deployment: 'cart', env: 'prod' },
              samples: [
                { tMs: 1000, value: 97 },
                { tMs: 2000, value: Number.NaN },
              ],
            },
          ],
        },
        {
          status: 'ok',
          series: [
            {
              labels: {},
              samples: [
                { tMs: 1000, value: Number.NaN },
                { tMs: 2000, value: Number.NaN },
              ],
            },
          ],
        },
        { status: 'ok', series: [] },
      ],
    });
    if (!('results' in parsed)) throw new Error('unreachable');
    // A null last bucket is no data for the judge, not a value of 0.
    expect(seriesObservation(parsed.results[0]?.series[1])).toEqual({ status: 'no-data' });
    expect(seriesObservation(parsed.results[0]?.series[0])).toEqual({ status: 'ok', data: 98.5 });
  });

  it('treats an answer without attributes as no series, and passes `errors` on as a warning', () => {
    expect(parseTimeseriesResponse({} as v2.TimeseriesFormulaQueryResponse, 1)).toEqual({
      results: [{ status: 'ok', series: [] }],
    });
    expect(
      parseTimeseriesResponse(v2Response({ times: [], series: [], values: [] }, 'partial'), 1),
    ).toEqual({ results: [{ status: 'ok', series: [], warnings: ['partial'] }] });
  });

  it('refuses shapes that do not add up', () => {
    const reason = (attributes: Record<string, unknown>, n = 1) => {
      const parsed = parseTimeseriesResponse(v2Response(attributes), n);
      return 'message' in parsed ? [parsed.reason, parsed.message] : parsed;
    };
    expect(reason({ times: [1], series: [{ queryIndex: 0 }], values: [] })).toEqual([
      'bad-response',
      '1 series but 0 value lists',
    ]);
    expect(reason({ times: [1], series: [{ queryIndex: 0 }], values: [[1, 2]] })).toEqual([
      'bad-response',
      'values[0] does not hold one value per time (1)',
    ]);
    expect(reason({ times: [1], series: [{ queryIndex: 3 }], values: [[1]] }, 2)).toEqual([
      'bad-response',
      'series[0].query_index 3 names no formula',
    ]);
    expect(reason({ times: [1], series: [{ queryIndex: 0 }], values: [['1']] })).toEqual([
      'bad-response',
      'values[0][0] is not a number or null',
    ]);
    expect(reason({ times: ['x'], series: [], values: [] })).toEqual([
      'bad-response',
      'times[0] is not epoch milliseconds',
    ]);
  });
});

describe('parsing a v1 answer', () => {
  it('gives each comma-separated query its series by query_index, null points as NaN', () => {
    const response = {
      status: 'ok',
      series: [
        {
          queryIndex: 1,
          tagSet: ['kube_cluster_name:eu-1'],
          pointlist: [
            [1000, 2],
            [2000, null],
          ],
        },
        { queryIndex: 0, tagSet: [], pointlist: [[1000, 300]] },
      ],
    } as unknown as v1.MetricsQueryResponse;
    expect(parseQueryMetricsResponse(response, 2)).toEqual({
      results: [
        { status: 'ok', series: [{ labels: {}, samples: [{ tMs: 1000, value: 300 }] }] },
        {
          status: 'ok',
          series: [
            {
              labels: { kube_cluster_name: 'eu-1' },
              samples: [
                { tMs: 1000, value: 2 },
                { tMs: 2000, value: Number.NaN },
              ],
            },
          ],
        },
      ],
    });
  });

  it('maps status "error" to query-rejected and a bad pointlist to bad-response', () => {
    expect(
      parseQueryMetricsResponse(
        { status: 'error', error: 'Rule parse error' } as v1.MetricsQueryResponse,
        1,
      ),
    ).toEqual({ reason: 'query-rejected', message: 'query refused: Rule parse error' });
    expect(
      parseQueryMetricsResponse(
        { series: [{ queryIndex: 0, pointlist: [[1]] }] } as unknown as v1.MetricsQueryResponse,
        1,
      ),
    ).toMatchObject({ reason: 'bad-response' });
  });
});

describe('mapping failures', () => {
  const headers = (h: Record<string, string> = {}) => new Headers(h);

  it('429 is throttled, retrying when X-RateLimit-Reset (seconds until reset) says, else Retry-After', () => {
    expect(
      interpretFailure(
        429,
        headers({ 'X-RateLimit-Reset': '61', 'Retry-After': '5' }),
        '{"errors":["Too many requests"]}',
        WHAT,
        NOW,
      ),
    ).toEqual({
      status: 'failed',
      reason: 'throttled',
      message: `${WHAT}: HTTP 429: Too many requests`,
      httpStatus: 429,
      retryAfterMs: 61_000,
    });
    expect(interpretFailure(429, headers({ 'Retry-After': '5' }), '', WHAT, NOW)).toMatchObject({
      reason: 'throttled',
      retryAfterMs: 5000,
    });
    expect(interpretFailure(429, headers(), '', WHAT, NOW).retryAfterMs).toBeUndefined();
  });

  it('400/422 are query-rejected with Datadog’s errors[]', () => {
    for (const status of [400, 422]) {
      expect(
        interpretFailure(
          status,
          headers(),
          '{"errors":["Functions are not supported in metrics data source field. Use the formulas payload.","second"]}',
          WHAT,
          NOW,
        ),
      ).toEqual({
        status: 'failed',
        reason: 'query-rejected',
        message: `${WHAT}: HTTP ${status}: Functions are not supported in metrics data source field. Use the formulas payload.; second`,
        httpStatus: status,
      });
    }
  });

  it('401/403 are query-rejected, saying the keys, site or permissions are wrong', () => {
    for (const status of [401, 403]) {
      const result = interpretFailure(status, headers(), '{"errors":["Forbidden"]}', WHAT, NOW);
      expect(result.reason).toBe('query-rejected');
      expect(result.httpStatus).toBe(status);
      expect(result.message).toMatch(/Forbidden.*refused the API or application key/);
    }
  });

  it('5xx are server errors (408/504 timeouts), other answers by their class', () => {
    expect(
      interpretFailure(503, headers({ 'Retry-After': '3' }), '<html>busy</html>', WHAT, NOW),
    ).toEqual({
      status: 'failed',
      reason: 'server-error',
      message: `${WHAT}: HTTP 503: <html>busy</html>`,
      httpStatus: 503,
      retryAfterMs: 3000,
    });
    expect(interpretFailure(500, headers(), '', WHAT, NOW).reason).toBe('server-error');
    expect(interpretFailure(504, headers(), '', WHAT, NOW).reason).toBe('timeout');
    expect(interpretFailure(408, headers(), '', WHAT, NOW).reason).toBe('timeout');
    expect(interpretFailure(404, headers(), '', WHAT, NOW).reason).toBe('query-rejected');
    expect(interpretFailure(302, headers(), '', WHAT, NOW).reason).toBe('bad-response');
  });

  it('reads X-RateLimit-Reset as seconds, and tags as labels', () => {
    expect(parseRateLimitReset('3600')).toBe(3_600_000);
    expect(parseRateLimitReset(' 1.5 ')).toBe(1500);
    expect(parseRateLimitReset('soon')).toBeUndefined();
    expect(parseRateLimitReset(null)).toBeUndefined();
    expect(tagsToLabels(['a:b:c', 'bare', 'tag:N/A'], 'x')).toEqual({
      a: 'b:c',
      bare: '',
      tag: 'N/A',
    });
    expect(tagsToLabels([1], 'x')).toBe('x[0] is not a string');
  });
});
