/**
 * Aviary's typed errors. Every error a package throws on purpose is an `AviaryError` with a
 * `code` from `ErrorCode`; a few subclasses carry the identifiers a caller needs to react
 * (retry on a conflict, list validation issues). HTTP status codes are mapped only in the HTTP
 * adapter, never here. Expected outcomes of the domain (a rollback, an inconclusive check) are
 * events, not errors.
 */
export const ErrorCode = {
  /** An append's expected stream version did not match the stream. Reload and decide again. */
  Concurrency: 'CONCURRENCY',
  /** Input from outside failed its schema; `issues` lists every problem with its path. */
  Validation: 'VALIDATION',
  /** A stored event could not be decoded; it is reported with its position. */
  CorruptEvent: 'CORRUPT_EVENT',
  /** A recorded history's decisions do not follow from its inputs (replay found a divergence). */
  Determinism: 'DETERMINISM',
  /** The same event id was appended before with different content or to another stream. */
  IdempotencyMismatch: 'IDEMPOTENCY_MISMATCH',
  /** Configuration is missing or invalid at start-up. */
  Config: 'CONFIG',
  /** A backend (database, broker, provider) could not be reached or failed. */
  Unavailable: 'UNAVAILABLE',
  /** The operation was cancelled through its AbortSignal or because its owner closed. */
  Aborted: 'ABORTED',
  /** What the request names (an application, a release, a cluster) does not exist. */
  NotFound: 'NOT_FOUND',
  /** A well-formed request that the current state does not allow (a finished release's pause). */
  Refused: 'REFUSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class AviaryError extends Error {
  override name = 'AviaryError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** One problem found in an input, located by a dotted path such as `spec.analysis.stepWeights[2]`. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export class ValidationError extends AviaryError {
  override name = 'ValidationError';
  readonly issues: readonly ValidationIssue[];

  constructor(what: string, issues: readonly ValidationIssue[], options?: { cause?: unknown }) {
    super(ErrorCode.Validation, `${what}: ${formatIssues(issues)}`, options);
    this.issues = issues;
  }
}

export class ConcurrencyError extends AviaryError {
  override name = 'ConcurrencyError';
  readonly streamId: string;
  /** What the caller expected, as given (a version, or `no_stream` / `stream_exists`). */
  readonly expectedVersion: bigint | 'no_stream' | 'stream_exists';
  /** The stream's version when the append was tried; -1n when the stream did not exist. */
  readonly actualVersion: bigint;

  constructor(
    streamId: string,
    expectedVersion: bigint | 'no_stream' | 'stream_exists',
    actualVersion: bigint,
  ) {
    super(
      ErrorCode.Concurrency,
      `stream ${streamId} is at version ${actualVersion === -1n ? 'none (no stream)' : actualVersion}, ` +
        `append expected ${expectedVersion}: reload the stream and decide again`,
    );
    this.streamId = streamId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

export function isAviaryError(error: unknown, code?: ErrorCode): error is AviaryError {
  return error instanceof AviaryError && (code === undefined || error.code === code);
}
