import { ValidationError, type ValidationIssue } from '@aviary/core';
import { normalCdf, normalQuantile } from './normal.ts';
import {
  type CountsSnapshot,
  compareCounts,
  type SequentialOptions,
  type SequentialResult,
} from './sequential.ts';
import type { RankTestStatistics, SampleCounts } from './types.ts';

/**
 * Latency judged from Prometheus-style cumulative histogram buckets (design (b) of the reference,
 * §4.4): requests slower than the SLO become a bad-request count fed to the same always-valid
 * test as errors, and a Mann-Whitney rank test on the bucket counts is a secondary signal.
 */

/** One cumulative bucket: requests that took at most `leMs` (`Infinity` for `+Inf`). */
export interface HistogramBucket {
  readonly leMs: number;
  readonly count: number;
}

/** Canary and primary histograms at one look, cumulative over time like `CountsSnapshot`. */
export interface HistogramSnapshot {
  readonly canary: readonly HistogramBucket[];
  readonly primary: readonly HistogramBucket[];
}

export interface LatencyOptions extends SequentialOptions {
  /** One-sided level of the rank test; default: the sequential test's alpha (0.01). */
  readonly rankAlpha?: number;
  /** The rank test flags the canary only with AUC at least this (a practical effect). Default 0.55. */
  readonly minAuc?: number;
}

export const LATENCY_DEFAULTS = { minAuc: 0.55 } as const;

export interface LatencyResult {
  readonly outcome: 'Successful' | 'Failed' | 'Inconclusive';
  /** The bucket boundary used as the SLO: the smallest `le` ≥ `sloMs`. */
  readonly boundaryMs: number;
  readonly sequential: SequentialResult;
  /** On the last snapshot; unset when either side has no requests. */
  readonly rankTest?: RankTestStatistics;
}

/**
 * Problems with one cumulative histogram: finite, non-negative integer counts, strictly
 * increasing `le` (numbers, not NaN), counts non-decreasing with `le`, and a last `+Inf` bucket.
 */
export function histogramIssues(
  buckets: readonly HistogramBucket[],
  path = 'buckets',
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (buckets.length === 0) return [{ path, message: 'no buckets' }];
  buckets.forEach((bucket, i) => {
    const at = `${path}[${i}]`;
    if (Number.isNaN(bucket.leMs)) issues.push({ path: `${at}.leMs`, message: 'is NaN' });
    if (!Number.isSafeInteger(bucket.count) || bucket.count < 0) {
      issues.push({
        path: `${at}.count`,
        message: `must be a non-negative integer, got ${bucket.count}`,
      });
    }
    const before = buckets[i - 1];
    if (before !== undefined) {
      if (!(bucket.leMs > before.leMs)) {
        issues.push({
          path: `${at}.leMs`,
          message: `${bucket.leMs} does not increase on ${before.leMs}`,
        });
      }
      if (bucket.count < before.count) {
        issues.push({
          path: `${at}.count`,
          message: `${bucket.count} is below the previous bucket's ${before.count}: not cumulative`,
        });
      }
    }
  });
  const last = buckets[buckets.length - 1];
  if (last !== undefined && last.leMs !== Number.POSITIVE_INFINITY) {
    issues.push({ path, message: 'the last bucket must be +Inf' });
  }
  return issues;
}

/** Throws a `ValidationError` unless `histogramIssues` finds nothing. */
export function assertHistogram(buckets: readonly HistogramBucket[], path = 'buckets'): void {
  const issues = histogramIssues(buckets, path);
  if (issues.length > 0) throw new ValidationError('histogram', issues);
}

/**
 * The SLO boundary: the smallest bucket `le` ≥ `sloMs` (within 1e-9 relative, so 300.00000000000006
 * from `0.3 s × 1000` matches 300). Choose the SLO at a bucket boundary; otherwise requests
 * between `sloMs` and the boundary count as good (lenient, never a false slow request).
 */
export function sloBoundary(buckets: readonly HistogramBucket[], sloMs: number): number {
  const tolerance = Math.abs(sloMs) * 1e-9;
  const bucket = buckets.find((b) => b.leMs >= sloMs - tolerance);
  if (bucket === undefined || bucket.leMs === Number.POSITIVE_INFINITY) {
    throw new ValidationError('latency SLO', [
      { path: 'sloMs', message: `no finite bucket boundary ≥ ${sloMs} ms` },
    ]);
  }
  return bucket.leMs;
}

/** Requests slower than the bucket boundary `boundaryMs`: total (+Inf) − count(le = boundary). */
export function slowCounts(buckets: readonly HistogramBucket[], boundaryMs: number): SampleCounts {
  const total = buckets[buckets.length - 1]?.count ?? 0;
  const good = buckets.find((b) => b.leMs === boundaryMs)?.count ?? 0;
  return { totalCount: total, badCount: total - good };
}

/**
 * Mann-Whitney U from bucket counts, ties corrected, normal approximation. With per-bucket
 * (non-cumulative) counts c_i (canary) and p_i (primary), t_i = c_i + p_i and N = n_c + n_p:
 *
 *   U = Σ_i c_i·(Σ_{j<i} p_j + ½·p_i),   AUC = U/(n_c·n_p)
 *   Var = n_c·n_p/12 · [(N + 1) − Σ_i (t_i³ − t_i)/(N(N − 1))],   z = (U − n_c·n_p/2)/√Var
 *
 * The p-value is one-sided for "the canary is slower". Requests are not independent, so it is
 * optimistic: the canary is flagged only when z > z(1 − α) and AUC ≥ `minAuc`. Both histograms
 * must share the same boundaries. Returns undefined when either side has no requests.
 */
export function rankTest(
  canary: readonly HistogramBucket[],
  primary: readonly HistogramBucket[],
  alpha = 0.01,
  minAuc: number = LATENCY_DEFAULTS.minAuc,
): RankTestStatistics | undefined {
  const issues = [...histogramIssues(canary, 'canary'), ...histogramIssues(primary, 'primary')];
  issues.push(...boundaryIssues(canary, primary));
  if (issues.length > 0) throw new ValidationError('rank test', issues);
  const c = perBucket(canary);
  const p = perBucket(primary);
  const nc = canary[canary.length - 1]?.count ?? 0;
  const np = primary[primary.length - 1]?.count ?? 0;
  if (nc === 0 || np === 0) return undefined;
  const n = nc + np;
  let u = 0;
  let primaryBelow = 0;
  let ties = 0;
  c.forEach((ci, i) => {
    const pi = p[i] ?? 0;
    u += ci * (primaryBelow + pi / 2);
    primaryBelow += pi;
    const t = ci + pi;
    ties += t * t * t - t;
  });
  const variance = n > 1 ? ((nc * np) / 12) * (n + 1 - ties / (n * (n - 1))) : 0;
  const z = variance > 0 ? (u - (nc * np) / 2) / Math.sqrt(variance) : 0;
  const auc = u / (nc * np);
  const pValue = 1 - normalCdf(z);
  return { u, auc, z, pValue, canarySlower: z > normalQuantile(1 - alpha) && auc >= minAuc };
}

/**
 * Judges canary latency against the primary's: slow-request counts above the SLO boundary go
 * through `compareCounts`; the rank test on the last snapshot can veto a `Successful` (the
 * shapes differ although the slow share does not, yet), never cause a `Failed` by itself.
 */
export function compareLatency(
  history: readonly HistogramSnapshot[],
  sloMs: number,
  options: LatencyOptions = {},
): LatencyResult {
  const issues: ValidationIssue[] = [];
  history.forEach((snapshot, i) => {
    issues.push(...histogramIssues(snapshot.canary, `history[${i}].canary`));
    issues.push(...histogramIssues(snapshot.primary, `history[${i}].primary`));
    issues.push(...boundaryIssues(snapshot.canary, snapshot.primary, `history[${i}]`));
  });
  if (!Number.isFinite(sloMs) || sloMs <= 0) {
    issues.push({ path: 'sloMs', message: `must be a positive number, got ${sloMs}` });
  }
  if (issues.length > 0) throw new ValidationError('latency comparison', issues);
  const last = history[history.length - 1];
  if (last === undefined) {
    throw new ValidationError('latency comparison', [{ path: 'history', message: 'no snapshots' }]);
  }
  const boundaryMs = sloBoundary(last.canary, sloMs);
  const counts: CountsSnapshot[] = history.map((s) => ({
    canary: slowCounts(s.canary, boundaryMs),
    primary: slowCounts(s.primary, boundaryMs),
  }));
  const sequential = compareCounts(counts, options);
  const rank = rankTest(
    last.canary,
    last.primary,
    options.rankAlpha ?? options.alpha ?? 0.01,
    options.minAuc ?? LATENCY_DEFAULTS.minAuc,
  );
  const vetoed = sequential.outcome === 'Successful' && rank?.canarySlower === true;
  const outcome = vetoed ? 'Inconclusive' : sequential.outcome;
  return rank === undefined
    ? { outcome, boundaryMs, sequential }
    : { outcome, boundaryMs, sequential, rankTest: rank };
}

function perBucket(buckets: readonly HistogramBucket[]): number[] {
  return buckets.map((b, i) => b.count - (buckets[i - 1]?.count ?? 0));
}

function boundaryIssues(
  canary: readonly HistogramBucket[],
  primary: readonly HistogramBucket[],
  path = 'histograms',
): ValidationIssue[] {
  const same =
    canary.length === primary.length && canary.every((b, i) => b.leMs === primary[i]?.leMs);
  return same ? [] : [{ path, message: 'canary and primary buckets have different boundaries' }];
}
