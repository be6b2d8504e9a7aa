/**
 * Agent commands that do not succeed: a promotion the agent rejects or fails, a rejected routes
 * change, and a retriable failure (re-sent with the same id, nothing decided).
 */
import type { CommandResultJson } from '@aviary/proto';
import { describe, expect, it } from 'vitest';
import {
  CLUSTER,
  commandIds,
  contextOf,
  MINUTE,
  NEW,
  OLD,
  Simulation,
  started,
  summary,
  T0,
} from './test-kit.ts';
import { type CanaryCommand, CanaryPhase } from './types.ts';

const metrics = [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }];
const at = (i: number) => T0 + i * MINUTE;
const context = contextOf((r) => {
  r.spec.analysis = { interval: '1m', stepWeight: 25, maxWeight: 50, metrics };
});

let seq = 0;
const result = (commandId: string, outcome: CommandResultJson['outcome'], extra = {}) => {
  seq += 1;
  return {
    type: 'Observe',
    data: {
      observation: {
        observationId: `result-${seq}`,
        cluster: CLUSTER,
        commandResult: { commandId, outcome, ...extra },
      },
    },
  } as CanaryCommand;
};

/** Ticks (answered, except the promotion) until the canary asks for its promotion. */
function promoting(): { sim: Simulation; promoteId: string; next: number } {
  const sim = started(context, { confirm: (id) => !id.endsWith(':promote-canary') });
  for (let i = 0; i < 20; i += 1) {
    const ids = commandIds(sim.tick(at(i)), 'CanaryPromotionRequested');
    if (ids[0] !== undefined) return { sim, promoteId: ids[0], next: i + 1 };
  }
  throw new Error('never promoted');
}

describe('a promotion the agent does not apply', () => {
  it('rejected (StaleRevision): rolled back at once, routes 100/0, canary to zero, never promoted', () => {
    const { sim, promoteId } = promoting();
    expect(sim.current.phase).toBe(CanaryPhase.Promoting);
    const events = sim.send(
      result(promoteId, 'COMMAND_OUTCOME_REJECTED', {
        reason: 'StaleRevision',
        message: 'the canary runs revision rev-other, not rev-new',
      }),
    );
    expect(summary(events)).toEqual([
      'routes 100/0',
      'CanaryScaleToZeroRequested',
      'CanaryRolledBack',
      'phase FAILED',
    ]);
    const rolledBack = events.find((e) => e.type === 'CanaryRolledBack');
    expect(JSON.stringify(rolledBack?.data)).toContain(
      `command ${promoteId} rejected: StaleRevision`,
    );
    expect(sim.current).toMatchObject({
      phase: CanaryPhase.Failed,
      failedRevisionId: NEW,
      primaryRevisionId: OLD,
      promoted: false,
    });
    // The promotion is no longer outstanding: not re-sent.
    expect(sim.current.outstanding.map((c) => c.kind)).not.toContain('promote-canary');
  });

  it('failed for good (not retriable): rolled back like a rejection', () => {
    const { sim, promoteId } = promoting();
    const events = sim.send(result(promoteId, 'COMMAND_OUTCOME_FAILED', { reason: 'NotGranted' }));
    expect(summary(events)).toContain('phase FAILED');
    expect(sim.current.phase).toBe(CanaryPhase.Failed);
  });

  it('failed, retriable: nothing decided, re-sent with the same id on the next tick, then promoted', () => {
    const { sim, promoteId, next } = promoting();
    const events = sim.send(
      result(promoteId, 'COMMAND_OUTCOME_FAILED', { reason: 'PrimaryNotReady', retriable: true }),
    );
    expect(events.map((e) => e.type)).toEqual(['ObservationRecorded']);
    expect(sim.current.phase).toBe(CanaryPhase.Promoting);
    const again = sim.tick(at(next));
    expect(commandIds(again, 'CanaryPromotionRequested')).toEqual([promoteId]);
    // The agent applies it this time (a fresh simulation answers everything).
    const answered = new Simulation(context);
    for (const { command } of sim.log) answered.send(command);
    answered.send(result(promoteId, 'COMMAND_OUTCOME_SUCCEEDED'));
    expect(answered.current.outstanding.map((c) => c.kind)).not.toContain('promote-canary');
  });
});

describe('a rejected command while analysing', () => {
  it('a routes change rejected in Progressing rolls the canary back', () => {
    const sim = started(context, { confirm: (id) => !id.endsWith(':set-routes') });
    let routesId: string | undefined;
    for (let i = 0; i < 10 && routesId === undefined; i += 1) {
      routesId = commandIds(sim.tick(at(i)), 'CanaryWeightRequested')[0];
    }
    if (routesId === undefined) throw new Error('no routes requested');
    expect(sim.current.phase).toBe(CanaryPhase.Progressing);
    const events = sim.send(
      result(routesId, 'COMMAND_OUTCOME_REJECTED', { reason: 'Invalid', message: 'weights' }),
    );
    expect(summary(events)).toContain('CanaryRolledBack');
    expect(sim.current.phase).toBe(CanaryPhase.Failed);
    expect(sim.current.canaryWeightPercent).toBe(0);
  });
});
