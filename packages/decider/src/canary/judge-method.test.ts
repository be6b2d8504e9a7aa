/**
 * `metrics[].judge: comparison` reaches the analyzer as the request's judge method; a spec
 * without it asks exactly what it asked before (no `method`), so recorded releases replay.
 */
import type { AnalysisRequestJson } from '@aviary/proto';
import { describe, expect, it } from 'vitest';
import { issuesOf, minimal } from '../spec/test-helpers.ts';
import { validateRollout } from '../spec/validate-rollout.ts';
import { contextOf, MINUTE, started, T0 } from './test-kit.ts';

const at = (i: number) => T0 + i * MINUTE;

function requestsFor(metrics: Record<string, unknown>[]): Map<string, AnalysisRequestJson> {
  const sim = started(
    contextOf((r) => {
      r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 50, metrics };
    }),
  );
  for (let i = 0; i < 3; i++) sim.tick(at(i));
  const requests = new Map<string, AnalysisRequestJson>();
  for (const event of sim.events) {
    if (event.type !== 'AnalysisRequested') continue;
    const request = (event.data as { request: AnalysisRequestJson }).request;
    requests.set(request.checkName ?? '', request);
  }
  return requests;
}

describe('metrics[].judge', () => {
  it('asks for a latency comparison for request-duration and a rate comparison for a template', () => {
    const requests = requestsFor([
      {
        name: 'request-duration',
        thresholdRange: { max: 250 },
        interval: '1m',
        judge: 'comparison',
      },
      {
        name: 'errors',
        templateRef: { name: 'error-counts' },
        thresholdRange: { max: 1 },
        interval: '1m',
        judge: 'comparison',
      },
      { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
    ]);
    expect(requests.get('request-duration')?.method).toBe('JUDGE_METHOD_LATENCY_COMPARISON');
    expect(requests.get('request-duration')?.thresholdRange).toEqual({ max: 250 });
    expect(requests.get('errors')?.method).toBe('JUDGE_METHOD_RATE_COMPARISON');
    expect(requests.get('request-success-rate')).toBeDefined();
    expect(requests.get('request-success-rate')).not.toHaveProperty('method');
  });

  it('threshold (the default) adds nothing to the spec or the request', () => {
    const spec = validateRollout(
      minimal((x) => {
        x.spec.analysis.metrics = [
          { name: 'request-duration', thresholdRange: { max: 500 }, judge: 'threshold' },
        ];
      }),
    );
    expect(spec.spec.analysis.metrics[0]).not.toHaveProperty('judge');
    const requests = requestsFor([
      {
        name: 'request-duration',
        thresholdRange: { max: 500 },
        interval: '1m',
        judge: 'threshold',
      },
    ]);
    expect(requests.get('request-duration')).not.toHaveProperty('method');
  });

  it('refuses what the analyzer cannot compare, naming the field', () => {
    const withMetric = (metric: Record<string, unknown>) => () =>
      validateRollout(minimal((x) => (x.spec.analysis.metrics = [metric])));
    expect(
      issuesOf(
        withMetric({
          name: 'request-success-rate',
          thresholdRange: { min: 99 },
          judge: 'comparison',
        }),
      ),
    ).toEqual([
      {
        path: 'spec.analysis.metrics[0].judge',
        message:
          'comparison is offered for request-duration and counts templates; request-success-rate is judged on its value',
      },
    ]);
    expect(
      issuesOf(
        withMetric({ name: 'request-duration', thresholdRange: { min: 1 }, judge: 'comparison' }),
      ),
    ).toEqual([
      {
        path: 'spec.analysis.metrics[0].thresholdRange.max',
        message:
          'is required with judge: comparison (requests slower than max milliseconds are slow)',
      },
    ]);
    expect(
      issuesOf(
        withMetric({ name: 'request-duration', thresholdRange: { max: 1 }, judge: 'bayes' }),
      ),
    ).toEqual([
      {
        path: 'spec.analysis.metrics[0].judge',
        message: 'must be one of threshold, comparison (got "bayes")',
      },
    ]);
  });
});
