/**
 * Property-based tests over random specs and input sequences (issue 3, "Proof"): scenarios built
 * in code from a seeded PRNG and run with `runScenario`. After every tick: every requested routes
 * sum to 100 with both weights within 0–100; at the end: a cluster whose canary is Failed has its
 * last requested routes at 100/0; no wave starts before the previous one succeeded and baked; the
 * history replays.
 */
import { describe, expect, it } from 'vitest';
import { parseTimestamp } from '../canary/json.ts';
import { replay } from '../replay/replay.ts';
import { clusterOf, DEFAULT_START, runScenario } from './run-scenario.ts';
import type { Behaviour, OperatorStep, Scenario, Step, VerdictOutcome } from './types.ts';

/** mulberry32: a small, fast, seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

class Gen {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  subset<T>(items: readonly T[], p: number): T[] {
    return items.filter(() => this.chance(p));
  }
}

const SEEDS = [20261123, 7, 424242, 99991];
const RUNS_PER_SEED = 100;
const METRIC = 'request-success-rate';

function randomAnalysis(g: Gen): Record<string, unknown> {
  const analysis: Record<string, unknown> = {
    interval: '1m',
    threshold: g.int(1, 3),
    metrics: [{ name: METRIC, thresholdRange: { min: 99 } }],
  };
  if (g.chance(0.3)) analysis.maxHeldChecks = g.int(1, 4);
  if (g.chance(0.3)) analysis.resultTimeout = g.pick(['1m', '2m', '4m']);
  const strategy = g.pick(['canary', 'canary', 'canary', 'blue-green', 'ab'] as const);
  if (strategy === 'canary') {
    if (g.chance(0.35)) {
      const steps = new Set<number>();
      const n = g.int(1, 4);
      while (steps.size < n) steps.add(g.int(1, 100));
      analysis.stepWeights = [...steps].sort((a, b) => a - b);
    } else {
      const step = g.int(1, 60);
      analysis.stepWeight = step;
      if (g.chance(0.7)) analysis.maxWeight = g.int(step, 100);
    }
    if (g.chance(0.3)) analysis.stepWeightPromotion = g.int(1, 60);
    if (g.chance(0.2)) analysis.mirror = true;
  } else {
    analysis.iterations = g.int(1, 5);
    if (strategy === 'ab') analysis.match = [{ headers: { 'x-canary': { exact: 'insider' } } }];
    else if (g.chance(0.3)) analysis.mirror = true;
  }
  if (g.chance(0.3)) {
    analysis.webhooks = [
      g.pick([
        { name: 'gate', type: 'confirm-promotion', url: 'http://gate.test/p' },
        { name: 'gate', type: 'confirm-traffic-increase', url: 'http://gate.test/t' },
        { name: 'gate', type: 'pre-rollout', url: 'http://gate.test/pre' },
        { name: 'gate', type: 'rollout', url: 'http://gate.test/load' },
        { name: 'gate', type: 'rollback', url: 'http://gate.test/abort' },
      ]),
    ];
  }
  return analysis;
}

interface Generated {
  readonly scenario: Scenario;
  /** Bake per wave index, in ms. */
  readonly bakeMs: readonly number[];
}

function randomScenario(g: Gen, name: string): Generated {
  const clusters = Array.from({ length: g.int(1, 4) }, (_, i) => ({
    name: `c-${i + 1}`,
    labels: { env: 'prod' },
  }));
  // Partition the clusters into 1–3 waves, in order.
  const waveCount = g.int(1, Math.min(3, clusters.length));
  const waves: Record<string, unknown>[] = [];
  const bakeMs: number[] = [];
  let from = 0;
  for (let w = 0; w < waveCount; w++) {
    const left = clusters.length - from;
    const size = w === waveCount - 1 ? left : g.int(1, left - (waveCount - 1 - w));
    const bakeMinutes = g.int(1, 15);
    bakeMs.push(bakeMinutes * 60_000);
    waves.push({
      name: `w${w}`,
      clusters: clusters.slice(from, from + size).map((c) => c.name),
      maxParallel: g.chance(0.5) ? 'all' : g.int(1, 2),
      bake: `${bakeMinutes}m`,
    });
    from += size;
  }
  const rollout = {
    apiVersion: 'aviary.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      targetRef: { kind: 'Deployment', name: 'podinfo' },
      provider: 'istio',
      service: { port: 9898 },
      fleet: { failurePolicy: g.pick(['halt', 'halt-and-revert']), waves },
      analysis: randomAnalysis(g),
    },
  };
  const names = clusters.map((c) => c.name);
  const steps: Step[] = [];
  let until = 0;
  const segments = g.int(3, 9);
  for (let s = 0; s < segments; s++) {
    until += g.int(2, 15);
    const verdicts: Record<string, VerdictOutcome> = {};
    for (const c of names) {
      verdicts[`${c}/${METRIC}`] = g.chance(0.6)
        ? 'SUCCESSFUL'
        : g.pick(['FAILED', 'INCONCLUSIVE', 'ERROR', 'NONE'] as const);
    }
    const behaviour: Behaviour = {
      verdicts,
      webhooks: { gate: g.pick(['PASSED', 'PASSED', 'FAILED', 'ERROR', 'NONE'] as const) },
      agentDown: g.chance(0.25) ? g.subset(names, 0.4) : [],
      canaryNotReady: g.chance(0.15) ? g.subset(names, 0.4) : [],
      // A slow provider: verdicts after the next tick, within resultTimeout or not.
      verdictDelays: g.chance(0.3) ? { [METRIC]: g.pick(['30s', '90s', '2m10s', '5m']) } : {},
    };
    const operator: OperatorStep[] = [];
    if (g.chance(0.3)) {
      const action = g.pick(['pause', 'resume', 'promote', 'abort', 'retry', 'skip_cluster']);
      const scoped = action !== 'pause' && action !== 'resume' ? true : g.chance(0.5);
      operator.push(scoped ? { action, cluster: g.pick(names) } : { action });
    }
    steps.push({ operator, behaviour, every: '1m', until: `${until}m` });
  }
  return { scenario: { name, rollout, clusters, steps }, bakeMs };
}

interface Routes {
  readonly primaryWeightPercent?: number;
  readonly canaryWeightPercent?: number;
}

const routesOf = (event: { type: string; data: unknown }): Routes | undefined =>
  event.type === 'CanaryWeightRequested'
    ? ((event.data as { command?: { setRoutes?: { routes?: Routes } } }).command?.setRoutes
        ?.routes ?? {})
    : undefined;

describe('properties over random specs and inputs', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: ${RUNS_PER_SEED} runs keep every invariant`, () => {
      const g = new Gen(seed);
      const startMs = parseTimestamp(DEFAULT_START) ?? 0;
      let ticks = 0;
      const seen = { rolledBack: 0, promoted: 0, laterWaves: 0, routes: 0 };
      for (let run = 0; run < RUNS_PER_SEED; run++) {
        const { scenario, bakeMs } = randomScenario(g, `seed ${seed} run ${run}`);
        const where = `${scenario.name}: ${JSON.stringify(scenario)}`;
        const result = runScenario(scenario);
        // Only operator refusals may be reported (there are no expectations).
        for (const failure of result.failures) expect(failure, where).toMatch(/refused/);

        // 1. After every tick: requested routes sum to 100, each within 0–100; confirmed weights too.
        for (const tick of result.ticks) {
          ticks += 1;
          for (const event of tick.decisions) {
            const routes = routesOf(event);
            if (routes === undefined) continue;
            seen.routes += 1;
            const primary = routes.primaryWeightPercent ?? 0;
            const canary = routes.canaryWeightPercent ?? 0;
            expect(primary + canary, where).toBe(100);
            expect(primary >= 0 && primary <= 100 && canary >= 0 && canary <= 100, where).toBe(
              true,
            );
          }
          for (const weight of Object.values(tick.weights)) {
            expect(weight >= 0 && weight <= 100, where).toBe(true);
          }
        }

        // 2. A Failed canary's last requested routes put all traffic on the primary.
        for (const [cluster, canary] of Object.entries(result.state.canaries)) {
          if (canary.phase !== 'CANARY_PHASE_FAILED') continue;
          const last = result.history
            .filter((e) => e.type === 'CanaryWeightRequested' && clusterOf(e) === cluster)
            .map(routesOf)
            .at(-1);
          if (last === undefined) continue; // failed before any routes were set
          expect([last.primaryWeightPercent ?? 0, last.canaryWeightPercent ?? 0], where).toEqual([
            100, 0,
          ]);
        }

        // 3. No wave starts before the previous one succeeded and baked.
        let nowMs = startMs;
        const bakingAt = new Map<number, number>();
        const succeededAt = new Map<number, number>();
        for (const e of result.history) {
          if (e.type === 'TickRecorded') nowMs = parseTimestamp(e.data.now) ?? nowMs;
          else if (e.type === 'WaveBaking') {
            const index = e.data.waveIndex ?? 0;
            bakingAt.set(index, nowMs);
            expect(parseTimestamp(e.data.bakeUntil), where).toBe(nowMs + (bakeMs[index] ?? 0));
          } else if (e.type === 'WaveSucceeded') {
            const index = e.data.waveIndex ?? 0;
            const baking = bakingAt.get(index);
            expect(baking, where).toBeDefined();
            expect(nowMs, where).toBeGreaterThanOrEqual((baking ?? 0) + (bakeMs[index] ?? 0));
            succeededAt.set(index, nowMs);
          } else if (e.type === 'WaveStarted') {
            const index = e.data.waveIndex ?? 0;
            if (index === 0) continue;
            const previous = succeededAt.get(index - 1);
            expect(previous, where).toBeDefined();
            expect(nowMs, where).toBeGreaterThanOrEqual(previous ?? Number.POSITIVE_INFINITY);
          }
        }

        const types = new Set(result.history.map((e) => e.type));
        if (types.has('CanaryRolledBack')) seen.rolledBack += 1;
        if (types.has('CanaryPromoted')) seen.promoted += 1;
        if (result.history.some((e) => e.type === 'WaveStarted' && (e.data.waveIndex ?? 0) > 0)) {
          seen.laterWaves += 1;
        }

        // 4. Replay reproduces every decision.
        const replayed = replay(JSON.parse(JSON.stringify(result.history)));
        expect(replayed.ok, `${where}: ${replayed.ok ? '' : replayed.error.message}`).toBe(true);
      }
      // The generator is not degenerate: rollbacks, promotions and later waves all occur.
      expect(ticks).toBeGreaterThan(RUNS_PER_SEED * 10);
      expect(seen.rolledBack, JSON.stringify(seen)).toBeGreaterThan(RUNS_PER_SEED / 10);
      expect(seen.promoted, JSON.stringify(seen)).toBeGreaterThan(RUNS_PER_SEED / 10);
      expect(seen.laterWaves, JSON.stringify(seen)).toBeGreaterThan(RUNS_PER_SEED / 10);
    });
  }
});
