/**
 * Schemas of everything a request carries (path parameters, query parameters, JSON bodies) and
 * the translation of zod's issues into Aviary's `ValidationIssue`s with messages for people:
 * `action: must be one of pause, resume, …`, `cluster: is required for skip`,
 * `limit: must be at most 1000`.
 */
import { ValidationError, type ValidationIssue } from '@aviary/core';
import { z } from '@aviary/platform';
import type { OperatorActionJson } from '@aviary/proto';
import type { ApplicationRef } from '../ports.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RELEASE_ID = /^[a-z0-9.-]+$/;

/** Longest `reason` accepted with an action or a gate change. */
export const MAX_REASON_LENGTH = 1024;
/** Largest `limit` of a list. */
export const MAX_LIMIT = 1000;

/** A DNS-1123 label (namespaces, application, cluster and gate names), at most 63 characters. */
export const dnsLabel = z.string().superRefine((value, ctx) => {
  if (value.length > 63) {
    ctx.addIssue({
      code: 'custom',
      message: `must be at most 63 characters (got ${value.length})`,
    });
  } else if (!DNS_LABEL.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit (got ${JSON.stringify(value)})`,
    });
  }
});

/** A release id: lower-case letters, digits, '.' and '-', at most 253 characters. */
export const releaseId = z.string().superRefine((value, ctx) => {
  if (value.length > 253) {
    ctx.addIssue({
      code: 'custom',
      message: `must be at most 253 characters (got ${value.length})`,
    });
  } else if (!RELEASE_ID.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `must be lower-case letters, digits, '.' and '-' (got ${JSON.stringify(value)})`,
    });
  }
});

const reason = z.string().max(MAX_REASON_LENGTH);

/** A whole number in text (a query parameter), within `min`..`max`. */
function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min).max(max));
}

// ---- path parameters

export const applicationPath = z.strictObject({ namespace: dnsLabel, name: dnsLabel });
export const releasePath = z.strictObject({ id: releaseId });
export const gatePath = z.strictObject({ namespace: dnsLabel, name: dnsLabel, gate: dnsLabel });

// ---- query parameters

/** `ns/name`, as in `?application=shop/checkout`. */
const applicationRef = z.string().transform((value, ctx): ApplicationRef => {
  const parts = value.split('/');
  const [namespace, name] = parts;
  if (parts.length !== 2 || namespace === undefined || name === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `must be <namespace>/<name> (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
  }
  for (const [part, text] of [
    ['namespace', namespace],
    ['name', name],
  ] as const) {
    const result = dnsLabel.safeParse(text);
    if (!result.success) {
      ctx.addIssue({ code: 'custom', message: `${part} ${result.error.issues[0]?.message ?? ''}` });
      return z.NEVER;
    }
  }
  return { namespace, name };
});

export const releasesQuery = z.strictObject({
  application: applicationRef.optional(),
  active: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  limit: wholeNumber(1, MAX_LIMIT).optional(),
});

export const timelineQuery = z.strictObject({
  after: wholeNumber(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: wholeNumber(1, MAX_LIMIT).optional(),
});

export const noQuery = z.strictObject({});

// ---- bodies

/** The actions of `POST /api/v1/releases/{id}/actions`, and the operator actions they name. */
export const OPERATOR_ACTIONS = {
  pause: 'OPERATOR_ACTION_PAUSE',
  resume: 'OPERATOR_ACTION_RESUME',
  promote: 'OPERATOR_ACTION_PROMOTE',
  abort: 'OPERATOR_ACTION_ABORT',
  rollback: 'OPERATOR_ACTION_ROLLBACK',
  retry: 'OPERATOR_ACTION_RETRY',
  skip: 'OPERATOR_ACTION_SKIP_CLUSTER',
  requeue: 'OPERATOR_ACTION_REQUEUE_CLUSTER',
} as const satisfies Record<string, OperatorActionJson>;
export type ActionName = keyof typeof OPERATOR_ACTIONS;

const ACTION_NAMES = Object.keys(OPERATOR_ACTIONS) as [ActionName, ...ActionName[]];
/** Actions about one cluster: they need `cluster`. */
const CLUSTER_ACTIONS: readonly ActionName[] = ['skip', 'requeue'];

export const actionBody = z
  .strictObject({
    action: z.enum(ACTION_NAMES),
    cluster: dnsLabel.optional(),
    reason: reason.optional(),
  })
  .superRefine((body, ctx) => {
    if (CLUSTER_ACTIONS.includes(body.action) && body.cluster === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster'],
        message: `is required for ${body.action}`,
      });
    }
  });

/** Optional body of retry and of gate changes: `{ "reason"? }`. */
export const reasonBody = z.strictObject({ reason: reason.optional() });

/**
 * Body of `POST /api/v1/releases/{id}/what-if`: `{ "analysis": { … } }`, fields of a Rollout's
 * `spec.analysis` laid over the recorded ones (the spec's own validation checks them).
 */
export const whatIfBody = z.strictObject({
  analysis: z.record(z.string(), z.unknown()).refine((a) => Object.keys(a).length > 0, {
    message: 'must change at least one field of the analysis block',
  }),
});

// ---- issues

export type Where = 'path' | 'query' | 'request body';

/**
 * Parses `input` with `schema`; throws a `ValidationError` (400) titled `where` with every
 * problem, located by field.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: Where,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(where, toIssues(result.error.issues, input, where));
}

/** URL query parameters as an object; a parameter given twice is a validation error. */
export function queryObject(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  const issues: ValidationIssue[] = [];
  for (const [key, value] of params) {
    if (Object.hasOwn(out, key)) issues.push({ path: key, message: 'is given more than once' });
    out[key] = value;
  }
  if (issues.length > 0) throw new ValidationError('query', issues);
  return out;
}

function toIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  where: Where,
): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const noun =
        where === 'query' ? 'query parameter' : where === 'path' ? 'path parameter' : 'field';
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: `is not a known ${noun}` });
      }
      continue;
    }
    out.push({
      path: formatPath(issue.path),
      message: describe(issue, valueAt(input, issue.path)),
    });
  }
  return out;
}

function describe(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
    case 'invalid_value':
      if (value === undefined) return 'is required';
      if (issue.code === 'invalid_value') {
        return `must be one of ${issue.values.map(String).join(', ')}`;
      }
      return `must be ${article(issue.expected)} (got ${typeName(value)})`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}${issue.origin === 'string' ? ' characters long' : ''}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${issue.origin === 'string' ? ' characters long' : ''}`;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  return /^[aeio]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}
