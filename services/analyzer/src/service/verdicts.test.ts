import { judge, Outcome, ProviderFailureReason } from '@aviary/judge';
import { AnalysisOutcome, analysisVerdictSchema, ErrorKind as WireErrorKind } from '@aviary/proto';
import { fromJsonString } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ErrorKind, errorKindOf, withErrorKind } from '../scheduler/index.ts';
import {
  encodeVerdict,
  errorVerdict,
  internalErrorVerdict,
  toAnalysisVerdict,
} from './verdicts.ts';

const identity = {
  requestId: 'r-1',
  releaseId: 'rel-1',
  cluster: 'eu-1',
  checkName: 'request-duration',
};

/** A provider failure judged as the scheduler does, tagged with its kind. */
const failed = (reason: ProviderFailureReason, retryAfterMs?: number) =>
  withErrorKind(
    judge(
      { kind: 'value-threshold', thresholdRange: { max: 500 } },
      {
        status: 'provider-error',
        failure: {
          reason,
          message: 'nope',
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      },
    ),
    errorKindOf(reason),
  );

/** Published and read back as the decider reads it. */
const roundTrip = (v: ReturnType<typeof toAnalysisVerdict>) =>
  fromJsonString(analysisVerdictSchema, new TextDecoder().decode(encodeVerdict(v)));

describe('error kinds on the wire', () => {
  it('a rejected query is a configuration error, throttling and 5xx are provider unavailable', () => {
    const rejected = roundTrip(
      toAnalysisVerdict(identity, failed(ProviderFailureReason.QueryRejected)),
    );
    expect(rejected.outcome).toBe(AnalysisOutcome.ERROR);
    expect(rejected.errorKind).toBe(WireErrorKind.CONFIGURATION);
    for (const reason of [
      ProviderFailureReason.Throttled,
      ProviderFailureReason.ServerError,
      ProviderFailureReason.Timeout,
      ProviderFailureReason.Unreachable,
    ]) {
      const v = roundTrip(toAnalysisVerdict(identity, failed(reason, 60_000)));
      expect(v.errorKind).toBe(WireErrorKind.PROVIDER_UNAVAILABLE);
      expect(v.retryAfterMs).toBe(60_000);
    }
    // A response that cannot be parsed is neither: held like any error.
    const bad = roundTrip(toAnalysisVerdict(identity, failed(ProviderFailureReason.BadResponse)));
    expect(bad.errorKind).toBe(WireErrorKind.UNSPECIFIED);
  });

  it('an invalid request is a configuration error, an internal one is not', () => {
    const json = new TextDecoder().decode(
      encodeVerdict(toAnalysisVerdict(identity, errorVerdict('unknown template shop/nope'))),
    );
    expect(JSON.parse(json)).toMatchObject({
      outcome: 'ANALYSIS_OUTCOME_ERROR',
      errorKind: 'ERROR_KIND_CONFIGURATION',
      message: 'invalid request: unknown template shop/nope',
    });
    const internal = toAnalysisVerdict(identity, internalErrorVerdict('no verdict'));
    expect(internal.errorKind).toBe(WireErrorKind.UNSPECIFIED);
  });

  it('only an Error carries a kind', () => {
    const tagged = {
      outcome: Outcome.Successful,
      evidence: { thresholdRange: {} },
      message: 'ok',
      errorKind: ErrorKind.Configuration,
    } as const;
    expect(toAnalysisVerdict(identity, tagged).errorKind).toBe(WireErrorKind.UNSPECIFIED);
  });
});
