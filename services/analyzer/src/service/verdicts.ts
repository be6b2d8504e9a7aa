/**
 * The judge's `Verdict` as the wire's `AnalysisVerdict` (canonical proto JSON), and the message id
 * it is published with.
 */
import { Outcome, type SampleCounts, type TimeWindow, type Verdict } from '@aviary/judge';
import {
  AnalysisOutcome,
  type AnalysisVerdict,
  analysisVerdictSchema,
  ErrorKind as WireErrorKind,
} from '@aviary/proto';
import { create, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { type AnalyzerVerdict, ErrorKind } from '../scheduler/index.ts';
import type { RequestIdentity } from './requests.ts';
import { type Recording, recordedSamples } from './samples.ts';

const OUTCOMES: Readonly<Record<Outcome, AnalysisOutcome>> = {
  [Outcome.Successful]: AnalysisOutcome.SUCCESSFUL,
  [Outcome.Failed]: AnalysisOutcome.FAILED,
  [Outcome.Inconclusive]: AnalysisOutcome.INCONCLUSIVE,
  [Outcome.Error]: AnalysisOutcome.ERROR,
};

const ERROR_KINDS: Readonly<Record<ErrorKind, WireErrorKind>> = {
  [ErrorKind.ProviderUnavailable]: WireErrorKind.PROVIDER_UNAVAILABLE,
  [ErrorKind.Configuration]: WireErrorKind.CONFIGURATION,
};

/**
 * `Nats-Msg-Id` of the verdict for a request: derived from the request id, so a re-delivered
 * request's verdict is stored once. Not the request id itself: requests and verdicts share the
 * `AVIARY_ANALYSIS` stream, whose duplicate window would drop a verdict carrying its request's id.
 */
export function verdictMsgId(requestId: string): string {
  return `${requestId}/verdict`;
}

export interface VerdictDetails {
  /** The rendered query, for `Evidence.query`. */
  readonly query?: string;
  /** The window actually queried, when the verdict's evidence does not carry it. */
  readonly window?: TimeWindow;
  /** What the verdict was judged on, recorded for re-judging (`AnalysisVerdict.samples`). */
  readonly samples?: Recording;
}

const finite = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? undefined : value;

const counts = (c: SampleCounts | undefined) =>
  c === undefined
    ? undefined
    : {
        totalCount: BigInt(Math.max(0, Math.round(c.totalCount))),
        badCount: BigInt(Math.max(0, Math.round(c.badCount))),
      };

/** The wire message for a verdict. */
export function toAnalysisVerdict(
  identity: RequestIdentity,
  verdict: AnalyzerVerdict,
  details: VerdictDetails = {},
): AnalysisVerdict {
  const { evidence } = verdict;
  const window = evidence.window ?? details.window;
  const value = finite(evidence.value);
  const lower = finite(evidence.lowerBound);
  const upper = finite(evidence.upperBound);
  const min = finite(evidence.thresholdRange.min);
  const max = finite(evidence.thresholdRange.max);
  const canary = counts(evidence.canary);
  const primary = counts(evidence.primary);
  const isError = verdict.outcome === Outcome.Error;
  const retry = isError ? (verdict.retryAfterMs ?? 0) : 0;
  const errorKind =
    isError && verdict.errorKind !== undefined
      ? ERROR_KINDS[verdict.errorKind]
      : WireErrorKind.UNSPECIFIED;
  return create(analysisVerdictSchema, {
    requestId: identity.requestId,
    releaseId: identity.releaseId,
    cluster: identity.cluster,
    checkName: identity.checkName,
    outcome: OUTCOMES[verdict.outcome],
    message: verdict.message,
    retryAfterMs: Math.min(0xffff_ffff, Math.max(0, Math.ceil(retry))),
    errorKind,
    evidence: {
      ...(value === undefined ? {} : { value }),
      thresholdRange: {
        ...(min === undefined ? {} : { min }),
        ...(max === undefined ? {} : { max }),
      },
      ...(lower === undefined ? {} : { lowerBound: lower }),
      ...(upper === undefined ? {} : { upperBound: upper }),
      ...(canary === undefined ? {} : { canary }),
      ...(primary === undefined ? {} : { primary }),
      ...(window === undefined
        ? {}
        : {
            windowStart: timestampFromMs(window.startMs),
            windowEnd: timestampFromMs(window.endMs),
          }),
      query: details.query ?? '',
    },
    ...(details.samples === undefined ? {} : { samples: recordedSamples(details.samples) }),
  });
}

/** The canonical proto JSON payload of a verdict. */
export function encodeVerdict(message: AnalysisVerdict): Uint8Array {
  return new TextEncoder().encode(toJsonString(analysisVerdictSchema, message));
}

/**
 * An `Error` verdict for a request that cannot be judged (malformed, unknown check or template,
 * injected variable, a method that does not fit, provider not configured): a configuration error,
 * since waiting will not make it judgeable.
 */
export function errorVerdict(reason: string): AnalyzerVerdict {
  return { ...invalid(reason), errorKind: ErrorKind.Configuration };
}

/** An `Error` verdict for the analyzer's own fault: no kind, held like any error. */
export function internalErrorVerdict(reason: string): Verdict {
  return invalid(`internal: ${reason}`);
}

const invalid = (reason: string): Verdict => ({
  outcome: Outcome.Error,
  evidence: { thresholdRange: {} },
  message: `invalid request: ${reason}`,
});
