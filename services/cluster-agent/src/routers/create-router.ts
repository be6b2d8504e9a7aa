import type { KubeClient } from '../kube/kube-client.ts';
import { createIstioRouter } from './istio.ts';
import { createNoneRouter } from './none.ts';
import type { TrafficRouter, TrafficRouterKind } from './traffic-router.ts';

/** The router of a kind. Every kind has one; there is no fallback. */
export function createRouter(kind: TrafficRouterKind, kube: KubeClient): TrafficRouter {
  switch (kind) {
    case 'istio':
      return createIstioRouter(kube);
    case 'none':
      return createNoneRouter();
    default: {
      const unknown: never = kind;
      throw new Error(`unknown router kind ${String(unknown)}`);
    }
  }
}
