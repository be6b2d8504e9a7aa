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
