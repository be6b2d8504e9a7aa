import { ValidationError, type ValidationIssue } from '@aviary/core';
import { formatNumber, formatPercent, formatRequests } from './format.ts';
import {
  type Evidence,
  Outcome,
  type SampleCounts,
  type ThresholdRange,
  type Verdict,
} from './types.ts';
import { countIssues, wilsonInterval } from './wilson.ts';

/** Which share of the requests a rate threshold is about. */
export const RateMeasure = {
  /** The share of good requests, e.g. Flagger's `request-success-rate` (min 99). */
  Good: 'good',
  /** The share of bad requests, e.g. an error-rate template (max 1). */
  Bad: 'bad',
} as const;
export type RateMeasure = (typeof RateMeasure)[keyof typeof RateMeasure];

export interface RateThresholdOptions {
  /**
   * Two-sided confidence of the Wilson interval. Default 0.95: the reference's tables use it,
   * each interval judges a fresh window, and Flagger's `threshold` (failed checks before a
   * rollback) already asks for repeated evidence.
   */
  readonly confidence?: number;
  /**
   * Fewer requests than this are `Inconclusive` whatever the interval says. Default 20: below
   * that the Wilson interval's coverage is unreliable near 0 and 1, and a window of a handful of
   * requests is usually one client or a probe.
   */
  readonly minSamples?: number;
  /** Default `good` (success rate). */
  readonly measure?: RateMeasure;
}

export const RATE_THRESHOLD_DEFAULTS = {
  confidence: 0.95,
  minSamples: 20,
  measure: RateMeasure.Good,
} as const;

/**
 * Judges a rate in percent against a Flagger `thresholdRange` (percent, inclusive bounds) with
 * sample-size awareness: the whole Wilson interval of the rate inside the range is `Successful`,
 * wholly outside is `Failed`, straddling a bound (too few requests to tell) is `Inconclusive`, as
 * are no requests and fewer than `minSamples`.
 */
export function judgeRate(
  counts: SampleCounts,
  thresholdRange: ThresholdRange,
  options: RateThresholdOptions = {},
): Verdict {
  const confidence = options.confidence ?? RATE_THRESHOLD_DEFAULTS.confidence;
  const minSamples = options.minSamples ?? RATE_THRESHOLD_DEFAULTS.minSamples;
  const measure = options.measure ?? RATE_THRESHOLD_DEFAULTS.measure;
  const issues = [
    ...countIssues(counts.badCount, counts.totalCount, 'badCount', 'totalCount'),
    ...rangeIssues(thresholdRange),
  ];
  if (!(confidence > 0 && confidence < 1)) {
    issues.push({ path: 'confidence', message: `must be in (0, 1), got ${confidence}` });
  }
  if (!Number.isSafeInteger(minSamples) || minSamples < 0) {
    issues.push({
      path: 'minSamples',
      message: `must be a non-negative integer, got ${minSamples}`,
    });
  }
  if (issues.length > 0) throw new ValidationError('rate threshold', issues);

  const label = measure === RateMeasure.Good ? 'success rate' : 'error rate';
  const total = counts.totalCount;
  const range = describeRange(thresholdRange);
  if (total === 0) {
    return {
      outcome: Outcome.Inconclusive,
      evidence: { thresholdRange, canary: counts },
      message: `no requests in the window: ${label} cannot be judged against ${range}`,
    };
  }
  const part = measure === RateMeasure.Good ? total - counts.badCount : counts.badCount;
  const interval = wilsonInterval(part, total, confidence);
  const value = (part / total) * 100;
  const lower = interval.lower * 100;
  const upper = interval.upper * 100;
  const evidence: Evidence = {
    value,
    thresholdRange,
    lowerBound: lower,
    upperBound: upper,
    canary: counts,
  };
  const over = `over ${formatRequests(total)}`;
  const bounds = `${formatNumber(confidence * 100)}% Wilson interval ${formatPercent(lower)}–${formatPercent(upper)}`;
  if (total < minSamples) {
    return {
      outcome: Outcome.Inconclusive,
      evidence,
      message: `${label} ${formatPercent(value)} ${over} is below the minimum sample of ${formatRequests(minSamples)}: not judged against ${range}`,
    };
  }
  const { min, max } = thresholdRange;
  if (min !== undefined && upper < min) {
    return {
      outcome: Outcome.Failed,
      evidence,
      message: `${label} ${formatPercent(value)} < ${formatNumber(min)}% ${over} (${bounds})`,
    };
  }
  if (max !== undefined && lower > max) {
    return {
      outcome: Outcome.Failed,
      evidence,
      message: `${label} ${formatPercent(value)} > ${formatNumber(max)}% ${over} (${bounds})`,
    };
  }
  if ((min === undefined || lower >= min) && (max === undefined || upper <= max)) {
    return {
      outcome: Outcome.Successful,
      evidence,
      message: `${label} ${formatPercent(value)} within ${range} ${over} (${bounds})`,
    };
  }
  return {
    outcome: Outcome.Inconclusive,
    evidence,
    message: `${label} ${formatPercent(value)} ${over} is too few to judge against ${range}: ${bounds} straddles the bound`,
  };
}

export interface ValueThresholdOptions {
  /** What the value is, for the message; default `value`. */
  readonly label?: string;
  /** Unit appended to numbers in the message, e.g. `ms`; default none. */
  readonly unit?: string;
}

/**
 * Judges a plain value (e.g. a p99 latency in ms) against a `thresholdRange`, Flagger's way:
 * inside the inclusive range is `Successful`, outside `Failed`. No data (`null`, `NaN`, what
 * `histogram_quantile` returns over an empty window) is `Inconclusive`. ±∞ is a value
 * (`histogram_quantile` answers +Inf when the quantile falls in the +Inf bucket).
 */
export function judgeValue(
  value: number | null,
  thresholdRange: ThresholdRange,
  options: ValueThresholdOptions = {},
): Verdict {
  const issues = rangeIssues(thresholdRange);
  if (issues.length > 0) throw new ValidationError('value threshold', issues);
  const label = options.label ?? 'value';
  const unit = options.unit ?? '';
  const range = describeRange(thresholdRange, unit);
  if (value === null || Number.isNaN(value)) {
    return {
      outcome: Outcome.Inconclusive,
      evidence: { thresholdRange },
      message: `no data: ${label} cannot be judged against ${range}`,
    };
  }
  const evidence: Evidence = { value, thresholdRange };
  const shown = `${label} ${formatNumber(value)}${unit}`;
  const { min, max } = thresholdRange;
  if (min !== undefined && value < min) {
    return {
      outcome: Outcome.Failed,
      evidence,
      message: `${shown} < ${formatNumber(min)}${unit}`,
    };
  }
  if (max !== undefined && value > max) {
    return {
      outcome: Outcome.Failed,
      evidence,
      message: `${shown} > ${formatNumber(max)}${unit}`,
    };
  }
  return { outcome: Outcome.Successful, evidence, message: `${shown} within ${range}` };
}

/** A range's bounds must be numbers (not NaN) with min ≤ max. */
export function rangeIssues(range: ThresholdRange, path = 'thresholdRange'): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const bound of ['min', 'max'] as const) {
    const x = range[bound];
    if (x !== undefined && Number.isNaN(x)) {
      issues.push({ path: `${path}.${bound}`, message: 'must be a number, got NaN' });
    }
  }
  if (range.min !== undefined && range.max !== undefined && range.min > range.max) {
    issues.push({ path, message: `min ${range.min} exceeds max ${range.max}` });
  }
  return issues;
}

function describeRange(range: ThresholdRange, unit = '%'): string {
  const { min, max } = range;
  if (min !== undefined && max !== undefined) {
    return `[${formatNumber(min)}${unit}, ${formatNumber(max)}${unit}]`;
  }
  if (min !== undefined) return `min ${formatNumber(min)}${unit}`;
  if (max !== undefined) return `max ${formatNumber(max)}${unit}`;
  return 'an open range';
}
