/**
 * The release decider beyond one walk through the waves: halt-and-revert executed, supersession by
 * a newer revision's release, clusters that register mid-release, and retry inside a halted fleet.
 */
import { AviaryError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { CanaryPhase } from '../canary/types.ts';
import { replay } from '../replay/replay.ts';
import {
  clusterOf,
  FleetSimulation,
  fleetContext,
  fleetTimeline,
  HOUR,
  heartbeat,
  MINUTE,
  NEW,
  OLD,
  observe,
  operator,
  RELEASE,
  specificationFor,
  T0,
  tick,
} from './test-kit.ts';
import type { ClusterInfo, ReleaseCommand, ReleaseEvent } from './types.ts';

const failingIn = (bad: string) => ({
  verdict: (cluster: string) =>
    cluster === bad
      ? ('ANALYSIS_OUTCOME_FAILED' as const)
      : ('ANALYSIS_OUTCOME_SUCCESSFUL' as const),
});

const revertContext = () =>
  fleetContext((f) => {
    f.failurePolicy = 'halt-and-revert';
    f.waves[1].maxParallel = 'all';
  });

const of = (events: readonly ReleaseEvent[], type: ReleaseEvent['type']) =>
  events.filter((e) => e.type === type);

function replays(sim: FleetSimulation): void {
  const result = replay(sim.events);
  expect(result.ok).toBe(true);
}

describe('halt-and-revert, executed', () => {
  it('sends RevertPrimary to the promoted cluster, confirms it from the primary, then finishes', () => {
    const sim = new FleetSimulation(revertContext(), failingIn('eu-2')).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 6 * HOUR);
    const timeline = fleetTimeline(sim.log);
    const halted = timeline.findIndex((l) => l.includes('FleetHalted'));
    expect(timeline.slice(halted)).toEqual([
      '+43m FleetHalted eu-2 revert [eu-1]',
      '+43m CanaryRolledBack eu-3',
      '+43m ClusterReverted eu-1 to rev-old',
      // Ends on the next tick, once no canary is at work and no revert is pending.
      '+44m ReleaseFinished RELEASE_OUTCOME_FAILED',
    ]);
    const [requested] = of(sim.events, 'ClusterRevertRequested');
    expect(requested?.data).toEqual({
      command: {
        commandId: `${RELEASE}:eu-1:revert-primary`,
        cluster: 'eu-1',
        releaseId: RELEASE,
        workload: { namespace: 'test', name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' },
        issuedAt: '2026-11-23T09:43:00Z',
        revertPrimary: { revisionId: OLD },
      },
    });
    expect(sim.state.reverts).toMatchObject([
      { cluster: 'eu-1', revisionId: OLD, status: 'reverted' },
    ]);
    // The canary keeps its own story (it promoted, then the fleet reverted it).
    expect(sim.state.canaries['eu-1']?.phase).toBe(CanaryPhase.Succeeded);
    replays(sim);
  });

  it('re-sends the revert with the same id every tick while the agent is away; the release waits', () => {
    const sim = new FleetSimulation(revertContext(), failingIn('eu-2')).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 40 * MINUTE);
    sim.options = { ...failingIn('eu-2'), up: (c) => c !== 'eu-1' };
    sim.runUntil(T0 + 50 * MINUTE);
    const ids = of(sim.events, 'ClusterRevertRequested').map(
      (e) => (e.data as { command?: { commandId?: string } }).command?.commandId,
    );
    // Requested at the halt (+43m), re-sent on each tick +44m … +50m.
    expect(ids).toEqual(Array(8).fill(`${RELEASE}:eu-1:revert-primary`));
    expect(sim.state.finished).toBe(false);
    expect(sim.state.reverts[0]?.status).toBe('reverting');
    sim.options = failingIn('eu-2');
    sim.runUntil(T0 + 53 * MINUTE);
    expect(fleetTimeline(sim.log).slice(-2)).toEqual([
      '+51m ClusterReverted eu-1 to rev-old',
      '+52m ReleaseFinished RELEASE_OUTCOME_FAILED',
    ]);
    replays(sim);
  });

  it('a revert the agent rejects is given up (ClusterRevertFailed) and the release ends', () => {
    const sim = new FleetSimulation(revertContext(), failingIn('eu-2')).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 40 * MINUTE);
    sim.options = { ...failingIn('eu-2'), up: (c) => c !== 'eu-1' };
    sim.runUntil(T0 + 45 * MINUTE);
    const decided = sim.send(
      observe('eu-1', 'revert-result', {
        commandResult: {
          commandId: `${RELEASE}:eu-1:revert-primary`,
          outcome: 'COMMAND_OUTCOME_REJECTED',
          reason: 'NoPreviousRevision',
          message: 'no saved primary template for rev-old',
        },
      }),
    );
    expect(of(decided, 'ClusterRevertFailed').map((e) => e.data)).toEqual([
      {
        cluster: 'eu-1',
        revisionId: OLD,
        reason: 'NoPreviousRevision no saved primary template for rev-old',
        commandId: `${RELEASE}:eu-1:revert-primary`,
      },
    ]);
    const next = sim.tick(T0 + 46 * MINUTE);
    expect(of(next, 'ClusterRevertRequested')).toEqual([]);
    expect(of(next, 'ReleaseFinished').map((e) => e.data)).toEqual([
      { outcome: 'RELEASE_OUTCOME_FAILED', reason: 'halted by the failure policy' },
    ]);
    replays(sim);
  });

  it('plain halt reverts nothing; a cluster bootstrapped on the released revision is not named', () => {
    const sim = new FleetSimulation(
      fleetContext((f) => {
        f.waves[1].maxParallel = 'all';
      }),
      failingIn('eu-2'),
    ).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 6 * HOUR);
    expect(of(sim.events, 'ClusterRevertRequested')).toEqual([]);
  });
});

describe('supersession', () => {
  const supersede: ReleaseCommand = {
    type: 'Supersede',
    data: { releaseId: 'rel-2', revisionId: 'rev-newer' },
  };

  it('routes running canaries back to their primary and finishes SUPERSEDED; promoted clusters stay', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 48 * MINUTE);
    expect(sim.state.canaries['eu-3']?.canaryWeightPercent).toBe(50);
    const decided = sim.send(supersede);
    expect(decided.map((e) => `${e.type}${clusterOf(e) ? `@${clusterOf(e)}` : ''}`)).toEqual([
      'SupersessionRecorded',
      'CanaryWeightRequested@eu-3',
      'ReleaseFinished',
    ]);
    const routes = decided[1]?.data as {
      command?: { setRoutes?: { routes?: Record<string, unknown> } };
    };
    // Canonical proto JSON: zero weights and `mirror: false` are omitted.
    expect(routes.command?.setRoutes?.routes).toEqual({ primaryWeightPercent: 100 });
    expect(decided.at(-1)?.data).toEqual({
      outcome: 'RELEASE_OUTCOME_SUPERSEDED',
      reason: 'superseded by release rel-2 (revision rev-newer)',
      supersededByReleaseId: 'rel-2',
    });
    expect(sim.state).toMatchObject({ finished: true, supersededBy: 'rel-2' });
    // eu-1 and eu-2 keep this revision on their primary: the newer release's previous revision.
    expect(sim.state.canaries['eu-1']?.primaryRevisionId).toBe(NEW);
    // Nothing more happens: no wave starts, no re-sends.
    expect(sim.send(tick(T0 + 3 * HOUR)).map((e) => e.type)).toEqual(['TickRecorded']);
    expect(of(sim.events, 'WaveStarted')).toHaveLength(2);
    replays(sim);
  });

  it('a canary with all traffic on its primary already gets no command', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 2 * MINUTE);
    const spec = specificationFor(fleetContext());
    const decided = spec.given(sim.events).when(supersede);
    decided.then([
      { type: 'SupersessionRecorded', data: { releaseId: 'rel-2', revision: { id: 'rev-newer' } } },
      {
        type: 'ReleaseFinished',
        data: {
          outcome: 'RELEASE_OUTCOME_SUPERSEDED',
          reason: 'superseded by release rel-2 (revision rev-newer)',
          supersededByReleaseId: 'rel-2',
        },
      },
    ]);
  });

  it('is refused once the release is halted or finished', () => {
    const halted = new FleetSimulation(fleetContext(), failingIn('eu-1')).start();
    for (let m = 1; !halted.state.halted; m += 1) halted.tick(T0 + m * MINUTE);
    expect(halted.state.finished).toBe(false);
    expect(() => halted.decider.decide(supersede, halted.state)).toThrow(/halted/);
    const done = new FleetSimulation(fleetContext()).start();
    done.nowMs = T0;
    done.runUntil(T0 + 6 * HOUR);
    expect(() => done.decider.decide(supersede, done.state)).toThrow(AviaryError);
  });
});

describe('clusters that register mid-release', () => {
  const register = (sim: FleetSimulation, cluster: ClusterInfo) => {
    sim.send(heartbeat(cluster));
    sim.send(
      observe(cluster.name, `seen-${cluster.name}`, {
        revisionSeen: {
          workload: { namespace: 'test', name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' },
          revision: { id: NEW, podTemplateHash: NEW },
        },
      }),
    );
  };

  it('joins its own wave when that wave has not started yet', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 10 * MINUTE);
    register(sim, { name: 'eu-4', labels: { region: 'eu', env: 'prod' } });
    expect(of(sim.log.at(-2)?.events ?? [], 'ClusterJoined').map((e) => e.data)).toEqual([
      {
        cluster: 'eu-4',
        waveIndex: 1,
        selectedByWaveIndex: 1,
        reason: 'registered after the release started; selected by wave europe',
      },
    ]);
    sim.runUntil(T0 + 6 * HOUR);
    const timeline = fleetTimeline(sim.log);
    expect(timeline).toContain('+10m ClusterJoined eu-4 wave 1');
    expect(timeline).toContain('+38m WaveStarted 1 [eu-2,eu-3,eu-4]');
    expect(sim.state.canaries['eu-4']?.phase).toBe(CanaryPhase.Succeeded);
    expect(timeline.at(-1)).toContain('RELEASE_OUTCOME_SUCCEEDED');
    replays(sim);
  });

  it('joins the running wave when its own wave has passed', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 70 * MINUTE);
    register(sim, { name: 'eu-5', labels: { region: 'eu', env: 'prod' } });
    sim.runUntil(T0 + 6 * HOUR);
    const timeline = fleetTimeline(sim.log);
    expect(timeline).toContain('+70m ClusterJoined eu-5 wave 2');
    const joined = of(sim.events, 'ClusterJoined')[0]?.data as { reason?: string };
    expect(joined.reason).toBe(
      'registered after the release started; selected by wave europe, which had passed: runs in wave rest',
    );
    expect(sim.state.canaries['eu-5']?.phase).toBe(CanaryPhase.Succeeded);
    // Wave 2 baked only once eu-5 was done.
    const promoted = timeline.findIndex((l) => l.includes('CanaryPromoted eu-5'));
    const baking = timeline.findIndex((l) => l.includes('WaveBaking 2'));
    expect(baking).toBeGreaterThan(promoted);
    replays(sim);
  });

  it('reopens the last wave while it bakes: the newcomer runs, then the wave bakes again', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 80 * MINUTE);
    expect(fleetTimeline(sim.log).at(-1)).toBe('+74m WaveBaking 2 until +134m');
    register(sim, { name: 'us-3', labels: { region: 'us', env: 'prod' } });
    sim.runUntil(T0 + 6 * HOUR);
    const timeline = fleetTimeline(sim.log);
    expect(timeline.slice(-5)).toEqual([
      '+80m ClusterJoined us-3 wave 2',
      '+87m CanaryPromoted us-3',
      '+88m WaveBaking 2 until +148m',
      '+148m WaveSucceeded 2',
      '+148m ReleaseFinished RELEASE_OUTCOME_SUCCEEDED',
    ]);
    replays(sim);
  });

  it('a cluster no wave selects, or one that registers after a halt, does not join', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 10 * MINUTE);
    register(sim, { name: 'ap-1', labels: { region: 'ap', env: 'staging' } });
    expect(of(sim.events, 'ClusterJoined')).toEqual([]);
    expect(sim.state.canaries['ap-1']).toBeUndefined();

    const halted = new FleetSimulation(fleetContext(), failingIn('eu-1')).start();
    halted.nowMs = T0;
    halted.runUntil(T0 + 15 * MINUTE);
    register(halted, { name: 'eu-9', labels: { region: 'eu', env: 'prod' } });
    expect(of(halted.events, 'ClusterJoined')).toEqual([]);
  });
});

describe('retry inside a halted fleet', () => {
  it('is refused (a retry of a halted release is a new release); before the halt it is the canary’s', () => {
    const sim = new FleetSimulation(fleetContext(), failingIn('eu-1')).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + 15 * MINUTE);
    expect(sim.state.halted).toBe(true);
    for (const cluster of ['eu-1', '']) {
      expect(() =>
        sim.decider.decide(operator('OPERATOR_ACTION_RETRY', cluster), sim.state),
      ).toThrow(/halted: retry it as a new release/);
    }
    // Nothing ran again: eu-1 stays Failed with all traffic on its primary.
    sim.runUntil(T0 + HOUR);
    expect(sim.state.canaries['eu-1']).toMatchObject({
      phase: CanaryPhase.Failed,
      primaryWeightPercent: 100,
    });
    expect(sim.state.finished).toBe(true);
  });

  it('a tick after the release finished decides nothing but its record', () => {
    const sim = new FleetSimulation(fleetContext(), failingIn('eu-1')).start();
    sim.nowMs = T0;
    sim.runUntil(T0 + HOUR);
    expect(sim.send(tick(T0 + 2 * HOUR)).map((e) => e.type)).toEqual(['TickRecorded']);
  });
});
