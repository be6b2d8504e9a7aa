import { ValidationError, type ValidationIssue } from '@aviary/core';
import type { SampleCounts, SequentialStatistics } from './types.ts';
import { countIssues, wilsonInterval } from './wilson.ts';

/**
 * The always-valid canary-vs-primary test on bad-request counts (design (a) of the reference,
 * §4.3): a mixture of conditional-binomial likelihood ratios, which is an e-process, so the
 * analyzer may look after every interval and stop at the first crossing without inflating the
 * false-alarm rate beyond alpha (Ville's inequality: P(sup_t M_t ≥ 1/α) ≤ α under H0).
 *
 * Per look s (the difference between two cumulative snapshots), with canary and primary requests
 * n_c, n_p, bad requests e_c, e_p and canary traffic share ρ = n_c/(n_c + n_p): conditional on
 * the e_c + e_p bad requests of the window, each falls in the canary with probability
 * q(r) = r·ρ/(r·ρ + 1 − ρ) when the canary's per-request bad rate is r × the primary's. The
 * likelihood ratio of ratio r against the null ratio r₀ is
 *
 *   ln LR_s(r) = e_c·(ln r − ln r₀) − (e_c + e_p)·(ln(1 + (r − 1)ρ) − ln(1 + (r₀ − 1)ρ))
 *
 * (log1p form, stable for tiny ρ), and the e-value is M_t = Σ_r w_r · Π_{s≤t} LR_s(r) with
 * uniform weights over a grid of alternatives. Windows with no bad requests or no traffic on one
 * side carry no information and contribute a factor 1. Because every window has its own ρ, the
 * traffic weight may change between looks (Flagger's stepWeight) without breaking validity.
 *
 * Two one-sided tests run side by side:
 * - worse: H0 r ≤ `toleratedRatio`, alternatives `toleratedRatio` × {1.5, 2, 3, 5, 10};
 *   crossing 1/α is `Failed`.
 * - not worse: H0 r ≥ `acceptRatio`, alternatives `acceptRatio` ÷ {1.5, 2, 3, 5, 10};
 *   crossing 1/α is `Successful` (futility/acceptance), unless the first test crossed too.
 * A canary whose own bad rate is certified negligible (Wilson upper bound at 1 − α below
 * `negligibleRate`) is also `Successful`: with almost no errors anywhere the ratio cannot be
 * estimated, and it does not matter. Everything else is `Inconclusive`.
 *
 * Validity: with r₀ = 1 exact for per-request Bernoulli errors (given the window totals the
 * canary's errors are hypergeometric, which is dominated in convex order by the binomial used
 * here, Hoeffding 1963); with r₀ ≠ 1 it relies on the Poisson approximation (small rates).
 * Bursty, pod-correlated errors make it optimistic; keep α ≤ 0.01 and ratios ≥ 1.5.
 */

/** Cumulative counts for canary and primary at one look (e.g. after each analysis interval). */
export interface CountsSnapshot {
  readonly canary: SampleCounts;
  readonly primary: SampleCounts;
}

export interface SequentialOptions {
  /** False-alarm bound for each of the two tests over any number of looks. Default 0.01. */
  readonly alpha?: number;
  /** The canary may be up to this many times the primary's bad rate without failing. Default 1. */
  readonly toleratedRatio?: number;
  /** `Successful` needs evidence that the canary's bad rate is below this × the primary's. Default 2. */
  readonly acceptRatio?: number;
  /** Multipliers of the alternative grid (each > 1). Default [1.5, 2, 3, 5, 10]. */
  readonly alternativeMultipliers?: readonly number[];
  /** A canary bad rate certified below this (a fraction) is `Successful`. Default 0.001; 0 turns it off. */
  readonly negligibleRate?: number;
}

export const SEQUENTIAL_DEFAULTS = {
  alpha: 0.01,
  toleratedRatio: 1,
  acceptRatio: 2,
  alternativeMultipliers: [1.5, 2, 3, 5, 10],
  negligibleRate: 0.001,
} as const;

export const SequentialDecision = {
  Worse: 'worse',
  NotWorse: 'not-worse',
  Negligible: 'negligible',
  NoTraffic: 'no-traffic',
  NotEnoughEvidence: 'not-enough-evidence',
} as const;
export type SequentialDecision = (typeof SequentialDecision)[keyof typeof SequentialDecision];

export interface SequentialResult {
  readonly outcome: 'Successful' | 'Failed' | 'Inconclusive';
  readonly decision: SequentialDecision;
  /** Cumulative counts at the last look. */
  readonly canary: SampleCounts;
  readonly primary: SampleCounts;
  /** Wilson bounds (confidence 1 − α) of the canary's bad rate, as fractions. */
  readonly canaryRateLower: number;
  readonly canaryRateUpper: number;
  readonly statistics: SequentialStatistics;
}

/**
 * Runs both e-processes over the cumulative snapshots, oldest first (one per look). Throws a
 * `ValidationError` for counts that are not non-negative integers, bad > total, or snapshots that
 * go backwards.
 */
export function compareCounts(
  history: readonly CountsSnapshot[],
  options: SequentialOptions = {},
): SequentialResult {
  const alpha = options.alpha ?? SEQUENTIAL_DEFAULTS.alpha;
  const r0 = options.toleratedRatio ?? SEQUENTIAL_DEFAULTS.toleratedRatio;
  const rAccept = options.acceptRatio ?? SEQUENTIAL_DEFAULTS.acceptRatio;
  const multipliers = options.alternativeMultipliers ?? SEQUENTIAL_DEFAULTS.alternativeMultipliers;
  const negligibleRate = options.negligibleRate ?? SEQUENTIAL_DEFAULTS.negligibleRate;
  const issues = [...optionIssues(alpha, r0, rAccept, multipliers, negligibleRate)];
  issues.push(...historyIssues(history));
  if (issues.length > 0) throw new ValidationError('sequential comparison', issues);

  const worse = multipliers.map((m) => r0 * m);
  const notWorse = multipliers.map((m) => rAccept / m);
  const logWorse = worse.map(() => 0);
  const logNotWorse = notWorse.map(() => 0);
  const logThreshold = -Math.log(alpha);
  const logWeight = -Math.log(multipliers.length);
  let maxWorse = 0;
  let maxNotWorse = 0;
  let worseAt: number | undefined;
  let notWorseAt: number | undefined;
  let mixtureWorse = 0;
  let mixtureNotWorse = 0;

  let previous: CountsSnapshot = ZERO_SNAPSHOT;
  history.forEach((snapshot, index) => {
    const nc = snapshot.canary.totalCount - previous.canary.totalCount;
    const ec = snapshot.canary.badCount - previous.canary.badCount;
    const np = snapshot.primary.totalCount - previous.primary.totalCount;
    const ep = snapshot.primary.badCount - previous.primary.badCount;
    previous = snapshot;
    if (nc > 0 && np > 0 && ec + ep > 0) {
      const rho = nc / (nc + np);
      addLogLikelihoodRatios(logWorse, worse, r0, rho, ec, ep);
      addLogLikelihoodRatios(logNotWorse, notWorse, rAccept, rho, ec, ep);
    }
    mixtureWorse = logWeight + logSumExp(logWorse);
    mixtureNotWorse = logWeight + logSumExp(logNotWorse);
    maxWorse = Math.max(maxWorse, mixtureWorse);
    maxNotWorse = Math.max(maxNotWorse, mixtureNotWorse);
    if (worseAt === undefined && mixtureWorse >= logThreshold) worseAt = index + 1;
    if (notWorseAt === undefined && mixtureNotWorse >= logThreshold) notWorseAt = index + 1;
  });

  const canary = previous.canary;
  const primary = previous.primary;
  const interval = wilsonInterval(canary.badCount, canary.totalCount, 1 - alpha);
  const base = {
    logEValueWorse: mixtureWorse,
    pValueWorse: Math.min(1, Math.exp(-maxWorse)),
    logEValueNotWorse: mixtureNotWorse,
    pValueNotWorse: Math.min(1, Math.exp(-maxNotWorse)),
    eValueThreshold: 1 / alpha,
    looks: history.length,
  };
  const result = (
    outcome: SequentialResult['outcome'],
    decision: SequentialDecision,
    decidedAtLook?: number,
  ): SequentialResult => ({
    outcome,
    decision,
    canary,
    primary,
    canaryRateLower: interval.lower,
    canaryRateUpper: interval.upper,
    statistics: decidedAtLook === undefined ? base : { ...base, decidedAtLook },
  });

  if (worseAt !== undefined) return result('Failed', SequentialDecision.Worse, worseAt);
  if (canary.totalCount === 0) return result('Inconclusive', SequentialDecision.NoTraffic);
  if (notWorseAt !== undefined)
    return result('Successful', SequentialDecision.NotWorse, notWorseAt);
  if (negligibleRate > 0 && interval.upper <= negligibleRate) {
    return result('Successful', SequentialDecision.Negligible);
  }
  return result('Inconclusive', SequentialDecision.NotEnoughEvidence);
}

/**
 * Turns per-window counts (e.g. each `increase(…[1m])`) into the cumulative snapshots that
 * `compareCounts` takes.
 */
export function accumulate(windows: readonly CountsSnapshot[]): CountsSnapshot[] {
  let sum = ZERO_SNAPSHOT;
  return windows.map((w) => {
    sum = {
      canary: add(sum.canary, w.canary),
      primary: add(sum.primary, w.primary),
    };
    return sum;
  });
}

const ZERO_COUNTS: SampleCounts = { totalCount: 0, badCount: 0 };
const ZERO_SNAPSHOT: CountsSnapshot = { canary: ZERO_COUNTS, primary: ZERO_COUNTS };

function add(a: SampleCounts, b: SampleCounts): SampleCounts {
  return { totalCount: a.totalCount + b.totalCount, badCount: a.badCount + b.badCount };
}

function addLogLikelihoodRatios(
  logLR: number[],
  ratios: readonly number[],
  nullRatio: number,
  rho: number,
  ec: number,
  ep: number,
): void {
  const nullTerm = Math.log1p((nullRatio - 1) * rho);
  const logNull = Math.log(nullRatio);
  ratios.forEach((r, i) => {
    const step = ec * (Math.log(r) - logNull) - (ec + ep) * (Math.log1p((r - 1) * rho) - nullTerm);
    logLR[i] = (logLR[i] ?? 0) + step;
  });
}

function logSumExp(xs: readonly number[]): number {
  const top = Math.max(...xs);
  if (top === Number.NEGATIVE_INFINITY) return top;
  let sum = 0;
  for (const x of xs) sum += Math.exp(x - top);
  return top + Math.log(sum);
}

function optionIssues(
  alpha: number,
  r0: number,
  rAccept: number,
  multipliers: readonly number[],
  negligibleRate: number,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!(alpha > 0 && alpha < 1)) {
    issues.push({ path: 'alpha', message: `must be in (0, 1), got ${alpha}` });
  }
  if (!(r0 > 0 && Number.isFinite(r0))) {
    issues.push({ path: 'toleratedRatio', message: `must be a positive number, got ${r0}` });
  }
  if (!(rAccept > 0 && Number.isFinite(rAccept))) {
    issues.push({ path: 'acceptRatio', message: `must be a positive number, got ${rAccept}` });
  }
  if (multipliers.length === 0 || multipliers.some((m) => !(m > 1 && Number.isFinite(m)))) {
    issues.push({
      path: 'alternativeMultipliers',
      message: 'must be a non-empty list of numbers > 1',
    });
  }
  if (!(negligibleRate >= 0 && negligibleRate < 1)) {
    issues.push({ path: 'negligibleRate', message: `must be in [0, 1), got ${negligibleRate}` });
  }
  return issues;
}

function historyIssues(history: readonly CountsSnapshot[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  let previous = ZERO_SNAPSHOT;
  history.forEach((snapshot, i) => {
    for (const side of ['canary', 'primary'] as const) {
      const now = snapshot[side];
      const before = previous[side];
      const path = `history[${i}].${side}`;
      const found = countIssues(
        now.badCount,
        now.totalCount,
        `${path}.badCount`,
        `${path}.totalCount`,
      );
      issues.push(...found);
      if (found.length > 0) continue;
      if (now.totalCount < before.totalCount || now.badCount < before.badCount) {
        issues.push({ path, message: 'cumulative counts went backwards' });
      } else if (now.badCount - before.badCount > now.totalCount - before.totalCount) {
        issues.push({ path, message: 'more bad requests than requests since the previous look' });
      }
    }
    previous = snapshot;
  });
  return issues;
}
