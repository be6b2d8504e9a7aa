/**
 * Count checks (pure): `rate-threshold` (Wilson, sample-size aware) and canary-vs-primary
 * `rate-comparison` (sequential test) need request counts, not one value. A count check names two
 * template queries, `total` and `bad` (e.g. `sum:…hits{scope}.as_count()` and
 * `sum:…errors{scope}.as_count()`), and is planned as plain value sub-checks:
 *
 * - canary total and bad (`<id>#total`, `<id>#bad`);
 * - for a comparison, the primary's too (`<id>#primary-total`, `<id>#primary-bad`): the same
 *   template with `{{ target }}` = `<workload>-primary` (Flagger's naming).
 *
 * Sub-checks of every canary fold into the same grouped queries as any other template (the
 * primary's series is another group of the same answer), so counts cost no extra call. After the
 * round `collectCounts` turns the sub-verdicts back into `SampleCounts` (rounded to whole
 * requests; no series is 0), or the provider failure that kept them from being measured.
 */
import {
  CheckKind,
  Outcome,
  type RateComparisonCheck,
  type RateThresholdCheck,
  type SampleCounts,
  type TimeWindow,
} from '@aviary/judge';
import type { MetricSeries } from '../metrics/provider.ts';
import { ErrorKind } from './error-kind.ts';
import { type ActiveCheck, MetricSource } from './plan.ts';
import type { CheckVerdict } from './scheduler.ts';

export type CountCheck = RateThresholdCheck | RateComparisonCheck;

/** A count template: two queries in the provider's language, scoped by the canary. */
export interface CountMetric {
  /** `namespace/name` of the template, or the built-in name it stands for. */
  readonly templateId: string;
  readonly totalQuery: string;
  readonly badQuery: string;
}

/** One count check of one canary: an `ActiveCheck` measuring counts instead of a value. */
export interface ActiveCountCheck extends Omit<ActiveCheck, 'metric' | 'check'> {
  readonly metric: CountMetric;
  readonly check: CountCheck;
}

export const CountPart = {
  Total: 'total',
  Bad: 'bad',
  PrimaryTotal: 'primary-total',
  PrimaryBad: 'primary-bad',
} as const;
export type CountPart = (typeof CountPart)[keyof typeof CountPart];

export function countSubCheckId(checkId: string, part: CountPart): string {
  return `${checkId}#${part}`;
}

/** The primary workload Flagger creates for a target. */
export function primaryWorkload(workload: string): string {
  return `${workload}-primary`;
}

/** The value sub-checks that measure a count check (2, or 4 with the primary). */
export function countSubChecks(check: ActiveCountCheck): ActiveCheck[] {
  const { metric, check: judged, ...rest } = check;
  const parts: [CountPart, string, boolean][] = [
    [CountPart.Total, metric.totalQuery, false],
    [CountPart.Bad, metric.badQuery, false],
  ];
  if (judged.kind === CheckKind.RateComparison) {
    parts.push([CountPart.PrimaryTotal, metric.totalQuery, true]);
    parts.push([CountPart.PrimaryBad, metric.badQuery, true]);
  }
  return parts.map(([part, query, primary]) => ({
    ...rest,
    id: countSubCheckId(check.id, part),
    workload: primary ? primaryWorkload(check.workload) : check.workload,
    metric: {
      source: MetricSource.Template,
      templateId: `${metric.templateId}#${part === CountPart.Total || part === CountPart.PrimaryTotal ? 'total' : 'bad'}`,
      query,
    },
    check: { kind: CheckKind.ValueThreshold, thresholdRange: {} },
  }));
}

/** The counts a count check was measured with, or why they could not be. */
export type CollectedCounts =
  | {
      readonly ok: true;
      readonly canary: SampleCounts;
      /** Comparisons only. */
      readonly primary?: SampleCounts;
      readonly window?: TimeWindow;
      /** The sub-queries, `total; bad`. */
      readonly query: string;
      readonly samples: readonly MetricSeries[];
    }
  | {
      readonly ok: false;
      /**
       * The first failing sub-verdict (Error; a configuration error first): its message, error
       * kind and `retryAfterMs`.
       */
      readonly failed: CheckVerdict;
      /** The longest wait among the failing sub-verdicts. */
      readonly retryAfterMs?: number;
      readonly window?: TimeWindow;
      readonly query: string;
    };

/** Collects a count check's sub-verdicts (by sub-check id) into counts. */
export function collectCounts(
  check: ActiveCountCheck,
  verdicts: ReadonlyMap<string, CheckVerdict>,
): CollectedCounts {
  const parts =
    check.check.kind === CheckKind.RateComparison
      ? ([CountPart.Total, CountPart.Bad, CountPart.PrimaryTotal, CountPart.PrimaryBad] as const)
      : ([CountPart.Total, CountPart.Bad] as const);
  const found = parts.map((part) => verdicts.get(countSubCheckId(check.id, part)));
  const present = found.filter((v): v is CheckVerdict => v !== undefined);
  const window = present.find((v) => v.window !== undefined)?.window;
  const query = [...new Set(present.map((v) => v.query).filter((q) => q !== ''))].join('; ');
  const failures = present.filter((v) => v.verdict.outcome === Outcome.Error);
  // A configuration error wins over a provider error: waiting would not cure it.
  const first =
    failures.find((v) => v.verdict.errorKind === ErrorKind.Configuration) ?? failures[0];
  if (first !== undefined || present.length < parts.length) {
    const failed: CheckVerdict = first ?? {
      checkId: check.id,
      source: 'rejected',
      query: '',
      samples: [],
      verdict: {
        outcome: Outcome.Error,
        evidence: { thresholdRange: {} },
        message: 'internal: a count sub-check got no verdict',
      },
    };
    const waits = failures.flatMap((v) =>
      v.verdict.retryAfterMs === undefined ? [] : [v.verdict.retryAfterMs],
    );
    return {
      ok: false,
      failed,
      ...(waits.length === 0 ? {} : { retryAfterMs: Math.max(...waits) }),
      ...(window === undefined ? {} : { window }),
      query,
    };
  }
  const count = (verdict: CheckVerdict | undefined) => {
    const value = verdict?.verdict.evidence.value;
    return value === undefined || !Number.isFinite(value) ? 0 : Math.max(0, Math.round(value));
  };
  const counts = (total: CheckVerdict | undefined, bad: CheckVerdict | undefined) => {
    const totalCount = count(total);
    return { totalCount, badCount: Math.min(totalCount, count(bad)) };
  };
  const [total, bad, primaryTotal, primaryBad] = found;
  return {
    ok: true,
    canary: counts(total, bad),
    ...(check.check.kind === CheckKind.RateComparison
      ? { primary: counts(primaryTotal, primaryBad) }
      : {}),
    ...(window === undefined ? {} : { window }),
    query,
    samples: present.flatMap((v) => v.samples),
  };
}
