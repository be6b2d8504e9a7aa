/**
 * An Error verdict of kind CONFIGURATION (the backend rejected the query, the template does not
 * render, …) pauses the cluster's canary at once: not a failed check, not a hold. Errors without a
 * kind (older histories) and provider-unavailable errors are still held.
 */
import type { ErrorKindJson } from '@aviary/proto';
import { describe, expect, it } from 'vitest';
import {
  CLUSTER,
  contextOf,
  MINUTE,
  operator,
  RELEASE,
  requestIds,
  specificationFor,
  started,
  summary,
  T0,
  tick,
} from './test-kit.ts';
import type { CanaryCommand } from './types.ts';

const CHECK = 'request-duration';
const metrics = [
  { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
  { name: CHECK, thresholdRange: { max: 500 }, interval: '1m' },
];
const at = (i: number) => T0 + i * MINUTE;
const REJECTED = 'provider query-rejected: bad_data: 1:5: parse error: unexpected identifier';

const context = contextOf((r) => {
  r.spec.analysis = { interval: '1m', stepWeight: 10, maxWeight: 50, maxHeldChecks: 3, metrics };
});

const errorVerdict = (requestId: string, errorKind?: ErrorKindJson): CanaryCommand => ({
  type: 'RecordVerdict',
  data: {
    verdict: {
      requestId,
      releaseId: RELEASE,
      cluster: CLUSTER,
      checkName: CHECK,
      outcome: 'ANALYSIS_OUTCOME_ERROR',
      message: REJECTED,
      ...(errorKind === undefined ? {} : { errorKind }),
    },
  },
});

/**
 * Started, stepped to 10 at t1; from t2 on, request-duration is left unanswered at the ticks in
 * `unanswered` (sim tick index = t + 3), for the test to answer.
 */
function given(unanswered: readonly number[]) {
  const sim = started(context, {
    verdict: (name, i) =>
      name === CHECK && unanswered.includes(i - 3) ? undefined : 'ANALYSIS_OUTCOME_SUCCESSFUL',
  });
  return sim;
}

const pendingRequest = (sim: ReturnType<typeof given>) =>
  requestIds(sim.events)
    .filter((id) => id.endsWith(`:analysis:${CHECK}`))
    .at(-1) ?? '';

describe('configuration errors (Given/When/Then)', () => {
  it('pauses the canary at once, with the check and the provider message; no failed check, no hold', () => {
    const sim = given([2]);
    expect(summary(sim.tick(at(0)))).toEqual(['phase PROGRESSING', 'CanaryScaleRequested']);
    expect(summary(sim.tick(at(1)))).toEqual(['routes 90/10', 'CanaryWeightApplied']);
    expect(summary(sim.tick(at(2)))).toEqual(['AnalysisRequested', 'AnalysisRequested']);
    const requestId = pendingRequest(sim);
    const command = errorVerdict(requestId, 'ERROR_KIND_CONFIGURATION');
    specificationFor(context)
      .given(sim.events)
      .when(command)
      .then([
        {
          type: 'AnalysisVerdictRecorded',
          data: {
            verdict: {
              requestId,
              releaseId: RELEASE,
              cluster: CLUSTER,
              checkName: CHECK,
              outcome: 'ANALYSIS_OUTCOME_ERROR',
              message: REJECTED,
              errorKind: 'ERROR_KIND_CONFIGURATION',
            },
          },
        },
        {
          type: 'ReleasePaused',
          data: { cluster: CLUSTER, reason: `configuration error in check ${CHECK}: ${REJECTED}` },
        },
      ]);
    sim.send(command);
    expect(sim.current.paused).toBe(true);
    expect(sim.current.failedChecks).toBe(0);
    expect(sim.current.heldChecks).toBe(0);
    // Paused: no analysis, no step, however long.
    expect(summary(sim.tick(at(3)))).toEqual([]);
    expect(summary(sim.tick(at(4)))).toEqual([]);
    expect(sim.current.canaryWeightPercent).toBe(10);
  });

  it('resume continues with the next interval; the same error pauses again; fixed, the canary steps', () => {
    const sim = given([2, 3]);
    for (const t of [0, 1, 2]) sim.tick(at(t));
    sim.send(errorVerdict(pendingRequest(sim), 'ERROR_KIND_CONFIGURATION'));
    expect(summary(sim.send(operator('OPERATOR_ACTION_RESUME')))).toEqual(['ReleaseResumed']);
    // The query is still rejected: the next interval's verdict pauses again.
    expect(summary(sim.tick(at(3)))).toEqual(['AnalysisRequested', 'AnalysisRequested']);
    expect(
      summary(sim.send(errorVerdict(pendingRequest(sim), 'ERROR_KIND_CONFIGURATION'))),
    ).toEqual(['ReleasePaused']);
    expect(summary(sim.send(operator('OPERATOR_ACTION_RESUME')))).toEqual(['ReleaseResumed']);
    // Fixed: the interval passes and the canary steps.
    expect(summary(sim.tick(at(4)))).toEqual([
      'AnalysisRequested',
      'AnalysisRequested',
      'routes 80/20',
      'CanaryWeightApplied',
    ]);
    expect(sim.events.filter((e) => e.type === 'CanaryCheckHeld')).toEqual([]);
    expect(sim.events.filter((e) => e.type === 'CanaryCheckFailed')).toEqual([]);
  });

  it('an operator pause already in force is not paused twice', () => {
    const sim = given([2]);
    for (const t of [0, 1, 2]) sim.tick(at(t));
    expect(summary(sim.send(operator('OPERATOR_ACTION_PAUSE')))).toEqual(['ReleasePaused']);
    expect(
      summary(sim.send(errorVerdict(pendingRequest(sim), 'ERROR_KIND_CONFIGURATION'))),
    ).toEqual([]);
  });

  it.each([
    ['without a kind (recorded before kinds existed)', undefined],
    ['of kind PROVIDER_UNAVAILABLE', 'ERROR_KIND_PROVIDER_UNAVAILABLE'],
  ] as const)('an Error %s is held as before, paused only after maxHeldChecks', (_, kind) => {
    const sim = given([2, 3, 4]);
    for (const t of [0, 1, 2]) sim.tick(at(t));
    expect(summary(sim.send(errorVerdict(pendingRequest(sim), kind)))).toEqual(['held 1/3']);
    sim.tick(at(3));
    expect(summary(sim.send(errorVerdict(pendingRequest(sim), kind)))).toEqual(['held 2/3']);
    sim.tick(at(4));
    expect(summary(sim.send(errorVerdict(pendingRequest(sim), kind)))).toEqual([
      'held 3/3',
      'ReleasePaused',
    ]);
    const paused = sim.events.filter((e) => e.type === 'ReleasePaused').at(-1);
    expect(paused?.data).toMatchObject({ reason: expect.stringMatching(/maxHeldChecks 3/) });
  });
});

describe('late configuration errors', () => {
  it('a configuration error answered late (after the next tick) still pauses', () => {
    const sim = given([2]);
    for (const t of [0, 1, 2]) sim.tick(at(t));
    const requestId = pendingRequest(sim);
    // Within resultTimeout (default interval + 3m): the interval is still open at t3.
    expect(summary(sim.send(tick(at(3))))).toEqual([]);
    expect(summary(sim.send(errorVerdict(requestId, 'ERROR_KIND_CONFIGURATION')))).toEqual([
      'ReleasePaused',
    ]);
  });
});
