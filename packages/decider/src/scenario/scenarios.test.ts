import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkEvent } from '../canary/test-kit.ts';
import type { CanaryEvent } from '../canary/types.ts';
import { DeterminismError } from '../replay/determinism-error.ts';
import { replay, stateAt } from '../replay/replay.ts';
import { parseScenario, runScenario } from './run-scenario.ts';

const DIR = join(import.meta.dirname, '../../scenarios');
const FILES = readdirSync(DIR)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

const load = (file: string) => runScenario(parseScenario(readFileSync(join(DIR, file), 'utf8')));

describe('scenarios', () => {
  it('has at least 12 scenario files', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(12);
  });

  for (const file of FILES) {
    describe(file, () => {
      const run = load(file);

      it('meets every expectation, with canonical proto events', () => {
        expect(run.failures).toEqual([]);
        for (const event of run.history) checkEvent(event as CanaryEvent);
      });

      it('replays: the recorded history re-derives its decisions', () => {
        const recorded = JSON.parse(JSON.stringify(run.history));
        const result = replay(recorded);
        expect(result.ok).toBe(true);
        if (result.ok) {
          expect(JSON.stringify(result.state)).toBe(JSON.stringify(run.state));
          expect(JSON.stringify(stateAt(recorded, recorded.length))).toBe(
            JSON.stringify(run.state),
          );
        }
      });

      it('reports a tampered decision as a DeterminismError at its index', () => {
        const recorded = JSON.parse(JSON.stringify(run.history)) as {
          type: string;
          data: Record<string, unknown>;
        }[];
        // The last decision of the run: tamper with its data.
        const index = recorded.findLastIndex(
          (e) => !e.type.endsWith('Recorded') && e.type !== 'ReleaseStarted',
        );
        const target = recorded[index];
        if (target === undefined) throw new Error('no decision recorded');
        recorded[index] = { type: target.type, data: { ...target.data, tampered: true } };
        const result = replay(recorded);
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.error).toBeInstanceOf(DeterminismError);
          expect(result.error.index).toBe(index);
          expect(result.error.code).toBe('DETERMINISM');
          expect(result.error.recorded).toEqual(recorded[index]);
          expect(result.error.rederived).toEqual(run.history[index]);
        }
      });
    });
  }
});

describe('slow-provider-late-verdicts.yaml with resultTimeout equal to the interval', () => {
  it('holds every late verdict at the next tick and pauses: the rule before resultTimeout', () => {
    const scenario = parseScenario(
      readFileSync(join(DIR, 'slow-provider-late-verdicts.yaml'), 'utf8'),
    );
    const rollout = JSON.parse(JSON.stringify(scenario.rollout));
    rollout.spec.analysis.resultTimeout = '1m';
    const run = runScenario({ ...scenario, rollout, steps: [{ every: '1m', until: '30m' }] });
    const types = run.history.map((e) => e.type);
    expect(types.filter((t) => t === 'CanaryCheckHeld')).toHaveLength(3); // maxHeldChecks
    expect(types).toContain('ReleasePaused');
    expect(types).not.toContain('CanaryPromoted');
    expect(run.state.canaries['eu-1']?.canaryWeightPercent).toBe(20);
  });

  it('a history recorded before resultTimeout existed (no field, old reason) still replays', () => {
    const scenario = parseScenario(
      readFileSync(join(DIR, 'slow-provider-late-verdicts.yaml'), 'utf8'),
    );
    const rollout = JSON.parse(JSON.stringify(scenario.rollout));
    rollout.spec.analysis.resultTimeout = '1m';
    const run = runScenario({ ...scenario, rollout, steps: [{ every: '1m', until: '30m' }] });
    // What the same release recorded before the field existed looks like.
    const old = JSON.parse(JSON.stringify(run.history)) as {
      type: string;
      data: Record<string, unknown>;
    }[];
    for (const e of old) {
      if (e.type === 'ReleaseStarted') {
        const analysis = analysisOf(e);
        expect(analysis.resultTimeoutMs).toBe(60_000);
        delete analysis.resultTimeoutMs;
      }
      if (e.type === 'CanaryCheckHeld') {
        expect(e.data.reason).toBe('no result within resultTimeout (60s)');
        e.data.reason = 'no result before the next tick';
      }
    }
    // Its spec hash was of the spec it recorded (without the field): take the re-derived one.
    const startedAt = old.findIndex((e) => e.type === 'ReleaseStarted');
    const hashed = replay(old);
    if (hashed.ok) throw new Error('the spec hash should differ');
    expect(hashed.error.index).toBe(startedAt);
    const target = old[startedAt];
    if (target === undefined) throw new Error('no ReleaseStarted');
    target.data.specHash = (hashed.error.rederived as { data: { specHash: string } }).data.specHash;
    // Re-derived with the old rule: each hold at the next tick, with the old reason.
    expect(replay(old).ok).toBe(true);
  });
});

/** The recorded spec's analysis block (`ReleaseStarted.spec` is the normalized Rollout). */
function analysisOf(started: { data: Record<string, unknown> }): Record<string, unknown> {
  return (started.data.spec as { spec: { analysis: Record<string, unknown> } }).spec.analysis;
}
