/**
 * The analysis verdicts of a release, read from its timeline: each `AnalysisVerdictRecorded`
 * entry carries the analyzer's `AnalysisVerdict` with its `Evidence` (proto
 * `aviary.analysis.v1`): the measured value, the threshold range it was judged against, Wilson
 * bounds, and the canary's and the primary's request counts over the window. These are what the
 * release page's charts draw: nothing is measured here.
 */

/** @typedef {{ total: number, bad: number }} Counts */
/**
 * @typedef {{
 *   version: number, recordedAt: string, at: number, cluster: string, check: string,
 *   outcome: string, message: string, value?: number, min?: number, max?: number,
 *   lower?: number, upper?: number, canary?: Counts, primary?: Counts,
 *   windowStart?: string, windowEnd?: string, query?: string,
 *   measure: 'success-rate' | 'error-rate' | 'value', primaryValue?: number,
 * }} Verdict
 */

/**
 * A number from proto JSON (uint64 counts are strings there).
 * @param {unknown} value
 * @returns {number | undefined}
 */
function number(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

/**
 * @param {any} counts
 * @returns {Counts | undefined}
 */
function countsOf(counts) {
  if (typeof counts !== 'object' || counts === null) return undefined;
  return { total: number(counts.totalCount) ?? 0, bad: number(counts.badCount) ?? 0 };
}

/**
 * What the value is, found from the canary's counts: their success rate, their error rate, or
 * neither (a latency, a custom metric). The primary is drawn beside the canary only for a rate,
 * computed the same way from its own counts.
 * @param {number | undefined} value
 * @param {Counts | undefined} canary
 * @returns {Verdict['measure']}
 */
function measureOf(value, canary) {
  if (value === undefined || canary === undefined || canary.total <= 0) return 'value';
  const good = (100 * (canary.total - canary.bad)) / canary.total;
  const bad = (100 * canary.bad) / canary.total;
  if (Math.abs(value - good) < 0.01) return 'success-rate';
  if (Math.abs(value - bad) < 0.01) return 'error-rate';
  return 'value';
}

/**
 * The rate of `counts` the way `measure` computes it, in percent.
 * @param {Verdict['measure']} measure
 * @param {Counts | undefined} counts
 */
export function rateOf(measure, counts) {
  if (counts === undefined || counts.total <= 0) return undefined;
  if (measure === 'success-rate') return (100 * (counts.total - counts.bad)) / counts.total;
  if (measure === 'error-rate' || measure === 'value') return (100 * counts.bad) / counts.total;
  return undefined;
}

/**
 * The verdicts among timeline entries, in stream order.
 * @param {readonly any[]} entries
 * @returns {Verdict[]}
 */
export function verdictsOf(entries) {
  /** @type {Verdict[]} */
  const verdicts = [];
  for (const entry of entries) {
    if (entry.type !== 'AnalysisVerdictRecorded') continue;
    const v = entry.data?.verdict ?? {};
    const e = v.evidence ?? {};
    const value = number(e.value);
    const canary = countsOf(e.canary);
    const primary = countsOf(e.primary);
    const measure = measureOf(value, canary);
    const at = Date.parse(e.windowEnd ?? entry.recordedAt);
    /** @type {Verdict} */
    const verdict = {
      version: entry.streamVersion,
      recordedAt: entry.recordedAt,
      at: Number.isNaN(at) ? Date.parse(entry.recordedAt) : at,
      cluster: v.cluster || entry.cluster || '',
      check: v.checkName ?? '?',
      outcome: v.outcome ?? 'ANALYSIS_OUTCOME_UNSPECIFIED',
      message: v.message ?? '',
      measure,
    };
    const optional = {
      value,
      min: number(e.thresholdRange?.min),
      max: number(e.thresholdRange?.max),
      lower: number(e.lowerBound),
      upper: number(e.upperBound),
      canary,
      primary,
      windowStart: e.windowStart,
      windowEnd: e.windowEnd,
      query: e.query || undefined,
      primaryValue: measure === 'value' ? undefined : rateOf(measure, primary),
    };
    for (const [key, item] of Object.entries(optional)) {
      if (item !== undefined) Object.assign(verdict, { [key]: item });
    }
    verdicts.push(verdict);
  }
  return verdicts;
}

/**
 * The unit of a check's values: percent for rates, milliseconds for the built-in latency check.
 * @param {string} check
 * @param {Verdict['measure']} measure
 */
export function unitOf(check, measure) {
  if (measure !== 'value') return '%';
  if (check === 'request-duration') return 'ms';
  return '';
}
