import { AviaryError, ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import {
  createPrometheusProvider,
  interpretResponse,
  parseRetryAfter,
  parseSampleValue,
} from './prometheus.ts';
import { type ProviderResult, toValueObservation } from './provider.ts';

const WHAT = 'POST http://prom/api/v1/query';
const signal = new AbortController().signal;

function answer(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): ProviderResult {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return interpretResponse(status, new Headers(headers), text, WHAT);
}

interface Captured {
  url: string;
  init: RequestInit;
}

function fakeFetch(
  respond: (captured: Captured) => Response | Promise<Response>,
  calls: Captured[] = [],
): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const captured = { url: String(input), init: init ?? {} };
    calls.push(captured);
    return respond(captured);
  }) as typeof fetch;
}

const success = (data: unknown, extra: Record<string, unknown> = {}) =>
  new Response(JSON.stringify({ status: 'success', data, ...extra }), { status: 200 });

describe('parsing successful answers', () => {
  it('parses vectors with string sample values, NaN and infinities included', () => {
    const result = answer(200, {
      status: 'success',
      data: {
        resultType: 'vector',
        result: [
          { metric: { workload: 'cart' }, value: [1700000000.123, '97.5'] },
          { metric: { workload: 'a' }, value: [1700000000, 'NaN'] },
          { metric: { workload: 'b' }, value: [1700000000, '+Inf'] },
          { metric: { workload: 'c' }, value: [1700000000, '-Inf'] },
          { metric: {}, value: [1700000000, '1e-3'] },
        ],
      },
    });
    expect(result).toEqual({
      status: 'ok',
      series: [
        { labels: { workload: 'cart' }, samples: [{ tMs: 1700000000123, value: 97.5 }] },
        { labels: { workload: 'a' }, samples: [{ tMs: 1700000000000, value: Number.NaN }] },
        { labels: { workload: 'b' }, samples: [{ tMs: 1700000000000, value: Infinity }] },
        { labels: { workload: 'c' }, samples: [{ tMs: 1700000000000, value: -Infinity }] },
        { labels: {}, samples: [{ tMs: 1700000000000, value: 0.001 }] },
      ],
    });
  });

  it('parses matrices, scalars and warnings', () => {
    expect(
      answer(200, {
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            {
              metric: { a: '1' },
              values: [
                [10, '1'],
                [25, '2.5'],
              ],
            },
          ],
        },
        warnings: ['partial response'],
      }),
    ).toEqual({
      status: 'ok',
      series: [
        {
          labels: { a: '1' },
          samples: [
            { tMs: 10000, value: 1 },
            { tMs: 25000, value: 2.5 },
          ],
        },
      ],
      warnings: ['partial response'],
    });
    expect(
      answer(200, { status: 'success', data: { resultType: 'scalar', result: [5, '42'] } }),
    ).toEqual({ status: 'ok', series: [{ labels: {}, samples: [{ tMs: 5000, value: 42 }] }] });
  });

  it('turns anything malformed into bad-response', () => {
    const bad = [
      answer(200, 'not json <html>'),
      answer(200, '[1,2]'),
      answer(200, { status: 'success' }),
      answer(200, { status: 'success', data: { resultType: 'string', result: [1, 'x'] } }),
      answer(200, { status: 'success', data: { resultType: 'weird', result: [] } }),
      answer(200, { status: 'success', data: { resultType: 'vector', result: {} } }),
      answer(200, {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [1] }] },
      }),
      answer(200, {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [1, 'twelve'] }] },
      }),
      answer(200, {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [1, 2] }] },
      }),
      answer(200, {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: { a: 1 }, value: [1, '2'] }] },
      }),
      answer(200, { status: 'success', data: { resultType: 'matrix', result: [{ metric: {} }] } }),
      answer(200, { status: 'success', data: { resultType: 'vector', result: [] }, warnings: 'x' }),
    ];
    for (const result of bad)
      expect(result).toMatchObject({ status: 'failed', reason: 'bad-response' });
  });

  it('parses sample values strictly', () => {
    expect(parseSampleValue('0')).toBe(0);
    expect(parseSampleValue('-1.5e+10')).toBe(-1.5e10);
    expect(parseSampleValue('')).toBeUndefined();
    expect(parseSampleValue(' 1')).toBeUndefined();
    expect(parseSampleValue('0x10')).toBeUndefined();
  });
});

describe('mapping failures', () => {
  const error = (status: number, errorType: string, headers: Record<string, string> = {}) =>
    answer(status, { status: 'error', errorType, error: `${errorType} happened` }, headers);

  it.each([
    [400, 'bad_data', 'query-rejected'],
    [422, 'execution', 'query-rejected'],
    [503, 'timeout', 'timeout'],
    [503, 'canceled', 'server-error'],
    [503, 'unavailable', 'server-error'],
    [500, 'internal', 'server-error'],
    [404, 'not_found', 'query-rejected'],
    [500, 'something_new', 'server-error'],
    [400, 'something_new', 'query-rejected'],
  ])('HTTP %i errorType %s → %s', (status, errorType, reason) => {
    expect(error(status, errorType)).toMatchObject({
      status: 'failed',
      reason,
      httpStatus: status,
      message: expect.stringContaining(`${errorType} happened`),
    });
  });

  it('maps 429 to throttled with Retry-After, in seconds or as a date', () => {
    expect(answer(429, 'too many outstanding requests', { 'Retry-After': '7' })).toMatchObject({
      reason: 'throttled',
      retryAfterMs: 7000,
      httpStatus: 429,
      message: expect.stringContaining('too many outstanding requests'),
    });
    expect(error(429, 'unavailable')).toMatchObject({ reason: 'throttled' });
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:30 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('maps bare HTTP statuses from proxies', () => {
    expect(answer(502, '<html>Bad Gateway</html>')).toMatchObject({ reason: 'server-error' });
    expect(answer(503, '', { 'Retry-After': '2' })).toMatchObject({
      reason: 'server-error',
      retryAfterMs: 2000,
    });
    expect(answer(504, '')).toMatchObject({ reason: 'timeout' });
    expect(answer(401, 'unauthorized')).toMatchObject({ reason: 'query-rejected' });
    expect(answer(422, '')).toMatchObject({ reason: 'query-rejected' });
    expect(answer(302, '')).toMatchObject({ reason: 'bad-response' });
  });
});

describe('createPrometheusProvider', () => {
  it('POSTs form-encoded instant and range queries with the configured headers', async () => {
    const calls: Captured[] = [];
    const provider = createPrometheusProvider({
      address: 'http://prom.example:9090/prefix',
      headers: { 'X-Scope-OrgID': 'team-a' },
      timeoutMs: 5000,
      fetch: fakeFetch(() => success({ resultType: 'vector', result: [] }), calls),
    });
    expect(await provider.query({ query: 'up', timeMs: 1_700_000_000_500 }, signal)).toEqual({
      status: 'ok',
      series: [],
    });
    await provider.query(
      {
        query: 'up',
        range: { startMs: 1_700_000_000_000, endMs: 1_700_000_060_000, stepMs: 15_000 },
      },
      signal,
    );
    const [instant, range] = calls as [Captured, Captured];
    expect(instant.url).toBe('http://prom.example:9090/prefix/api/v1/query');
    expect(instant.init.method).toBe('POST');
    expect(new Headers(instant.init.headers).get('content-type')).toBe(
      'application/x-www-form-urlencoded',
    );
    expect(new Headers(instant.init.headers).get('x-scope-orgid')).toBe('team-a');
    expect(Object.fromEntries(instant.init.body as URLSearchParams)).toEqual({
      query: 'up',
      time: '1700000000.5',
      timeout: '5000ms',
    });
    expect(range.url).toBe('http://prom.example:9090/prefix/api/v1/query_range');
    expect(Object.fromEntries(range.init.body as URLSearchParams)).toEqual({
      query: 'up',
      start: '1700000000',
      end: '1700000060',
      step: '15',
      timeout: '5000ms',
    });
  });

  it('moves userinfo into a Basic header and never shows credentials in messages', async () => {
    const calls: Captured[] = [];
    const provider = createPrometheusProvider({
      address: 'https://reader:s3cret@prom.example/',
      headers: { Authorization: 'Bearer tok3n' },
      fetch: fakeFetch(() => new Response('upstream said no', { status: 500 }), calls),
    });
    const result = await provider.query({ query: 'up' }, signal);
    expect(calls[0]?.url).toBe('https://prom.example/api/v1/query');
    expect(new Headers(calls[0]?.init.headers).get('authorization')).toBe('Bearer tok3n');
    expect(result).toMatchObject({ status: 'failed', reason: 'server-error' });
    expect(JSON.stringify(result)).not.toMatch(/s3cret|tok3n|reader/);
  });

  it('maps network errors to unreachable and its own timeout to timeout', async () => {
    const refused = createPrometheusProvider({
      address: 'http://prom.example',
      fetch: fakeFetch(() => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:9090'), {
            code: 'ECONNREFUSED',
          }),
        });
      }),
    });
    expect(await refused.query({ query: 'up' }, signal)).toMatchObject({
      status: 'failed',
      reason: 'unreachable',
      message: expect.stringContaining('ECONNREFUSED'),
    });

    const hanging = createPrometheusProvider({
      address: 'http://prom.example',
      timeoutMs: 50,
      fetch: fakeFetch(
        ({ init }) =>
          new Promise<Response>((_, reject) => {
            init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          }),
      ),
    });
    expect(await hanging.query({ query: 'up' }, signal)).toMatchObject({
      status: 'failed',
      reason: 'timeout',
    });
  });

  it('throws ABORTED when the caller aborts, and ValidationError for invalid requests', async () => {
    const provider = createPrometheusProvider({
      address: 'http://prom.example',
      fetch: fakeFetch(
        ({ init }) =>
          new Promise<Response>((_, reject) => {
            init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          }),
      ),
    });
    const controller = new AbortController();
    const pending = provider.query({ query: 'up' }, controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(pending).rejects.toBeInstanceOf(AviaryError);
    await expect(provider.query({ query: ' ' }, signal)).rejects.toBeInstanceOf(ValidationError);
    await expect(
      provider.query(
        { query: 'up', range: { startMs: 0, endMs: 86_400_000, stepMs: 1000 } },
        signal,
      ),
    ).rejects.toThrow(/11000 points/);
    expect(() => createPrometheusProvider({ address: 'ftp://x' })).toThrow(ValidationError);
    expect(() => createPrometheusProvider({ address: 'nope' })).toThrow(ValidationError);
  });
});

describe('toValueObservation', () => {
  it('maps results onto judge observations', () => {
    const one = (value: number): ProviderResult => ({
      status: 'ok',
      series: [{ labels: {}, samples: [{ tMs: 1, value }] }],
    });
    expect(toValueObservation(one(99))).toEqual({ status: 'ok', data: 99 });
    expect(toValueObservation(one(Number.NaN))).toEqual({ status: 'no-data' });
    expect(toValueObservation({ status: 'ok', series: [] })).toEqual({ status: 'no-data' });
    expect(
      toValueObservation({ status: 'failed', reason: 'timeout', message: 'slow', httpStatus: 503 }),
    ).toEqual({ status: 'provider-error', failure: { reason: 'timeout', message: 'slow' } });
    expect(
      toValueObservation({
        status: 'ok',
        series: [
          { labels: { a: '1' }, samples: [] },
          { labels: { a: '2' }, samples: [] },
        ],
      }),
    ).toMatchObject({ status: 'provider-error', failure: { reason: 'bad-response' } });
  });
});
