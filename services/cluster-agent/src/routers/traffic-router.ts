/**
 * Traffic routers: how a target's traffic is split between `<svc>-primary` and `<svc>-canary`
 * (Flagger's `pkg/router/router.go` `Interface`). One file per router, `create-router.ts` picks
 * one; `none` is a real implementation for blue/green without a mesh or ingress.
 *
 * Every router keeps Flagger's shape of the routing object (see the reference §5) and follows
 * the agent's ownership rule: it creates objects labelled `app.kubernetes.io/managed-by: aviary`
 * and throws `NotOwnedError` instead of changing an object with the same name it does not own.
 */
import type { CustomObject } from '../kube/kube-client.ts';

export const TrafficRouterKind = {
  Istio: 'istio',
  GatewayApi: 'gateway-api',
  Nginx: 'nginx',
  Smi: 'smi',
  None: 'none',
} as const;
export type TrafficRouterKind = (typeof TrafficRouterKind)[keyof typeof TrafficRouterKind];

/** How a header or cookie value must match; exactly one field. */
export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly regex: string };

/** Every condition must hold (AND); the matches of a split are alternatives (OR). */
export interface RouteMatch {
  readonly headers: Readonly<Record<string, StringMatch>>;
  readonly cookies: Readonly<Record<string, StringMatch>>;
}

/** Router-neutral routes (the proto `aviary.agent.v1.Routes` without session affinity). */
export interface RouteSplit {
  readonly primaryWeightPercent: number;
  readonly canaryWeightPercent: number;
  /** A/B: only matching requests follow the weights; the rest go to the primary. */
  readonly matches: readonly RouteMatch[];
  readonly mirror: boolean;
  /** Share mirrored when `mirror`; 0 means 100. */
  readonly mirrorWeightPercent: number;
}

/** A Gateway API parent of the HTTPRoute (Flagger's `service.gatewayRefs`). */
export interface GatewayParentRef {
  readonly name: string;
  /** Empty or absent: the route's namespace. */
  readonly namespace?: string;
  readonly sectionName?: string;
}

/** What a router needs to know about the target (Flagger's `spec.service`). */
export interface RouterTarget {
  readonly namespace: string;
  /** The target Deployment (for ownership annotations). */
  readonly targetName: string;
  /** Apex Service name; names the routing object. */
  readonly serviceName: string;
  readonly port: number;
  readonly hosts: readonly string[];
  /** Istio gateways; empty: the mesh. */
  readonly gateways: readonly string[];
  /** Gateway API parents of the HTTPRoute (required by `reconcile` of `gateway-api`). */
  readonly gatewayRefs?: readonly GatewayParentRef[];
}

export interface TrafficRouter {
  readonly kind: TrafficRouterKind;
  /** Creates the routing object with all traffic on the primary, or fixes it (keeping weights). */
  reconcile(target: RouterTarget, signal: AbortSignal): Promise<void>;
  setRoutes(target: RouterTarget, routes: RouteSplit, signal: AbortSignal): Promise<void>;
  /** The routes as the routing object holds them now. */
  getRoutes(target: RouterTarget, signal: AbortSignal): Promise<RouteSplit>;
  /** Removes what `reconcile` created; traffic then follows the apex Service. */
  finalize(target: RouterTarget, signal: AbortSignal): Promise<void>;
}

export const ALL_TO_PRIMARY: RouteSplit = Object.freeze({
  primaryWeightPercent: 100,
  canaryWeightPercent: 0,
  matches: [],
  mirror: false,
  mirrorWeightPercent: 0,
});

/** Checks the invariants every router relies on; returns the problems found. */
export function routeSplitProblems(routes: RouteSplit): string[] {
  const problems: string[] = [];
  const { primaryWeightPercent: p, canaryWeightPercent: c } = routes;
  for (const [name, w] of [
    ['primaryWeightPercent', p],
    ['canaryWeightPercent', c],
    ['mirrorWeightPercent', routes.mirrorWeightPercent],
  ] as const) {
    if (!Number.isInteger(w) || w < 0 || w > 100) problems.push(`${name} must be 0-100`);
  }
  if (p + c !== 100) problems.push(`weights must sum to 100, got ${p} + ${c}`);
  for (const match of routes.matches) {
    if (Object.keys(match.headers).length + Object.keys(match.cookies).length === 0)
      problems.push('a match must have at least one header or cookie condition');
  }
  return problems;
}

export type { CustomObject };
