import { AviaryError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { CanaryPhase } from '../canary/types.ts';
import { createReleaseDecider } from './decider.ts';
import {
  CLUSTERS,
  clusterOf,
  FleetSimulation,
  fleetContext,
  fleetTimeline,
  HOUR,
  heartbeat,
  MINUTE,
  operator,
  specificationFor,
  startRelease,
  T0,
  tick,
} from './test-kit.ts';
import type { ReleaseEvent } from './types.ts';

const failingIn = (bad: string) => ({
  verdict: (cluster: string) =>
    cluster === bad
      ? ('ANALYSIS_OUTCOME_FAILED' as const)
      : ('ANALYSIS_OUTCOME_SUCCESSFUL' as const),
});

function runFleet(sim: FleetSimulation, untilMs = T0 + 6 * HOUR): FleetSimulation {
  sim.nowMs = T0;
  return sim.runUntil(untilMs);
}

describe('release decider: a whole fleet run', () => {
  it('walks 3 waves over 2 regions to ReleaseFinished(succeeded), in order, baking each wave', () => {
    const sim = runFleet(new FleetSimulation(fleetContext()).start());
    expect(fleetTimeline(sim.log)).toEqual([
      '+1m WaveStarted 0 [eu-1]',
      '+7m CanaryPromoted eu-1',
      '+8m WaveBaking 0 until +38m',
      '+38m WaveSucceeded 0',
      '+38m WaveStarted 1 [eu-2,eu-3]',
      '+44m CanaryPromoted eu-2',
      '+51m CanaryPromoted eu-3',
      '+52m WaveBaking 1 until +67m',
      '+67m WaveSucceeded 1',
      '+67m WaveStarted 2 [us-1,us-2]',
      '+73m CanaryPromoted us-1',
      '+73m CanaryPromoted us-2',
      '+74m WaveBaking 2 until +134m',
      '+134m WaveSucceeded 2',
      '+134m ReleaseFinished RELEASE_OUTCOME_SUCCEEDED',
    ]);
    const started = sim.events.find((e) => e.type === 'ReleaseStarted');
    expect(started?.type === 'ReleaseStarted' && started.data.waves).toEqual([
      { name: 'canary', clusters: ['eu-1'], maxParallel: 1, bakeMs: 30 * MINUTE },
      { name: 'europe', clusters: ['eu-2', 'eu-3'], maxParallel: 1, bakeMs: 15 * MINUTE },
      // First wave that selects a cluster wins: `env: prod` leaves the eu clusters to waves 0 and 1.
      { name: 'rest', clusters: ['us-1', 'us-2'], bakeMs: HOUR },
    ]);
    // No cluster of a wave gets any decision before its wave starts.
    const waveOf: Record<string, number> = {
      'eu-1': 0,
      'eu-2': 1,
      'eu-3': 1,
      'us-1': 2,
      'us-2': 2,
    };
    let current = -1;
    for (const event of sim.events) {
      if (event.type === 'WaveStarted') current = event.data.waveIndex ?? 0;
      if (isDecision(event) && clusterOf(event) !== '') {
        expect(waveOf[clusterOf(event)]).toBeLessThanOrEqual(current);
      }
    }
    for (const cluster of CLUSTERS) {
      expect(sim.state.canaries[cluster.name]?.phase).toBe(CanaryPhase.Succeeded);
    }
  });

  it('honours maxParallel: one canary at a time in wave 1, every canary at once in wave 2', () => {
    const sim = new FleetSimulation(fleetContext()).start();
    sim.nowMs = T0;
    const active = new Set<string>([
      CanaryPhase.Initializing,
      CanaryPhase.Initialized,
      CanaryPhase.Progressing,
      CanaryPhase.Promoting,
      CanaryPhase.Finalising,
    ]);
    let maxEu = 0;
    let maxUs = 0;
    for (let now = T0 + MINUTE; !sim.state.finished && now < T0 + 6 * HOUR; now += MINUTE) {
      sim.tick(now);
      const running = (names: string[]) =>
        names.filter((n) => active.has(sim.state.canaries[n]?.phase ?? '')).length;
      maxEu = Math.max(maxEu, running(['eu-2', 'eu-3']));
      maxUs = Math.max(maxUs, running(['us-1', 'us-2']));
    }
    expect([maxEu, maxUs]).toEqual([1, 2]);
  });

  it('halt: a failure in wave 2 halts the fleet, rolls back its running canaries, no wave 3', () => {
    const context = fleetContext((f) => {
      f.waves[1].maxParallel = 'all';
    });
    const sim = runFleet(new FleetSimulation(context, failingIn('eu-2')).start());
    expect(fleetTimeline(sim.log)).toEqual([
      '+1m WaveStarted 0 [eu-1]',
      '+7m CanaryPromoted eu-1',
      '+8m WaveBaking 0 until +38m',
      '+38m WaveSucceeded 0',
      '+38m WaveStarted 1 [eu-2,eu-3]',
      '+43m CanaryRolledBack eu-2',
      '+43m FleetHalted eu-2 revert []',
      '+43m CanaryRolledBack eu-3',
      '+44m ReleaseFinished RELEASE_OUTCOME_FAILED',
    ]);
    const halted = sim.events.find((e) => e.type === 'FleetHalted');
    expect(halted?.data).toEqual({
      waveIndex: 1,
      cluster: 'eu-2',
      failurePolicy: 'FAILURE_POLICY_HALT',
      reason: 'cluster canary eu-2 failed',
    });
    const eu3 = sim.events.find((e) => e.type === 'CanaryRolledBack' && clusterOf(e) === 'eu-3');
    expect(JSON.stringify(eu3?.data)).toContain('Rolled back by aviary-fleet');
    // eu-3 ends with all traffic on its primary; eu-1 stays promoted; us-* never start.
    expect(sim.state.canaries['eu-3']).toMatchObject({
      phase: CanaryPhase.Failed,
      primaryWeightPercent: 100,
      canaryWeightPercent: 0,
    });
    expect(sim.state.canaries['eu-1']?.phase).toBe(CanaryPhase.Succeeded);
    expect(sim.events.filter((e) => clusterOf(e).startsWith('us-') && isDecision(e))).toEqual([]);
  });

  it('halt-and-revert: the same failure names the promoted wave-1 cluster for a revert', () => {
    const context = fleetContext((f) => {
      f.failurePolicy = 'halt-and-revert';
      f.waves[1].maxParallel = 'all';
    });
    const sim = runFleet(new FleetSimulation(context, failingIn('eu-2')).start());
    const halted = sim.events.find((e) => e.type === 'FleetHalted');
    expect(halted?.data).toEqual({
      waveIndex: 1,
      cluster: 'eu-2',
      failurePolicy: 'FAILURE_POLICY_HALT_AND_REVERT',
      reason: 'cluster canary eu-2 failed',
      clustersToRevert: ['eu-1'],
    });
    expect(fleetTimeline(sim.log).at(-1)).toBe('+44m ReleaseFinished RELEASE_OUTCOME_FAILED');
  });

  it('skip and requeue: the wave does not wait for a skipped cluster; a requeued one runs later', () => {
    const sim = new FleetSimulation(fleetContext(), { up: (c) => c !== 'eu-3' }).start();
    runFleet(sim, T0 + 45 * MINUTE);
    sim.send(operator('OPERATOR_ACTION_SKIP_CLUSTER', 'eu-3'));
    sim.runUntil(T0 + 62 * MINUTE);
    sim.options = {}; // eu-3's agent is back
    sim.send(operator('OPERATOR_ACTION_REQUEUE_CLUSTER', 'eu-3'));
    sim.runUntil(T0 + 6 * HOUR);
    expect(fleetTimeline(sim.log)).toEqual([
      '+1m WaveStarted 0 [eu-1]',
      '+7m CanaryPromoted eu-1',
      '+8m WaveBaking 0 until +38m',
      '+38m WaveSucceeded 0',
      '+38m WaveStarted 1 [eu-2,eu-3]',
      '+44m CanaryPromoted eu-2',
      '+45m ClusterSkipped eu-3 wave 1',
      '+46m WaveBaking 1 until +61m',
      '+61m WaveSucceeded 1',
      '+61m WaveStarted 2 [us-1,us-2]',
      '+62m ClusterRequeued eu-3 wave 2',
      '+67m CanaryPromoted us-1',
      '+67m CanaryPromoted us-2',
      '+69m CanaryPromoted eu-3',
      '+70m WaveBaking 2 until +130m',
      '+130m WaveSucceeded 2',
      '+130m ReleaseFinished RELEASE_OUTCOME_SUCCEEDED',
    ]);
  });

  it('a freeze window delays the next wave, never the running one', () => {
    const context = fleetContext((f) => {
      f.freezeWindows = [
        { name: 'lunch', start: '2026-11-23T09:03:00Z', end: '2026-11-23T11:00:00Z' },
      ];
    });
    const sim = runFleet(new FleetSimulation(context).start());
    expect(fleetTimeline(sim.log).slice(0, 6)).toEqual([
      '+1m WaveStarted 0 [eu-1]',
      // Inside the window from +3m: the running wave goes on, promotes and bakes.
      '+7m CanaryPromoted eu-1',
      '+8m WaveBaking 0 until +38m',
      '+38m WaveSucceeded 0',
      // The next wave waits for the window's end (11:00 = +120m).
      '+120m WaveStarted 1 [eu-2,eu-3]',
      '+126m CanaryPromoted eu-2',
    ]);
    expect(fleetTimeline(sim.log).at(-1)).toBe('+216m ReleaseFinished RELEASE_OUTCOME_SUCCEEDED');
  });

  it('is deterministic: two runs are byte-identical and re-deciding the log reproduces it', () => {
    const make = () =>
      runFleet(
        new FleetSimulation(
          fleetContext((f) => {
            f.failurePolicy = 'halt-and-revert';
          }),
          failingIn('us-2'),
        ).start(),
      );
    const first = make();
    const second = make();
    expect(JSON.stringify(second.log)).toBe(JSON.stringify(first.log));
    expect(first.events.some((e) => e.type === 'FleetHalted')).toBe(true);
    // Replay: fold the stream and re-decide every command from the state before it.
    const decider = createReleaseDecider(
      fleetContext((f) => {
        f.failurePolicy = 'halt-and-revert';
      }),
    );
    let state = decider.initialState();
    for (const { command, events } of first.log) {
      expect(JSON.stringify(decider.decide(command, state))).toBe(JSON.stringify(events));
      state = events.reduce(decider.evolve, state);
    }
    expect(JSON.stringify(state)).toBe(JSON.stringify(first.state));
  });
});

describe('release decider: Given/When/Then', () => {
  const context = fleetContext();
  const spec = specificationFor(context);
  const decider = createReleaseDecider(context);
  /** The events of heartbeats and the start, as the given of a specification. */
  const startedEvents = (): ReleaseEvent[] => {
    let state = decider.initialState();
    const events: ReleaseEvent[] = [];
    for (const command of [...CLUSTERS.map(heartbeat), startRelease()]) {
      const decided = decider.decide(command, state);
      state = decided.reduce(decider.evolve, state);
      events.push(...decided);
    }
    return events;
  };

  it('resolves clusters given in the start command as well as registered ones', () => {
    const [decided] = spec
      .given([])
      .when(startRelease(CLUSTERS))
      .events()
      .filter((e) => e.type === 'ReleaseStarted');
    expect(
      decided?.type === 'ReleaseStarted' && decided.data.waves?.map((w) => w.clusters),
    ).toEqual([['eu-1'], ['eu-2', 'eu-3'], ['us-1', 'us-2']]);
  });

  it('starts the first wave on the first tick, and its first canary with it', () => {
    const events = spec.given(startedEvents()).when(tick(T0)).events();
    expect(events.slice(0, 2)).toEqual([
      { type: 'TickRecorded', data: { now: '2026-11-23T09:00:00Z' } },
      { type: 'WaveStarted', data: { waveName: 'canary', clusters: ['eu-1'] } },
    ]);
    expect(events.slice(2).map((e) => `${e.type}:${clusterOf(e)}`)).toEqual([
      'ClusterCanaryInitializationRequested:eu-1',
      'CanaryPhaseChanged:eu-1',
    ]);
  });

  it('skips a cluster, and refuses to requeue one that is not skipped', () => {
    spec
      .given(startedEvents())
      .when(operator('OPERATOR_ACTION_SKIP_CLUSTER', 'eu-3'))
      .then([
        {
          type: 'OperatorActionRecorded',
          data: { actor: 'alice', action: 'OPERATOR_ACTION_SKIP_CLUSTER', cluster: 'eu-3' },
        },
        { type: 'ClusterSkipped', data: { cluster: 'eu-3', waveIndex: 1 } },
      ]);
    spec
      .given(startedEvents())
      .when(operator('OPERATOR_ACTION_REQUEUE_CLUSTER', 'eu-3'))
      .thenThrows((e) => e instanceof AviaryError && e.code === 'VALIDATION');
  });

  it('pauses the whole release: no wave starts until it is resumed', () => {
    const paused = [
      ...startedEvents(),
      ...spec.given(startedEvents()).when(operator('OPERATOR_ACTION_PAUSE')).events(),
    ];
    expect(paused.at(-1)).toEqual({ type: 'ReleasePaused', data: { actor: 'alice' } });
    spec
      .given(paused)
      .when(tick(T0))
      .then([{ type: 'TickRecorded', data: { now: '2026-11-23T09:00:00Z' } }]);
    const resumed = [
      ...paused,
      ...spec.given(paused).when(operator('OPERATOR_ACTION_RESUME')).events(),
    ];
    expect(resumed.at(-1)).toEqual({ type: 'ReleaseResumed', data: { actor: 'alice' } });
    expect(spec.given(resumed).when(tick(T0)).events()[1]?.type).toBe('WaveStarted');
  });

  it('an operator abort halts the release and finishes it as aborted', () => {
    const sim = new FleetSimulation(context).start();
    runFleet(sim, T0 + 40 * MINUTE);
    sim.send(operator('OPERATOR_ACTION_ABORT'));
    sim.runUntil(T0 + 2 * HOUR);
    expect(fleetTimeline(sim.log).slice(-3)).toEqual([
      '+40m FleetHalted  revert []',
      '+40m CanaryRolledBack eu-2',
      // The abort's own effects were not answered at once: their re-send is confirmed at +41m.
      '+42m ReleaseFinished RELEASE_OUTCOME_ABORTED',
    ]);
  });

  it('refuses a tick earlier than the last one', () => {
    const given = [...startedEvents(), ...spec.given(startedEvents()).when(tick(T0)).events()];
    spec
      .given(given)
      .when(tick(T0 - 1))
      .thenThrows((e) => e instanceof AviaryError);
  });
});

function isDecision(event: ReleaseEvent): boolean {
  return ![
    'TickRecorded',
    'ObservationRecorded',
    'AnalysisVerdictRecorded',
    'WebhookResultRecorded',
    'OperatorActionRecorded',
  ].includes(event.type);
}
