import { RouterKind } from '@aviary/proto';
import type { KubeClient } from '../kube/kube-client.ts';
import { createGatewayApiRouter } from './gateway-api.ts';
import { createIstioRouter } from './istio.ts';
import { createNginxRouter } from './nginx.ts';
import { createNoneRouter } from './none.ts';
import { createSmiRouter } from './smi.ts';
import { type TrafficRouter, TrafficRouterKind } from './traffic-router.ts';

/** The router of a kind. Every kind has one; there is no fallback. */
export function createRouter(kind: TrafficRouterKind, kube: KubeClient): TrafficRouter {
  switch (kind) {
    case 'istio':
      return createIstioRouter(kube);
    case 'gateway-api':
      return createGatewayApiRouter(kube);
    case 'nginx':
      return createNginxRouter(kube);
    case 'smi':
      return createSmiRouter(kube);
    case 'none':
      return createNoneRouter();
    default: {
      const unknown: never = kind;
      throw new Error(`unknown router kind ${String(unknown)}`);
    }
  }
}

/**
 * The router kind of a proto `RouterKind`, or `undefined` when it names none (`UNSPECIFIED`, or a
 * value this agent does not know): callers refuse the command (`UnsupportedRouter`).
 */
export function trafficRouterKindOf(kind: RouterKind): TrafficRouterKind | undefined {
  switch (kind) {
    case RouterKind.ISTIO:
      return TrafficRouterKind.Istio;
    case RouterKind.GATEWAY_API:
      return TrafficRouterKind.GatewayApi;
    case RouterKind.NGINX:
      return TrafficRouterKind.Nginx;
    case RouterKind.SMI:
      return TrafficRouterKind.Smi;
    case RouterKind.NONE:
      return TrafficRouterKind.None;
    case RouterKind.UNSPECIFIED:
      return undefined;
    default: {
      const unknown: never = kind;
      return unknown;
    }
  }
}
