/**
 * Istio (`pkg/router/istio.go`): VirtualService `<svc>` with one weighted HTTP route to
 * `<svc>-primary` and `<svc>-canary`, and DestinationRules `<svc>-primary` / `<svc>-canary`.
 * A/B: a first route with the matches carries the weights, a second sends everything else to the
 * primary. Cookie matches become a regex on the `cookie` header, as Flagger writes them. Mirror:
 * `mirror.host` = canary plus `mirrorPercentage` when below 100.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import { apiVersionOf, type CustomObject, type KubeClient } from '../kube/kube-client.ts';
import { updateWithRetry } from '../kube/update.ts';
import { isOwned, NotOwnedError, ownedMetadata } from '../ownership.ts';
import {
  type RouteMatch,
  type RouterTarget,
  type RouteSplit,
  type StringMatch,
  type TrafficRouter,
  TrafficRouterKind,
} from './traffic-router.ts';

interface Destination {
  destination: { host: string };
  weight?: number;
}
interface HttpRoute {
  match?: Record<string, unknown>[];
  route: Destination[];
  mirror?: { host: string };
  mirrorPercentage?: { value: number };
}

const primaryHost = (t: RouterTarget) => `${t.serviceName}-primary`;
const canaryHost = (t: RouterTarget) => `${t.serviceName}-canary`;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function istioStringMatch(match: StringMatch): Record<string, string> {
  if ('exact' in match) return { exact: match.exact };
  if ('prefix' in match) return { prefix: match.prefix };
  if ('suffix' in match) return { regex: `.*${escapeRegex(match.suffix)}` };
  return { regex: match.regex };
}

/** Flagger's cookie match: `^(.*?;)?(<name>=<value>)(;.*)?$` on the cookie header. */
function cookieRegex(name: string, match: StringMatch): string {
  const value =
    'exact' in match
      ? escapeRegex(match.exact)
      : 'prefix' in match
        ? `${escapeRegex(match.prefix)}[^;]*`
        : 'suffix' in match
          ? `[^;]*${escapeRegex(match.suffix)}`
          : match.regex;
  return `^(.*?;)?(${escapeRegex(name)}=${value})(;.*)?$`;
}

export function istioMatch(match: RouteMatch): Record<string, unknown> {
  const headers: Record<string, Record<string, string>> = {};
  for (const [name, m] of Object.entries(match.headers)) headers[name] = istioStringMatch(m);
  const cookies = Object.entries(match.cookies);
  if (cookies.length > 1 || (cookies.length === 1 && 'cookie' in headers)) {
    throw new AviaryError(
      ErrorCode.Validation,
      'Istio matches the cookie header with one regex: at most one cookie condition per match',
    );
  }
  const [cookie] = cookies;
  if (cookie !== undefined) headers.cookie = { regex: cookieRegex(cookie[0], cookie[1]) };
  return { headers };
}

/** The `spec.http` Flagger writes for a split. */
export function istioHttpRoutes(target: RouterTarget, routes: RouteSplit): HttpRoute[] {
  const weighted: Destination[] = [
    { destination: { host: primaryHost(target) }, weight: routes.primaryWeightPercent },
    { destination: { host: canaryHost(target) }, weight: routes.canaryWeightPercent },
  ];
  const mirror = (route: HttpRoute): HttpRoute => {
    if (!routes.mirror) return route;
    const w = routes.mirrorWeightPercent;
    return {
      ...route,
      mirror: { host: canaryHost(target) },
      ...(w > 0 && w < 100 ? { mirrorPercentage: { value: w } } : {}),
    };
  };
  if (routes.matches.length === 0) return [mirror({ route: weighted })];
  return [
    mirror({ match: routes.matches.map(istioMatch), route: weighted }),
    { route: [{ destination: { host: primaryHost(target) }, weight: 100 }] },
  ];
}

function parseStringMatch(m: Record<string, unknown>): StringMatch | undefined {
  if (typeof m.exact === 'string') return { exact: m.exact };
  if (typeof m.prefix === 'string') return { prefix: m.prefix };
  if (typeof m.regex === 'string') return { regex: m.regex };
  return undefined;
}

const COOKIE_EXACT = /^\^\(\.\*\?;\)\?\(([^=]+)=(.*)\)\(;\.\*\)\?\$$/;

function unescapeRegex(text: string): string | undefined {
  const plain = text.replace(/\\(.)/g, '$1');
  return escapeRegex(plain) === text ? plain : undefined;
}

/** Reads matches back from what `istioMatch` wrote (others are kept as header regexes). */
function parseMatch(raw: Record<string, unknown>): RouteMatch {
  const headers: Record<string, StringMatch> = {};
  const cookies: Record<string, StringMatch> = {};
  const rawHeaders = (raw.headers ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, m] of Object.entries(rawHeaders)) {
    const parsed = parseStringMatch(m);
    if (parsed === undefined) continue;
    if (name === 'cookie' && 'regex' in parsed) {
      const cookie = COOKIE_EXACT.exec(parsed.regex);
      const cookieName = cookie?.[1] !== undefined ? unescapeRegex(cookie[1]) : undefined;
      const value = cookie?.[2] !== undefined ? unescapeRegex(cookie[2]) : undefined;
      if (cookieName !== undefined && value !== undefined) {
        cookies[cookieName] = { exact: value };
        continue;
      }
    }
    headers[name] = parsed;
  }
  return { headers, cookies };
}

export function createIstioRouter(kube: KubeClient): TrafficRouter {
  const vsSpec = (target: RouterTarget, http: HttpRoute[]) => ({
    hosts: [target.serviceName, ...target.hosts],
    ...(target.gateways.length > 0 ? { gateways: [...target.gateways] } : {}),
    http,
  });

  async function ensureOwned(
    kind: 'VirtualService' | 'DestinationRule',
    target: RouterTarget,
    desired: CustomObject,
    keep: (current: CustomObject) => CustomObject | undefined,
    signal: AbortSignal,
  ) {
    const name = desired.metadata?.name ?? '';
    const current = await kube.get(kind, target.namespace, name, signal);
    if (current === undefined) {
      const created = await kube.create(kind, target.namespace, desired, signal);
      if (created.outcome === 'created') return;
    }
    const result = await updateWithRetry(
      kube,
      kind,
      target.namespace,
      name,
      (obj) => {
        if (!isOwned(obj)) throw new NotOwnedError(kind, target.namespace, name);
        return keep(obj);
      },
      signal,
    );
    if (result.outcome === 'not-found') {
      throw new AviaryError(ErrorCode.Concurrency, `${kind} ${name} vanished while reconciling`);
    }
  }

  async function readVirtualService(target: RouterTarget, signal: AbortSignal) {
    const vs = await kube.get('VirtualService', target.namespace, target.serviceName, signal);
    if (vs === undefined) {
      throw new AviaryError(
        ErrorCode.Unavailable,
        `VirtualService ${target.namespace}/${target.serviceName} does not exist: reconcile first`,
      );
    }
    if (!isOwned(vs))
      throw new NotOwnedError('VirtualService', target.namespace, target.serviceName);
    return vs;
  }

  return {
    kind: TrafficRouterKind.Istio,

    async reconcile(target, signal) {
      for (const host of [primaryHost(target), canaryHost(target)]) {
        const desired: CustomObject = {
          apiVersion: apiVersionOf('DestinationRule'),
          kind: 'DestinationRule',
          metadata: ownedMetadata(host, target.namespace, target.targetName),
          spec: { host },
        };
        await ensureOwned(
          'DestinationRule',
          target,
          desired,
          (current) =>
            current.spec?.host === host
              ? undefined
              : { ...current, spec: { ...current.spec, host } },
          signal,
        );
      }
      const desired: CustomObject = {
        apiVersion: apiVersionOf('VirtualService'),
        kind: 'VirtualService',
        metadata: ownedMetadata(target.serviceName, target.namespace, target.targetName),
        spec: vsSpec(
          target,
          istioHttpRoutes(target, {
            primaryWeightPercent: 100,
            canaryWeightPercent: 0,
            matches: [],
            mirror: false,
            mirrorWeightPercent: 0,
          }),
        ),
      };
      // Existing routes (weights) are kept; hosts and gateways follow the spec.
      await ensureOwned(
        'VirtualService',
        target,
        desired,
        (current) => {
          const http = (current.spec?.http ?? desired.spec?.http) as HttpRoute[];
          const spec = vsSpec(target, http);
          if (JSON.stringify(spec) === JSON.stringify(current.spec)) return undefined;
          return { ...current, spec };
        },
        signal,
      );
    },

    async setRoutes(target, routes, signal) {
      const http = istioHttpRoutes(target, routes);
      await readVirtualService(target, signal);
      await updateWithRetry(
        kube,
        'VirtualService',
        target.namespace,
        target.serviceName,
        (current) => {
          if (!isOwned(current))
            throw new NotOwnedError('VirtualService', target.namespace, target.serviceName);
          return { ...current, spec: { ...current.spec, http } };
        },
        signal,
      );
    },

    async getRoutes(target, signal) {
      const vs = await readVirtualService(target, signal);
      const http = (vs.spec?.http ?? []) as HttpRoute[];
      const route = http.find((r) =>
        r.route.some((d) => d.destination.host === canaryHost(target)),
      );
      if (route === undefined) {
        throw new AviaryError(
          ErrorCode.Unavailable,
          `VirtualService ${target.serviceName} has no route to ${canaryHost(target)}`,
        );
      }
      const weightOf = (host: string) =>
        route.route.find((d) => d.destination.host === host)?.weight ?? 0;
      return {
        primaryWeightPercent: weightOf(primaryHost(target)),
        canaryWeightPercent: weightOf(canaryHost(target)),
        matches: (route.match ?? []).map(parseMatch),
        mirror: route.mirror?.host === canaryHost(target),
        mirrorWeightPercent: route.mirror === undefined ? 0 : (route.mirrorPercentage?.value ?? 0),
      };
    },

    async finalize(target, signal) {
      const objects = [
        ['VirtualService', target.serviceName],
        ['DestinationRule', primaryHost(target)],
        ['DestinationRule', canaryHost(target)],
      ] as const;
      for (const [kind, name] of objects) {
        const current = await kube.get(kind, target.namespace, name, signal);
        if (current === undefined || !isOwned(current)) continue;
        await kube.delete(kind, target.namespace, name, signal);
      }
    },
  };
}
