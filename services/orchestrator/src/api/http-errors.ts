/**
 * Errors of the HTTP API and their responses. Every error leaves as
 * `{ "error": { "code", "message", "issues"? } }`. Errors of the engine and projections are
 * `AviaryError`s, mapped by code (VALIDATION 400, NOT_FOUND 404, REFUSED and CONCURRENCY 409,
 * UNAVAILABLE 503); any other failure is a 500 with a generic message, logged with its request id.
 */
import { AviaryError, ErrorCode, ValidationError, type ValidationIssue } from '@aviary/core';
import { redactUrlsInText } from '@aviary/platform';

/** Codes of errors the HTTP layer raises itself (besides the `ErrorCode`s of the domain). */
export const HttpErrorCode = {
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  RouteNotFound: 'NOT_FOUND',
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  Validation: 'VALIDATION',
  Internal: 'INTERNAL',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** An error that is already an HTTP response: status, code, message, optional issues and headers. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly issues: readonly ValidationIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      readonly issues?: readonly ValidationIssue[];
      readonly headers?: Readonly<Record<string, string>>;
    } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = options.issues;
    this.headers = options.headers ?? {};
  }
}

/** The JSON body of an error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly issues?: readonly ValidationIssue[];
  };
}

export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ErrorBody;
  /** True for failures nobody meant (500): the caller logs the error itself. */
  readonly unexpected: boolean;
}

const STATUS_BY_CODE: Partial<Record<string, number>> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Refused]: 409,
  [ErrorCode.Concurrency]: 409,
  [ErrorCode.Unavailable]: 503,
};

/** The response for any thrown value. */
export function errorResponse(error: unknown, requestId: string): ErrorResponse {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      headers: error.headers,
      body: body(error.code, error.message, error.issues),
      unexpected: false,
    };
  }
  if (error instanceof AviaryError) {
    const status = STATUS_BY_CODE[error.code];
    if (status !== undefined) {
      const issues = error instanceof ValidationError ? error.issues : undefined;
      // Backend failures may name a database or broker URL: never with its password.
      const message = status === 503 ? redactUrlsInText(error.message) : error.message;
      return { status, headers: {}, body: body(error.code, message, issues), unexpected: false };
    }
  }
  return {
    status: 500,
    headers: {},
    body: body(
      HttpErrorCode.Internal,
      `internal error; the orchestrator's log has its details under request id ${requestId}`,
    ),
    unexpected: true,
  };
}

function body(code: string, message: string, issues?: readonly ValidationIssue[]): ErrorBody {
  return { error: { code, message, ...(issues && issues.length > 0 ? { issues } : {}) } };
}

/** 400 VALIDATION with one issue about a part of the request: `request body: is empty`. */
export function badRequest(path: string, message: string): HttpError {
  return new HttpError(400, HttpErrorCode.Validation, `request ${path}: ${message}`, {
    issues: [{ path, message }],
  });
}
