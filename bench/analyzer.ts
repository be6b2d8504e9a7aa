/**
 * Analyzer, statistics (simulated, seeded): the false-rollback rate over 1,000 A/A releases and
 * the median time to detect a 5× worse canary at 10 req/s, each against a fixed-sample z-test
 * re-checked every interval, in the same run.
 *
 * Analyzer: Datadog calls per hour at 10, 100 and 1,000 concurrent canaries with 2 metrics each
 * (success rate and latency templates), 1-minute rounds on a fake clock, counted by the Datadog
 * simulator (`sim.requestCount`, every request including 429s), through the real Datadog
 * provider (official client, v2 timeseries):
 * - Aviary: the scheduler (grouped `by {…}` queries, packing, cache, budget) for 60 rounds;
 * - baseline, the naive strategy measured in the same run: one call per metric per canary per
 *   round, as Flagger and Argo Rollouts do, through the same provider against its own simulator.
 *   At 1,000 canaries only the first 3 rounds are run (the count per round is constant)
 *   and scaled to the hour; the unit says how many.
 */
import {
  accumulate,
  CheckKind,
  type CountsSnapshot,
  judge,
  normalQuantile,
  ObservationStatus,
  Outcome,
} from '@aviary/judge';
import { binomial, seededRandom } from '../packages/judge/src/testing/seeded-random.ts';
import { Priority, WindowBudget } from '../services/analyzer/src/budget/index.ts';
import { createDatadogProvider } from '../services/analyzer/src/metrics/datadog.ts';
import {
  type ActiveCheck,
  alignedWindow,
  createScheduler,
  MetricSource,
  rateLimitObserver,
  renderDatadogQuery,
} from '../services/analyzer/src/scheduler/index.ts';
import { startDatadogSim } from '../tools/datadog-sim/src/index.ts';
import { progress, report } from './report.ts';

const MINUTE = 60_000;
const ROUNDS_PER_HOUR = 60;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 30);
const KEYS = { apiKey: 'dev-api-key', appKey: 'dev-app-key' } as const;
const DATADOG_DELAY_MS = 120_000;
const NAIVE_CONCURRENCY = 32;
const SCOPE =
  'kube_cluster_name:{{ cluster }},kube_namespace:{{ namespace }},kube_deployment:{{ target }}';
const TEMPLATES = [
  {
    source: MetricSource.Template,
    templateId: 'shop/success-rate',
    query: `100 - sum:trace.http.request.errors{${SCOPE}}.as_count() / sum:trace.http.request.hits{${SCOPE}}.as_count() * 100`,
    thresholdRange: { min: 99 },
  },
  {
    source: MetricSource.Template,
    templateId: 'shop/latency',
    query: `avg:trace.http.request.duration{${SCOPE}}`,
    thresholdRange: { max: 500 },
  },
] as const;

async function simulator(canaries: number, now: () => number) {
  const sim = await startDatadogSim({ now });
  for (let i = 0; i < canaries; i++) {
    const tags = {
      kube_cluster_name: `region-${i % 10}`,
      kube_namespace: `team-${i % 25}`,
      kube_deployment: `app-${i}`,
    };
    const minutes = Array.from({ length: 70 }, (_, m) => T0 - 5 * MINUTE + m * MINUTE);
    const at = (value: number) => minutes.map((tMs) => ({ tMs, value }));
    sim.series.add('trace.http.request.hits', tags, at(600));
    sim.series.add('trace.http.request.errors', tags, at(i % 10 === 0 ? 30 : 0.6));
    sim.series.add('trace.http.request.duration', tags, at(120));
  }
  return sim;
}

function activeChecks(canaries: number): ActiveCheck[] {
  return Array.from({ length: canaries }, (_, i) =>
    TEMPLATES.map(
      (t): ActiveCheck => ({
        id: `app-${i}/${t.templateId}`,
        cluster: `region-${i % 10}`,
        namespace: `team-${i % 25}`,
        workload: `app-${i}`,
        providerId: 'datadog',
        metric: { source: t.source, templateId: t.templateId, query: t.query },
        intervalMs: MINUTE,
        check: { kind: CheckKind.ValueThreshold, thresholdRange: t.thresholdRange },
        priority: Priority.Routine,
      }),
    ),
  ).flat();
}

async function aviaryCallsPerHour(canaries: number): Promise<{ calls: number; errors: number }> {
  let now = T0;
  const sim = await simulator(canaries, () => now);
  try {
    const budget = new WindowBudget({ name: 'datadog' });
    const provider = createDatadogProvider({
      baseUrl: sim.url,
      ...KEYS,
      onRateLimit: rateLimitObserver(budget, () => now),
    });
    const scheduler = createScheduler({
      providers: [{ planning: { id: 'datadog', kind: 'datadog' }, provider, budget }],
    });
    const checks = activeChecks(canaries);
    const signal = new AbortController().signal;
    let errors = 0;
    for (let round = 0; round < ROUNDS_PER_HOUR; round++) {
      now = T0 + round * MINUTE;
      const { verdicts } = await scheduler.round(checks, now, signal);
      errors += verdicts.filter((v) => v.verdict.outcome === 'Error').length;
    }
    return { calls: sim.requestCount, errors };
  } finally {
    await sim.close();
  }
}

async function naiveCallsPerHour(canaries: number, rounds: number): Promise<number> {
  let now = T0;
  const sim = await simulator(canaries, () => now);
  try {
    const provider = createDatadogProvider({ baseUrl: sim.url, ...KEYS });
    const signal = new AbortController().signal;
    const checks = activeChecks(canaries);
    for (let round = 0; round < rounds; round++) {
      now = T0 + round * MINUTE;
      const window = alignedWindow(now, MINUTE, DATADOG_DELAY_MS);
      const queue = [...checks];
      const worker = async () => {
        for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
          if (c.metric.source !== MetricSource.Template) continue;
          const query = renderDatadogQuery(c.metric.query, {
            cluster: c.cluster,
            namespace: c.namespace,
            target: c.workload,
            intervalMs: MINUTE,
          });
          await provider.query(
            { query, range: { startMs: window.startMs, endMs: window.endMs, stepMs: MINUTE } },
            signal,
          );
        }
      };
      await Promise.all(Array.from({ length: NAIVE_CONCURRENCY }, worker));
    }
    return (sim.requestCount / rounds) * ROUNDS_PER_HOUR;
  } finally {
    await sim.close();
  }
}

/** Simulated releases: 30 one-minute looks, canary 10 req/s, primary 90 req/s, primary 1% errors. */
const RELEASES = 1000;
const LOOKS = 30;
const CANARY_PER_LOOK = 600;
const PRIMARY_PER_LOOK = 5400;
const PRIMARY_BAD_RATE = 0.01;

/** The analyzer's comparison: `judge` with a rate-comparison check on the looks so far. */
const sequentialFails = (looks: readonly CountsSnapshot[]) =>
  judge({ kind: CheckKind.RateComparison }, { status: ObservationStatus.Ok, data: looks })
    .outcome === Outcome.Failed;

/**
 * The baseline: a fixed-sample one-sided two-proportion z-test at the same α (0.01) on the
 * cumulative counts, re-checked after every interval (what a threshold on a p-value does).
 */
const Z = normalQuantile(0.99);
const fixedSampleFails = (looks: readonly CountsSnapshot[]) => {
  const last = looks.at(-1);
  if (last === undefined) return false;
  const { canary: c, primary: p } = last;
  const pooled = (c.badCount + p.badCount) / (c.totalCount + p.totalCount);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / c.totalCount + 1 / p.totalCount));
  if (!(se > 0)) return false;
  return (c.badCount / c.totalCount - p.badCount / p.totalCount) / se > Z;
};

/** Per release: the first look (1-based) at which each test says Failed, if any. */
function simulateReleases(seed: number, canaryBadRate: number) {
  const random = seededRandom(seed);
  const sequential: (number | undefined)[] = [];
  const fixed: (number | undefined)[] = [];
  for (let release = 0; release < RELEASES; release++) {
    const windows: CountsSnapshot[] = [];
    let seqAt: number | undefined;
    let fixedAt: number | undefined;
    for (let look = 1; look <= LOOKS; look++) {
      windows.push({
        canary: {
          totalCount: CANARY_PER_LOOK,
          badCount: binomial(random, CANARY_PER_LOOK, canaryBadRate),
        },
        primary: {
          totalCount: PRIMARY_PER_LOOK,
          badCount: binomial(random, PRIMARY_PER_LOOK, PRIMARY_BAD_RATE),
        },
      });
      const looks = accumulate(windows);
      if (seqAt === undefined && sequentialFails(looks)) seqAt = look;
      if (fixedAt === undefined && fixedSampleFails(looks)) fixedAt = look;
      if (seqAt !== undefined && fixedAt !== undefined) break;
    }
    sequential.push(seqAt);
    fixed.push(fixedAt);
  }
  return { sequential, fixed };
}

const failures = (firsts: readonly (number | undefined)[]) =>
  firsts.filter((f) => f !== undefined).length;

/** Median minutes to Failed (a release never detected counts as never: +∞). */
function medianMinutes(firsts: readonly (number | undefined)[]): number {
  const sorted = firsts.map((f) => f ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.POSITIVE_INFINITY;
}

function statistics(): void {
  progress(`analyzer: ${RELEASES} simulated A/A releases, ${LOOKS} one-minute looks each`);
  const aa = simulateReleases(1, PRIMARY_BAD_RATE);
  report(
    `analyzer false rollbacks over ${RELEASES} A/A releases (canary as healthy as primary, 1% errors, 10 vs 90 req/s, checked every minute for 30 min; rollback = any Failed; baseline: fixed-sample z-test at the same α re-checked every interval; target ≤ 1%)`,
    failures(aa.sequential),
    `releases rolled back per ${RELEASES}`,
    failures(aa.fixed),
  );
  const faulty = simulateReleases(2, 5 * PRIMARY_BAD_RATE);
  progress(
    `  5× canary: detected by the sequential test in ${failures(faulty.sequential)}/${RELEASES}, by the fixed-sample test in ${failures(faulty.fixed)}/${RELEASES}`,
  );
  report(
    `analyzer median time to detect a canary with 5× the primary's error rate (5% vs 1%) at 10 req/s, ${RELEASES} releases (seconds of canary traffic until the first Failed, excluding the provider's ingestion delay; baseline: fixed-sample z-test re-checked every interval)`,
    medianMinutes(faulty.sequential) * 60,
    's',
    medianMinutes(faulty.fixed) * 60,
  );
}

export async function run(): Promise<void> {
  statistics();
  for (const canaries of [10, 100, 1000]) {
    const naiveRounds = canaries >= 1000 ? 3 : ROUNDS_PER_HOUR;
    progress(`analyzer: ${canaries} canaries × 2 metrics, 60 one-minute rounds`);
    const started = performance.now();
    const aviary = await aviaryCallsPerHour(canaries);
    progress(
      `  aviary: ${aviary.calls} calls, ${aviary.errors} Error verdicts, ${Math.round(performance.now() - started)} ms`,
    );
    const naiveStarted = performance.now();
    const naive = await naiveCallsPerHour(canaries, naiveRounds);
    progress(
      `  naive: ${naiveRounds} rounds measured → ${naive} calls/h, ${Math.round(performance.now() - naiveStarted)} ms`,
    );
    report(
      `analyzer Datadog calls per hour, ${canaries} canaries × 2 metrics, 1-min rounds (baseline: naive, 1 call per metric per canary per round)`,
      aviary.calls,
      naiveRounds === ROUNDS_PER_HOUR
        ? 'calls/h (both measured over 60 rounds)'
        : `calls/h (aviary: 60 rounds measured; naive: ${naiveRounds} rounds measured, ×${ROUNDS_PER_HOUR / naiveRounds})`,
      naive,
    );
  }
}
