/**
 * Gateway API (`pkg/router/gateway_api.go`, provider `gatewayapi:v1`): HTTPRoute `<svc>` with
 * `parentRefs` = the target's gateway refs, `hostnames` = its hosts, and one rule whose
 * `backendRefs` are `<svc>-primary` and `<svc>-canary` with the weights. A/B: the first rule has
 * the matches (headers `Exact` / `RegularExpression`; a cookie as a `RegularExpression` on the
 * `cookie` header) and the weights, a second rule sends everything else to the primary. Mirror:
 * a `RequestMirror` filter to `<svc>-canary` on the weighted rule, with `percent` below 100.
 *
 * Not written (yet): session affinity (the `RouteSplit` carries none), `service.match`,
 * timeouts, rewrites. `getRoutes` does not wait for the parents' `Accepted` condition as Flagger
 * does: no gateway controller runs next to the simulator.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import { apiVersionOf, type CustomObject, type KubeClient } from '../kube/kube-client.ts';
import { updateWithRetry } from '../kube/update.ts';
import { isOwned, NotOwnedError, ownedMetadata, TARGET_ANNOTATION } from '../ownership.ts';
import {
  ALL_TO_PRIMARY,
  type RouteMatch,
  type RouterTarget,
  type RouteSplit,
  type StringMatch,
  type TrafficRouter,
  TrafficRouterKind,
} from './traffic-router.ts';

export interface BackendRef {
  group: string;
  kind: string;
  name: string;
  port?: number;
  weight?: number;
}
export interface HeaderMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}
export interface HttpRouteMatch {
  path: { type: 'PathPrefix'; value: string };
  headers?: HeaderMatch[];
}
export interface HttpRouteFilter {
  type: string;
  requestMirror?: {
    backendRef: BackendRef;
    percent?: number;
    fraction?: { numerator: number; denominator?: number };
  };
}
export interface HttpRouteRule {
  matches?: HttpRouteMatch[];
  filters?: HttpRouteFilter[];
  backendRefs?: BackendRef[];
}

const primaryService = (t: RouterTarget) => `${t.serviceName}-primary`;
const canaryService = (t: RouterTarget) => `${t.serviceName}-canary`;
const ALL_PATHS: HttpRouteMatch = { path: { type: 'PathPrefix', value: '/' } };

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function unescapeRegex(text: string): string | undefined {
  const plain = text.replace(/\\(.)/g, '$1');
  return escapeRegex(plain) === text ? plain : undefined;
}

/** A non-exact string match as a full-match regular expression. */
export function regexOf(match: StringMatch): string {
  if ('exact' in match) return escapeRegex(match.exact);
  if ('prefix' in match) return `${escapeRegex(match.prefix)}.*`;
  if ('suffix' in match) return `.*${escapeRegex(match.suffix)}`;
  return match.regex;
}

/** Reads back what `regexOf` wrote: a prefix or suffix when it is one, else the regex. */
export function stringMatchOfRegex(regex: string): StringMatch {
  if (regex.endsWith('.*') && !regex.endsWith('\\.*')) {
    const prefix = unescapeRegex(regex.slice(0, -2));
    if (prefix !== undefined) return { prefix };
  }
  if (regex.startsWith('.*')) {
    const suffix = unescapeRegex(regex.slice(2));
    if (suffix !== undefined) return { suffix };
  }
  return { regex };
}

/** A cookie condition on the `cookie` header (Flagger's form, tolerating `; ` separators). */
function cookieRegex(name: string, match: StringMatch): string {
  const value =
    'exact' in match
      ? escapeRegex(match.exact)
      : 'prefix' in match
        ? `${escapeRegex(match.prefix)}[^;]*`
        : 'suffix' in match
          ? `[^;]*${escapeRegex(match.suffix)}`
          : match.regex;
  return `^(.*?;\\s*)?(${escapeRegex(name)}=${value})(;.*)?$`;
}
const COOKIE_EXACT = /^\^\(\.\*\?;\\s\*\)\?\(([^=]+)=(.*)\)\(;\.\*\)\?\$$/;

export function gatewayMatch(match: RouteMatch): HttpRouteMatch {
  const headers: HeaderMatch[] = Object.entries(match.headers).map(([name, m]) =>
    'exact' in m
      ? { type: 'Exact', name, value: m.exact }
      : { type: 'RegularExpression', name, value: regexOf(m) },
  );
  const cookies = Object.entries(match.cookies);
  const hasCookieHeader = headers.some((h) => h.name.toLowerCase() === 'cookie');
  if (cookies.length > 1 || (cookies.length === 1 && hasCookieHeader)) {
    throw new AviaryError(
      ErrorCode.Validation,
      'gateway-api router: an HTTPRoute match has one condition per header, so at most one cookie condition (and no cookie header condition) per match',
    );
  }
  const [cookie] = cookies;
  if (cookie !== undefined) {
    headers.push({ type: 'RegularExpression', name: 'cookie', value: cookieRegex(...cookie) });
  }
  return { ...ALL_PATHS, headers };
}

function parseMatch(raw: HttpRouteMatch): RouteMatch {
  const headers: Record<string, StringMatch> = {};
  const cookies: Record<string, StringMatch> = {};
  for (const h of raw.headers ?? []) {
    if (h.type !== 'RegularExpression') {
      headers[h.name] = { exact: h.value };
      continue;
    }
    const cookie = h.name.toLowerCase() === 'cookie' ? COOKIE_EXACT.exec(h.value) : null;
    const name = cookie?.[1] === undefined ? undefined : unescapeRegex(cookie[1]);
    const value = cookie?.[2] === undefined ? undefined : unescapeRegex(cookie[2]);
    if (name !== undefined && value !== undefined) cookies[name] = { exact: value };
    else headers[h.name] = stringMatchOfRegex(h.value);
  }
  return { headers, cookies };
}

function serviceRef(name: string, port: number): BackendRef {
  return { group: '', kind: 'Service', name, ...(port > 0 ? { port } : {}) };
}

function backendRef(name: string, port: number, weight: number): BackendRef {
  return { ...serviceRef(name, port), weight };
}

/** The `spec.rules` Flagger writes for a split; `port` is the Services' port. */
export function httpRouteRules(
  target: RouterTarget,
  port: number,
  routes: RouteSplit,
): HttpRouteRule[] {
  const weighted: HttpRouteRule = {
    backendRefs: [
      backendRef(primaryService(target), port, routes.primaryWeightPercent),
      backendRef(canaryService(target), port, routes.canaryWeightPercent),
    ],
  };
  if (routes.mirror) {
    const w = routes.mirrorWeightPercent;
    const mirrorRef = serviceRef(canaryService(target), port);
    weighted.filters = [
      {
        type: 'RequestMirror',
        requestMirror: { backendRef: mirrorRef, ...(w > 0 && w < 100 ? { percent: w } : {}) },
      },
    ];
  }
  if (routes.matches.length === 0) return [{ matches: [ALL_PATHS], ...weighted }];
  return [
    { matches: routes.matches.map(gatewayMatch), ...weighted },
    { matches: [ALL_PATHS], backendRefs: [backendRef(primaryService(target), port, 100)] },
  ];
}

function parentRefs(target: RouterTarget) {
  return (target.gatewayRefs ?? []).map((ref) => ({
    group: 'gateway.networking.k8s.io',
    kind: 'Gateway',
    name: ref.name,
    ...(ref.namespace !== undefined && ref.namespace !== '' ? { namespace: ref.namespace } : {}),
    ...(ref.sectionName !== undefined && ref.sectionName !== ''
      ? { sectionName: ref.sectionName }
      : {}),
  }));
}

function rulesOf(route: CustomObject): HttpRouteRule[] {
  const rules = route.spec?.rules;
  return Array.isArray(rules) ? (rules as HttpRouteRule[]) : [];
}

/** The rule that has the canary backend (the weighted one). */
function weightedRule(target: RouterTarget, rules: readonly HttpRouteRule[]) {
  return rules.find((r) => (r.backendRefs ?? []).some((b) => b.name === canaryService(target)));
}

/** The port the existing rules give the primary/canary Services; 0 when none. */
function portOf(target: RouterTarget, rules: readonly HttpRouteRule[]): number {
  const names = new Set([primaryService(target), canaryService(target)]);
  for (const rule of rules) {
    for (const ref of rule.backendRefs ?? []) {
      if (names.has(ref.name) && ref.port !== undefined) return ref.port;
    }
  }
  return 0;
}

export function createGatewayApiRouter(kube: KubeClient): TrafficRouter {
  async function readRoute(target: RouterTarget, signal: AbortSignal) {
    const route = await kube.get('HTTPRoute', target.namespace, target.serviceName, signal);
    if (route === undefined) {
      throw new AviaryError(
        ErrorCode.Unavailable,
        `HTTPRoute ${target.namespace}/${target.serviceName} does not exist: reconcile first`,
      );
    }
    if (!isOwned(route)) throw new NotOwnedError('HTTPRoute', target.namespace, target.serviceName);
    return route;
  }

  return {
    kind: TrafficRouterKind.GatewayApi,

    async reconcile(target, signal) {
      if ((target.gatewayRefs ?? []).length === 0) {
        throw new AviaryError(
          ErrorCode.Validation,
          'gateway-api router: service.gatewayRefs must name the HTTPRoute parents (Gateways)',
        );
      }
      const specOf = (rules: HttpRouteRule[]) => ({
        parentRefs: parentRefs(target),
        ...(target.hosts.length > 0 ? { hostnames: [...target.hosts] } : {}),
        rules,
      });
      const desired: CustomObject = {
        apiVersion: apiVersionOf('HTTPRoute'),
        kind: 'HTTPRoute',
        metadata: ownedMetadata(target.serviceName, target.namespace, target.targetName),
        spec: specOf(httpRouteRules(target, target.port, ALL_TO_PRIMARY)),
      };
      const { namespace, serviceName: name } = target;
      const current = await kube.get('HTTPRoute', namespace, name, signal);
      if (current === undefined) {
        const created = await kube.create('HTTPRoute', namespace, desired, signal);
        if (created.outcome === 'created') return;
      }
      // Parents and hostnames follow the target; the rules (weights, matches) are kept, with the
      // Services' port brought up to date.
      const result = await updateWithRetry(
        kube,
        'HTTPRoute',
        namespace,
        name,
        (route) => {
          if (!isOwned(route)) throw new NotOwnedError('HTTPRoute', namespace, name);
          const existing = rulesOf(route);
          const routes = weightedRule(target, existing) === undefined ? undefined : existing;
          const rules =
            routes === undefined
              ? httpRouteRules(target, target.port, ALL_TO_PRIMARY)
              : withPort(target, routes, target.port);
          const spec: Record<string, unknown> = { ...route.spec, ...specOf(rules) };
          if (target.hosts.length === 0) delete spec.hostnames;
          if (JSON.stringify(spec) === JSON.stringify(route.spec)) return undefined;
          return { ...route, spec };
        },
        signal,
      );
      if (result.outcome === 'not-found') {
        throw new AviaryError(
          ErrorCode.Concurrency,
          `HTTPRoute ${name} vanished while reconciling`,
        );
      }
    },

    async setRoutes(target, routes, signal) {
      httpRouteRules(target, 0, routes); // refuses what an HTTPRoute cannot express, before I/O
      await readRoute(target, signal);
      await updateWithRetry(
        kube,
        'HTTPRoute',
        target.namespace,
        target.serviceName,
        (route) => {
          if (!isOwned(route))
            throw new NotOwnedError('HTTPRoute', target.namespace, target.serviceName);
          const port = portOf(target, rulesOf(route)) || target.port;
          const rules = httpRouteRules(target, port, routes);
          if (JSON.stringify(rules) === JSON.stringify(route.spec?.rules)) return undefined;
          return { ...route, spec: { ...route.spec, rules } };
        },
        signal,
      );
    },

    async getRoutes(target, signal) {
      const route = await readRoute(target, signal);
      const rule = weightedRule(target, rulesOf(route));
      if (rule === undefined) {
        throw new AviaryError(
          ErrorCode.Unavailable,
          `HTTPRoute ${target.serviceName} has no rule with the backend ${canaryService(target)}`,
        );
      }
      const weightOf = (name: string) =>
        (rule.backendRefs ?? []).find((b) => b.name === name)?.weight ?? 1;
      const mirror = (rule.filters ?? []).find(
        (f) =>
          f.type === 'RequestMirror' && f.requestMirror?.backendRef.name === canaryService(target),
      )?.requestMirror;
      const fraction = mirror?.fraction;
      const mirrorPercent =
        mirror?.percent ??
        (fraction === undefined ? 0 : (fraction.numerator / (fraction.denominator ?? 100)) * 100);
      const matches = (rule.matches ?? []).filter((m) => (m.headers ?? []).length > 0);
      return {
        primaryWeightPercent: weightOf(primaryService(target)),
        canaryWeightPercent: weightOf(canaryService(target)),
        matches: matches.map(parseMatch),
        mirror: mirror !== undefined,
        mirrorWeightPercent: mirrorPercent >= 100 ? 0 : Math.round(mirrorPercent),
      };
    },

    async finalize(target, signal) {
      const { namespace, serviceName: name } = target;
      const current = await kube.get('HTTPRoute', namespace, name, signal);
      if (current === undefined || !isOwned(current)) return;
      if (current.metadata?.annotations?.[TARGET_ANNOTATION] !== target.targetName) return;
      await kube.delete('HTTPRoute', namespace, name, signal);
    },
  };
}

/** The rules with every reference to the primary/canary Service on `port` (when known). */
function withPort(target: RouterTarget, rules: HttpRouteRule[], port: number): HttpRouteRule[] {
  if (port <= 0) return rules;
  const names = new Set([primaryService(target), canaryService(target)]);
  const fix = (ref: BackendRef): BackendRef => (names.has(ref.name) ? { ...ref, port } : ref);
  return rules.map((rule) => ({
    ...rule,
    ...(rule.backendRefs === undefined ? {} : { backendRefs: rule.backendRefs.map(fix) }),
    ...(rule.filters === undefined
      ? {}
      : {
          filters: rule.filters.map((f) =>
            f.requestMirror === undefined
              ? f
              : {
                  ...f,
                  requestMirror: {
                    ...f.requestMirror,
                    backendRef: fix(f.requestMirror.backendRef),
                  },
                },
          ),
        }),
  }));
}
