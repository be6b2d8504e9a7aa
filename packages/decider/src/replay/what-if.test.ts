import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../scenario/run-scenario.ts';
import type { Scenario } from '../scenario/types.ts';
import { validateRollout } from '../spec/validate-rollout.ts';
import { whatIf } from './what-if.ts';

const DIR = join(import.meta.dirname, '../../scenarios');
const scenario = (file: string): Scenario => parseScenario(readFileSync(join(DIR, file), 'utf8'));

/** The scenario's rollout with its analysis block patched. */
function withAnalysis(s: Scenario, patch: Record<string, unknown>) {
  const rollout = structuredClone(s.rollout) as { spec: { analysis: Record<string, unknown> } };
  Object.assign(rollout.spec.analysis, patch);
  return validateRollout(rollout);
}

describe('whatIf', () => {
  it('with a lower threshold the rollback comes earlier', () => {
    const s = scenario('threshold-rollback.yaml');
    const run = runScenario(s);
    expect(run.failures).toEqual([]);
    const report = whatIf(run.history, withAnalysis(s, { threshold: 1 }));
    const eu1 = report.clusters.find((c) => c.cluster === 'eu-1');
    expect(eu1?.recorded.outcome?.kind).toBe('rolled-back');
    expect(eu1?.changed.outcome?.kind).toBe('rolled-back');
    // The first divergence is the rollback-relevant priority of the last analysis request.
    expect(eu1?.divergence?.recorded?.type).toBe('AnalysisRequested');
    expect((eu1?.recorded.outcome?.atMs ?? 0) - (eu1?.changed.outcome?.atMs ?? 0)).toBe(60_000);
    expect(report.lines).toContainEqual(
      expect.stringMatching(
        /^with threshold 1 the rollback would have come 1 minute earlier in eu-1/,
      ),
    );
  });

  it('with another stepWeight the requested weights change from the first step on', () => {
    const s = scenario('canary-step-weight.yaml');
    const run = runScenario(s);
    const report = whatIf(run.history, withAnalysis(s, { stepWeight: 30 }));
    const eu1 = report.clusters.find((c) => c.cluster === 'eu-1');
    expect(eu1?.recorded.weights.slice(0, 3)).toEqual([20, 40, 60]);
    expect(eu1?.changed.weights[0]).toBe(30);
    expect(eu1?.divergence?.recorded?.type).toBe('CanaryWeightRequested');
    expect(eu1?.divergence?.changed?.type).toBe('CanaryWeightRequested');
    expect(report.change).toBe('stepWeight 30');
  });

  it('with the same spec nothing diverges', () => {
    const s = scenario('fleet-wave-2-failure.yaml');
    const run = runScenario(s);
    const report = whatIf(run.history, run.context.rollout);
    expect(report.clusters.every((c) => c.divergence === undefined)).toBe(true);
    expect(report.lines).toEqual(['with the changed spec no decision would have changed']);
    expect(report.skippedInputs).toEqual([]);
  });
});
