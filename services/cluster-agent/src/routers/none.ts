/**
 * The `none` router (Flagger's `kubernetes` provider, `nop.go`): no routing object. Traffic
 * follows the apex Service, which selects the primary; a blue/green release switches it by
 * promotion, so the split is always all-primary and `setRoutes` has nothing to write.
 */
import { ALL_TO_PRIMARY, type TrafficRouter, TrafficRouterKind } from './traffic-router.ts';

export function createNoneRouter(): TrafficRouter {
  return {
    kind: TrafficRouterKind.None,
    async reconcile() {},
    async setRoutes() {},
    async getRoutes() {
      return ALL_TO_PRIMARY;
    },
    async finalize() {},
  };
}
