import { ValidationError, type ValidationIssue } from '@aviary/core';
import { normalQuantile } from './normal.ts';

/** A two-sided confidence interval for a proportion, both ends in [0, 1]. */
export interface ProportionInterval {
  readonly lower: number;
  readonly upper: number;
}

/**
 * The Wilson score interval for `successes` out of `total` at two-sided `confidence`, with
 * z = Φ⁻¹(1 − (1 − confidence)/2) and p̂ = k/n:
 *
 *   center = (p̂ + z²/2n) / (1 + z²/n),   half = z·√(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n)
 *
 * Computed without cancellation: the bounds are the roots of
 * (n + z²)·p² − (2k + z²)·p + k²/n = 0, so the upper bound comes from the sum (no subtraction)
 * and the lower bound from the product of the roots, k²/(n·(n + z²)·upper). For k > n/2 the
 * interval is mirrored from n − k. Hence exactly 0 at k = 0 and exactly 1 at k = n.
 * With `total` 0 there is no information: [0, 1].
 */
export function wilsonInterval(
  successes: number,
  total: number,
  confidence = 0.95,
): ProportionInterval {
  const issues = countIssues(successes, total);
  if (!(confidence > 0 && confidence < 1)) {
    issues.push({ path: 'confidence', message: `must be in (0, 1), got ${confidence}` });
  }
  if (issues.length > 0) throw new ValidationError('Wilson interval', issues);
  if (total === 0) return { lower: 0, upper: 1 };
  const z = normalQuantile(1 - (1 - confidence) / 2);
  if (successes * 2 > total) {
    const mirrored = lowerHalf(total - successes, total, z);
    return { lower: 1 - mirrored.upper, upper: 1 - mirrored.lower };
  }
  return lowerHalf(successes, total, z);
}

/** The interval for k ≤ n/2, where the lower bound is the small, cancellation-prone root. */
function lowerHalf(k: number, n: number, z: number): ProportionInterval {
  const z2 = z * z;
  const upper = Math.min(1, (k + z2 / 2 + z * Math.sqrt((k * (n - k)) / n + z2 / 4)) / (n + z2));
  const lower = k === 0 ? 0 : (k * k) / (n * (n + z2) * upper);
  return { lower, upper };
}

/** Checks that a count pair is non-negative safe integers with `part` ≤ `total`. */
export function countIssues(
  part: number,
  total: number,
  partPath = 'successes',
  totalPath = 'total',
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!Number.isSafeInteger(total) || total < 0) {
    issues.push({ path: totalPath, message: `must be a non-negative integer, got ${total}` });
  }
  if (!Number.isSafeInteger(part) || part < 0) {
    issues.push({ path: partPath, message: `must be a non-negative integer, got ${part}` });
  } else if (part > total) {
    issues.push({ path: partPath, message: `${part} exceeds ${totalPath} ${total}` });
  }
  return issues;
}
