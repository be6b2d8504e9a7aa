/**
 * Why an `Error` verdict is an error (`AnalysisVerdict.error_kind`): the provider is unavailable
 * (waiting helps: the decider holds the check and retries) or the check is misconfigured (waiting
 * does not help: the decider pauses the canary at once and the pause is reported). The judge does
 * not know the difference; the analyzer tags its verdicts with it where the error is produced, and
 * spreads of a tagged verdict keep the tag.
 */
import { ProviderFailureReason, type Verdict } from '@aviary/judge';

export const ErrorKind = {
  /** Throttled (429, budget spent), unreachable, 5xx, timeout. */
  ProviderUnavailable: 'provider-unavailable',
  /** 400/422 (Prometheus `bad_data`/`execution`), template missing or not rendering, bad request. */
  Configuration: 'configuration',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** A judge verdict, tagged with its error kind when it is an `Error` whose cause is known. */
export type AnalyzerVerdict = Verdict & { readonly errorKind?: ErrorKind };

/**
 * The kind of a provider failure. A bad response (an answer that cannot be parsed, several series
 * where one was expected) is neither: it stays untagged and is held like any error.
 */
export function errorKindOf(reason: ProviderFailureReason): ErrorKind | undefined {
  switch (reason) {
    case ProviderFailureReason.QueryRejected:
      return ErrorKind.Configuration;
    case ProviderFailureReason.Throttled:
    case ProviderFailureReason.Unreachable:
    case ProviderFailureReason.Timeout:
    case ProviderFailureReason.ServerError:
      return ErrorKind.ProviderUnavailable;
    default:
      return undefined;
  }
}

/** `verdict` tagged with `kind` (nothing to tag when `kind` is unknown). */
export function withErrorKind(verdict: Verdict, kind: ErrorKind | undefined): AnalyzerVerdict {
  return kind === undefined ? verdict : { ...verdict, errorKind: kind };
}
