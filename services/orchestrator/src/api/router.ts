/**
 * A small path router: patterns such as `/api/v1/releases/{id}/events`, matched segment by
 * segment (percent-decoded), telling a path that no route has (404) from a method that its routes
 * do not take (405 with the allowed methods).
 */
import { badRequest } from './http-errors.ts';

export interface RouteDefinition<T> {
  readonly method: string;
  /** `/literal/{param}/…`; a parameter matches one non-empty segment. */
  readonly pattern: string;
  readonly value: T;
}

export type RouteMatch<T> =
  | { readonly kind: 'found'; readonly value: T; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

interface CompiledRoute<T> {
  readonly method: string;
  readonly segments: readonly { readonly literal?: string; readonly param?: string }[];
  readonly value: T;
}

export interface Router<T> {
  /** Matches a request's method and path (without the query). */
  match(method: string, path: string): RouteMatch<T>;
}

export function createRouter<T>(routes: readonly RouteDefinition<T>[]): Router<T> {
  const compiled: CompiledRoute<T>[] = routes.map((route) => ({
    method: route.method,
    value: route.value,
    segments: route.pattern
      .split('/')
      .slice(1)
      .map((segment) => {
        const param = /^\{([A-Za-z]\w*)\}$/.exec(segment)?.[1];
        return param ? { param } : { literal: segment };
      }),
  }));
  return {
    match(method, path) {
      const segments = path.split('/').slice(1).map(decodeSegment);
      const allow: string[] = [];
      for (const route of compiled) {
        const params = matchSegments(route.segments, segments);
        if (!params) continue;
        if (route.method === method) return { kind: 'found', value: route.value, params };
        if (!allow.includes(route.method)) allow.push(route.method);
      }
      return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
    },
  };
}

function matchSegments(
  pattern: CompiledRoute<unknown>['segments'],
  segments: readonly string[],
): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i];
    const actual = segments[i];
    if (expected === undefined || actual === undefined) return undefined;
    if (expected.param !== undefined) {
      if (actual === '') return undefined;
      params[expected.param] = actual;
    } else if (expected.literal !== actual) {
      return undefined;
    }
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest('path', `segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}
