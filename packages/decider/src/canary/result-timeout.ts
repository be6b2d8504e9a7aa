/**
 * How long the checks of an interval are awaited (`analysis.resultTimeout`, Aviary). The analyzer
 * judges a window only once it has closed plus its provider's ingestion delay (Datadog: 2 min), so
 * a verdict may come after the next tick; until the timeout it is late, not missing. Shared by
 * `decide` (hold or keep waiting) and `evolve` (keep or close the interval) so both agree.
 */
import type { Analysis } from '../spec/types.ts';
import type { Interval } from './types.ts';

/**
 * The timeout in force. Specs recorded before the field existed have none: the interval, the old
 * rule (a check unanswered at the next due tick is held), so their histories replay unchanged.
 */
export function resultTimeoutMsOf(analysis: Analysis): number {
  return analysis.resultTimeoutMs ?? analysis.intervalMs;
}

/** The interval has checks still unanswered and a due tick at `nowMs` is within their timeout. */
export function awaitingResults(
  analysis: Analysis,
  interval: Interval | undefined,
  nowMs: number,
): boolean {
  if (interval === undefined) return false;
  if (!interval.checks.some((c) => c.outcome === undefined)) return false;
  return nowMs < interval.startedAtMs + resultTimeoutMsOf(analysis);
}

/** The reason of the hold for checks unanswered within the timeout. */
export function unansweredReason(analysis: Analysis): string {
  if (analysis.resultTimeoutMs === undefined) return 'no result before the next tick';
  return `no result within resultTimeout (${analysis.resultTimeoutMs / 1000}s)`;
}
