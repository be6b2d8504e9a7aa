/**
 * Errors of the simulated API server, shaped as the real server's `Status` objects
 * (`k8s.io/apimachinery/pkg/apis/meta/v1.Status`). The HTTP code is part of the Kubernetes wire
 * format here (a `Status` carries `code`), so unlike Aviary's domain errors it lives on the error.
 */
export const StatusReason = {
  BadRequest: 'BadRequest',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  Conflict: 'Conflict',
  Invalid: 'Invalid',
  Gone: 'Gone',
  Expired: 'Expired',
  MethodNotAllowed: 'MethodNotAllowed',
  NotAcceptable: 'NotAcceptable',
  UnsupportedMediaType: 'UnsupportedMediaType',
  InternalError: 'InternalError',
} as const;
export type StatusReason = (typeof StatusReason)[keyof typeof StatusReason];

export interface StatusCause {
  readonly reason?: string;
  readonly message: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
}

/** The `Status` object the real API server returns for failures (and some successes). */
export interface Status {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Success' | 'Failure';
  readonly message?: string;
  readonly reason?: StatusReason;
  readonly details?: StatusDetails;
  readonly code: number;
}

/** What went wrong, as the real API server would say it; turned into a `Status` by the server. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly reason: StatusReason;
  readonly code: number;
  readonly details: StatusDetails | undefined;

  constructor(reason: StatusReason, code: number, message: string, details?: StatusDetails) {
    super(message);
    this.reason = reason;
    this.code = code;
    this.details = details;
  }

  toStatus(): Status {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code,
    };
  }
}

/** `group` is empty for the core group; `resource` is the plural, as the real messages use. */
export interface GroupResource {
  readonly group: string;
  readonly resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`;
}

export function notFound(gr: GroupResource, name: string): KubeApiError {
  return new KubeApiError(StatusReason.NotFound, 404, `${qualified(gr)} "${name}" not found`, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

export function alreadyExists(gr: GroupResource, name: string): KubeApiError {
  return new KubeApiError(
    StatusReason.AlreadyExists,
    409,
    `${qualified(gr)} "${name}" already exists`,
    { name, group: gr.group, kind: gr.resource },
  );
}

export function conflict(gr: GroupResource, name: string): KubeApiError {
  return new KubeApiError(
    StatusReason.Conflict,
    409,
    `Operation cannot be fulfilled on ${qualified(gr)} "${name}": the object has been modified; ` +
      'please apply your changes to the latest version and try again',
    { name, group: gr.group, kind: gr.resource },
  );
}

export function invalid(
  kind: string,
  group: string,
  name: string,
  causes: readonly { field: string; message: string }[],
): KubeApiError {
  const kindGroup = group === '' ? kind : `${kind}.${group}`;
  return new KubeApiError(
    StatusReason.Invalid,
    422,
    `${kindGroup} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    {
      name,
      group,
      kind,
      causes: causes.map((c) => ({
        reason: 'FieldValueInvalid',
        message: c.message,
        field: c.field,
      })),
    },
  );
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError(StatusReason.BadRequest, 400, message);
}

/** A watch or continue token asked for a resourceVersion the server no longer keeps. */
export function expired(message: string): KubeApiError {
  return new KubeApiError(StatusReason.Expired, 410, message);
}

export function gone(message: string): KubeApiError {
  return new KubeApiError(StatusReason.Gone, 410, message);
}

export function methodNotAllowed(message: string): KubeApiError {
  return new KubeApiError(StatusReason.MethodNotAllowed, 405, message);
}

export function unsupportedMediaType(contentType: string): KubeApiError {
  return new KubeApiError(
    StatusReason.UnsupportedMediaType,
    415,
    `the body of the request was in an unknown format - accepted media types include: ` +
      `application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, ` +
      `application/strategic-merge-patch+json (got ${JSON.stringify(contentType)})`,
  );
}

export function successStatus(details: StatusDetails): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}
