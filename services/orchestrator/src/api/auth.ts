/**
 * Bearer-token authentication of the HTTP API. Tokens are configured as a list of
 * `{ name, role, token }` (or the text `name:role:token,name2:role2:token2`, e.g. from
 * `AVIARY_API_TOKENS`); the token's name is the actor recorded with every operator action and the
 * only thing about a token that reaches a log line. A presented token is compared with every
 * configured one in constant time (both sides hashed with SHA-256, then `timingSafeEqual`), so
 * neither its length nor its first differing byte, nor which token matched, shows in the timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ValidationError, type ValidationIssue } from '@aviary/core';
import type { Actor, Role } from '../ports.ts';

/** A configured API token. */
export interface ApiToken {
  /** Who holds the token: recorded as the actor of their actions, written in the access log. */
  readonly name: string;
  readonly role: Role;
  /** The secret itself (at least 16 characters). */
  readonly token: string;
}

/** Roles from least to most privileged; each role may do everything the ones before it may. */
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export const MIN_TOKEN_LENGTH = 16;

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/;
/** Printable ASCII without spaces: what can travel in an `Authorization: Bearer` header. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** True when `role` is `required` or a more privileged role. */
export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

/**
 * Validates API tokens given as a list, or as the text `name:role:token,…` (entries separated by
 * commas, fields by the first two colons; surrounding spaces ignored). Throws a `ValidationError`
 * listing every problem: a name that is empty, malformed or used twice, an unknown role, a token
 * shorter than 16 characters, containing spaces or control characters, or configured twice.
 * Messages name the entry and never contain a token.
 */
export function parseApiTokens(input: string | readonly ApiToken[]): ApiToken[] {
  const issues: ValidationIssue[] = [];
  const entries: { readonly path: string; readonly fields: Partial<ApiToken> }[] = [];
  if (typeof input === 'string') {
    const items = input.split(',').map((item) => item.trim());
    if (items.length === 1 && items[0] === '') {
      throw new ValidationError('api tokens', [
        { path: '', message: 'no token configured (expected name:role:token,…)' },
      ]);
    }
    items.forEach((item, index) => {
      const path = `[${index}]`;
      const first = item.indexOf(':');
      const second = first === -1 ? -1 : item.indexOf(':', first + 1);
      if (second === -1) {
        issues.push({ path, message: 'must be name:role:token' });
        return;
      }
      entries.push({
        path,
        fields: {
          name: item.slice(0, first).trim(),
          role: item.slice(first + 1, second).trim() as Role,
          token: item.slice(second + 1).trim(),
        },
      });
    });
  } else {
    if (input.length === 0) {
      throw new ValidationError('api tokens', [{ path: '', message: 'no token configured' }]);
    }
    input.forEach((fields, index) => {
      entries.push({ path: `[${index}]`, fields });
    });
  }

  const names = new Set<string>();
  const digests = new Set<string>();
  const tokens: ApiToken[] = [];
  for (const { path, fields } of entries) {
    const { name, role, token } = fields;
    let ok = true;
    const problem = (field: string, message: string) => {
      issues.push({ path: `${path}.${field}`, message });
      ok = false;
    };
    if (typeof name !== 'string' || !TOKEN_NAME.test(name)) {
      problem(
        'name',
        `must be 1 to 63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit (got ${JSON.stringify(name ?? '')})`,
      );
    } else if (names.has(name)) {
      problem('name', `"${name}" is used by more than one token`);
    } else {
      names.add(name);
    }
    if (typeof role !== 'string' || !ROLES.includes(role)) {
      problem('role', `must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role ?? '')})`);
    }
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
      problem('token', `must be at least ${MIN_TOKEN_LENGTH} characters long`);
    } else if (!TOKEN_CHARS.test(token)) {
      problem('token', 'must be printable ASCII without spaces');
    } else {
      const digest = sha256(token).toString('hex');
      if (digests.has(digest)) problem('token', 'is the same as an earlier entry’s token');
      digests.add(digest);
    }
    if (ok && name !== undefined && role !== undefined && token !== undefined) {
      tokens.push({ name, role, token });
    }
  }
  if (issues.length > 0) throw new ValidationError('api tokens', issues);
  return tokens;
}

/** What an `Authorization` header amounts to. */
export type Authentication =
  | { readonly ok: true; readonly actor: Actor }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'unknown' };

export interface Authenticator {
  /** Checks an `Authorization` header value (`Bearer <token>`). */
  authenticate(header: string | undefined): Authentication;
}

/** An authenticator over validated tokens; keeps only their SHA-256 digests. */
export function createAuthenticator(tokens: readonly ApiToken[]): Authenticator {
  const known = parseApiTokens(tokens).map((t) => ({
    digest: sha256(t.token),
    actor: { name: t.name, role: t.role } satisfies Actor,
  }));
  return {
    authenticate(header) {
      if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (!match?.[1]) return { ok: false, reason: 'malformed' };
      const presented = sha256(match[1]);
      // Every configured token is compared, whether or not an earlier one matched.
      let actor: Actor | undefined;
      for (const candidate of known) {
        if (timingSafeEqual(presented, candidate.digest)) actor = candidate.actor;
      }
      return actor ? { ok: true, actor } : { ok: false, reason: 'unknown' };
    },
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
