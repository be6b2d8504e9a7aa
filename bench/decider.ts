/**
 * The decider (pure, in memory):
 *
 * - **Decisions per second, one release across 100 clusters** (3 waves by label selector, every
 *   canary stepping to promotion with a simulated agent and analyzer, recorded once by the scenario
 *   runner): the recorded input facts are decided again, each on the state folded so far, as the
 *   orchestrator does live (`decide` then `evolve` of what it decided), counting the decided
 *   events (input facts included). Baseline, same run: folding the same events alone (`evolve`).
 * - **Replay speed, 1,000 recorded releases** (10 clusters each, 3 waves; every 10th fails in
 *   its second wave and halts, every 7th is halt-and-revert): `replay` of every history (decide
 *   each input fact, compare the decisions byte for byte as canonical JSON, fold), events/s.
 *   Baseline, same run: a JSON round trip (`JSON.parse(JSON.stringify(e))`) of the same events,
 *   the least any reader of a stored history does.
 */
import {
  commandOf,
  contextOf,
  createReleaseDecider,
  isInputFact,
  type ReleaseEvent,
  replay,
} from '../packages/decider/src/index.ts';
import { runScenario } from '../packages/decider/src/scenario/run-scenario.ts';
import type { Scenario } from '../packages/decider/src/scenario/types.ts';
import { progress, report } from './report.ts';

const REGIONS = ['eu', 'us', 'ap'] as const;

function scenario(clusters: number, options: { failIn?: string; revert?: boolean } = {}): Scenario {
  return {
    name: `bench ${clusters} clusters`,
    rollout: {
      apiVersion: 'aviary.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'podinfo', namespace: 'bench' },
      spec: {
        targetRef: { kind: 'Deployment', name: 'podinfo' },
        provider: 'istio',
        service: { port: 9898 },
        fleet: {
          failurePolicy: options.revert === true ? 'halt-and-revert' : 'halt',
          waves: [
            { name: 'canary', clusters: ['eu-0'], bake: '5m' },
            {
              name: 'eu',
              selector: { matchLabels: { region: 'eu' } },
              maxParallel: 'all',
              bake: '5m',
            },
            {
              name: 'rest',
              selector: { matchLabels: { env: 'prod' } },
              maxParallel: 'all',
              bake: '5m',
            },
          ],
        },
        analysis: {
          interval: '1m',
          threshold: 2,
          stepWeight: 20,
          maxWeight: 60,
          metrics: [
            { name: 'request-success-rate', thresholdRange: { min: 99 } },
            { name: 'request-duration', thresholdRange: { max: 500 } },
          ],
          webhooks: [{ name: 'load', type: 'rollout', url: 'http://loadtester/' }],
        },
      },
    },
    clusters: Array.from({ length: clusters }, (_, i) => ({
      name: `${REGIONS[i % 3]}-${Math.floor(i / 3)}`,
      labels: { region: REGIONS[i % 3] ?? 'eu', env: 'prod' },
    })),
    ...(options.failIn !== undefined
      ? {
          behaviour: {
            verdicts: { [`${options.failIn}/request-success-rate`]: 'FAILED' as const },
          },
        }
      : {}),
    steps: [{ every: '1m', until: '4h' }],
  };
}

function record(s: Scenario): readonly ReleaseEvent[] {
  const run = runScenario(s);
  if (run.failures.length > 0) throw new Error(`recording failed: ${run.failures.join('; ')}`);
  return run.history;
}

/** Best of `rounds` runs of `fn`, in operations per second (`count` operations per run). */
function rate(count: number, rounds: number, fn: () => void): number {
  let best = 0;
  for (let i = 0; i < rounds; i += 1) {
    const start = performance.now();
    fn();
    const seconds = (performance.now() - start) / 1000;
    best = Math.max(best, count / seconds);
  }
  return best;
}

export async function run(): Promise<void> {
  // 1. One release across 100 clusters.
  const history = record(scenario(100));
  const started = history.find((e) => e.type === 'ReleaseStarted');
  if (started === undefined) throw new Error('no ReleaseStarted');
  const inputs = history.filter(isInputFact);
  progress(`decider: 1 release, 100 clusters: ${history.length} events, ${inputs.length} inputs`);
  const context = contextOf(history);
  let decided = 0;
  const decide = () => {
    const decider = createReleaseDecider(context);
    let state = decider.initialState();
    decided = 0;
    for (const input of inputs) {
      const command = commandOf(input);
      if (command === undefined) continue;
      for (const event of decider.decide(command, state)) {
        state = decider.evolve(state, event);
        decided += 1;
      }
    }
    if (!state.finished) throw new Error('the release did not finish when decided again');
  };
  decide();
  if (decided !== history.length) {
    throw new Error(`decided ${decided} events, the recording has ${history.length}`);
  }
  const fold = () => {
    const decider = createReleaseDecider(context);
    let state = decider.initialState();
    for (const event of history) state = decider.evolve(state, event);
    if (!state.finished) throw new Error('fold did not finish');
  };
  const decisions = rate(history.length, 5, decide);
  const folded = rate(history.length, 5, fold);
  report('decider.release-100-clusters.decide', decisions, 'events/s', folded);

  // 2. Replay of 1,000 recorded releases.
  const histories: (readonly ReleaseEvent[])[] = [];
  for (let i = 0; i < 1000; i += 1) {
    histories.push(
      record(
        scenario(10, {
          ...(i % 10 === 9 ? { failIn: 'us-1' } : {}),
          ...(i % 7 === 6 ? { revert: true } : {}),
        }),
      ),
    );
  }
  const events = histories.reduce((n, h) => n + h.length, 0);
  progress(`decider: 1,000 releases recorded, ${events} events`);
  const replayAll = () => {
    for (const h of histories) {
      const result = replay(h);
      if (!result.ok) throw result.error;
    }
  };
  const roundTrip = () => {
    let n = 0;
    for (const h of histories) {
      for (const e of h) n += (JSON.parse(JSON.stringify(e)) as { type: string }).type.length;
    }
    if (n === 0) throw new Error('nothing read');
  };
  const replayed = rate(events, 3, replayAll);
  const parsed = rate(events, 3, roundTrip);
  report('decider.replay-1000-releases', replayed, 'events/s', parsed);
}
