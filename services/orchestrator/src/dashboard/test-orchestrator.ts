/**
 * The running orchestrator of the dashboard's browser tests (`../testing/running-orchestrator.ts`:
 * engine, projections on an in-memory PGlite log, outbox relay, webhook dispatcher, HTTP API with
 * the dashboard, a `SimulatedFleet` answering at the message level), with evidence on verdicts.
 *
 * The simulated analyzer only chooses outcomes; this fixture gives each verdict the evidence the
 * real analyzer records (`Evidence` of `aviary.analysis.v1`): for `request-success-rate` the
 * canary's and the primary's request counts, the success rate and its 95 % Wilson bounds; for
 * `request-duration` a p99 in ms with the counts of slow requests. The values are made up but
 * consistent with the outcome, and recorded in the log like any verdict: they are what the
 * dashboard's charts must draw.
 */
import type { AnalysisVerdictJson, EvidenceJson } from '@aviary/proto';
import {
  type RunningOrchestrator,
  type RunningOrchestratorOptions,
  startRunningOrchestrator,
} from '../testing/running-orchestrator.ts';

export type TestOrchestrator = RunningOrchestrator;

export type TestOrchestratorOptions = Pick<RunningOrchestratorOptions, 'tokens' | 'clusters'>;

/** z for a 95 % two-sided interval. */
const Z = 1.959964;

/** Wilson score interval of k successes out of n, in percent. */
function wilson(k: number, n: number): { lower: number; upper: number } {
  const p = k / n;
  const denominator = 1 + (Z * Z) / n;
  const center = (p + (Z * Z) / (2 * n)) / denominator;
  const half = (Z * Math.sqrt((p * (1 - p)) / n + (Z * Z) / (4 * n * n))) / denominator;
  return { lower: 100 * Math.max(0, center - half), upper: 100 * Math.min(1, center + half) };
}

/** Evidence consistent with `outcome`, varying with `n` (the how-many-th verdict). */
function evidenceFor(check: string, outcome: string | undefined, n: number): EvidenceJson {
  const end = Date.now();
  const window = {
    windowStart: new Date(end - 1000).toISOString(),
    windowEnd: new Date(end).toISOString(),
  };
  const failed = outcome === 'ANALYSIS_OUTCOME_FAILED';
  if (check === 'request-duration') {
    const total = 400 + 10 * (n % 7);
    return {
      value: failed ? 640 + (n % 5) * 10 : 180 + (n % 5) * 7,
      thresholdRange: { max: 500 },
      canary: { totalCount: String(total), badCount: String(failed ? 60 : n % 2) },
      primary: { totalCount: '4000', badCount: '6' },
      query: 'histogram_quantile(0.99, …)',
      ...window,
    };
  }
  const total = 400 + 10 * (n % 7);
  const bad = failed ? 40 + (n % 3) : n % 2;
  const bounds = wilson(total - bad, total);
  return {
    value: (100 * (total - bad)) / total,
    thresholdRange: { min: 99 },
    lowerBound: bounds.lower,
    upperBound: bounds.upper,
    canary: { totalCount: String(total), badCount: String(bad) },
    primary: { totalCount: '4000', badCount: String(4 + (n % 3)) },
    query: 'sum(rate(istio_requests_total{…}))',
    ...window,
  };
}

export async function startTestOrchestrator(
  options: TestOrchestratorOptions,
): Promise<TestOrchestrator> {
  let verdicts = 0;
  return startRunningOrchestrator({
    ...options,
    storage: 'memory',
    pollIntervalMs: 50,
    mapVerdict: (verdict: AnalysisVerdictJson) => {
      verdicts += 1;
      const evidence = evidenceFor(verdict.checkName ?? '', verdict.outcome, verdicts);
      return { ...verdict, evidence };
    },
    onFleetError: (error) => {
      throw error;
    },
  });
}
