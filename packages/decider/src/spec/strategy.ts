import { type Provider, RouterKind, Strategy } from './types.ts';

/**
 * Flagger's `DeploymentStrategy()` plus Aviary's split of blue/green by mirroring:
 * `iterations > 0` with a non-empty `match` is A/B testing; `iterations > 0` otherwise is
 * blue/green (`blue-green-mirror` when `mirror` is set); everything else is the progressive
 * canary (with `mirror`, one mirrored tick precedes the first weight step).
 */
export function deriveStrategy(analysis: {
  readonly iterations: number;
  readonly match: readonly unknown[];
  readonly mirror: boolean;
}): Strategy {
  if (analysis.iterations > 0 && analysis.match.length > 0) return Strategy.AB;
  if (analysis.iterations > 0)
    return analysis.mirror ? Strategy.BlueGreenMirror : Strategy.BlueGreen;
  return Strategy.Canary;
}

/** Which traffic-router implementation serves a provider (Linkerd is SMI's TrafficSplit). */
export function routerOf(provider: Provider): RouterKind {
  if (provider === 'istio') return RouterKind.Istio;
  if (provider === 'nginx') return RouterKind.Nginx;
  if (provider === 'kubernetes') return RouterKind.None;
  if (provider === 'linkerd' || provider.startsWith('smi:')) return RouterKind.Smi;
  return RouterKind.GatewayApi;
}

/**
 * Whether a router can mirror traffic for a strategy (Flagger: Istio mirrors for canary and
 * blue/green; Gateway API only for blue/green; NGINX, SMI and no-router never).
 */
export function supportsMirror(router: RouterKind, strategy: Strategy): boolean {
  if (router === RouterKind.Istio) return strategy !== Strategy.AB;
  if (router === RouterKind.GatewayApi) return strategy === Strategy.BlueGreenMirror;
  return false;
}

/** Sticky sessions exist in Flagger's Istio and Gateway API routers only. */
export function supportsSessionAffinity(router: RouterKind): boolean {
  return router === RouterKind.Istio || router === RouterKind.GatewayApi;
}

/** A/B header matching: every router except SMI and no-router. */
export function supportsMatch(router: RouterKind): boolean {
  return (
    router === RouterKind.Istio || router === RouterKind.GatewayApi || router === RouterKind.Nginx
  );
}
