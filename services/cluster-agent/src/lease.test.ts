import { RouterKind } from '@aviary/proto';
import { describe, expect, it } from 'vitest';
import { ALL_TO_PRIMARY, createLease } from './lease.ts';
import type { RouteSplit, TrafficRouter } from './routers/traffic-router.ts';

const signal = new AbortController().signal;
const quiet = { info() {}, warn() {}, error() {} };
const canary = {
  namespace: 'default',
  name: 'podinfo',
  serviceName: 'podinfo',
  router: RouterKind.ISTIO,
};
const at = (canaryWeightPercent: number): RouteSplit => ({
  ...ALL_TO_PRIMARY,
  primaryWeightPercent: 100 - canaryWeightPercent,
  canaryWeightPercent,
});

/** A router keeping routes in memory; `failing` makes setRoutes throw. */
function memoryRouter() {
  const routes = new Map<string, RouteSplit>();
  const state = { failing: false, writes: 0 };
  const router: TrafficRouter = {
    kind: 'istio',
    async reconcile() {},
    async setRoutes(target, split) {
      if (state.failing) throw new Error('API unreachable');
      state.writes += 1;
      routes.set(target.serviceName, split);
    },
    async getRoutes(target) {
      return routes.get(target.serviceName) ?? ALL_TO_PRIMARY;
    },
    async finalize() {},
  } as TrafficRouter;
  return { router, routes, state };
}

function given(leaseMs = 1000) {
  let now = 10_000;
  const { router, routes, state } = memoryRouter();
  const reported: unknown[] = [];
  const lease = createLease({
    cluster: 'eu-1',
    leaseMs,
    nowMs: () => now,
    routerFor: () => router,
    report: async (o) => {
      reported.push(o);
    },
    logger: quiet,
  });
  return {
    lease,
    routes,
    state,
    reported,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('lease', () => {
  it('lapses only after leaseMs without a command, and only while a canary carries traffic', async () => {
    const t = given();
    t.advance(5000);
    expect(await t.lease.check(signal)).toEqual([]);

    t.lease.renew();
    t.routes.set('podinfo', at(10));
    t.lease.routesSet(canary, at(10));
    expect(t.lease.expiresAtMs()).toBe(16_000);
    t.advance(999);
    expect(await t.lease.check(signal)).toEqual([]);
    t.lease.renew();
    t.advance(999);
    expect(await t.lease.check(signal)).toEqual([]);
    expect(t.routes.get('podinfo')).toEqual(at(10));

    t.advance(1);
    expect(await t.lease.check(signal)).toEqual([canary]);
    expect(t.routes.get('podinfo')).toEqual(ALL_TO_PRIMARY);
    expect(t.reported).toEqual([
      expect.objectContaining({
        observationId: 'eu-1:lease-expired:default/podinfo:16999',
        kind: expect.objectContaining({
          case: 'routesApplied',
          value: expect.objectContaining({
            commandId: '',
            routes: expect.objectContaining({ primaryWeightPercent: 100, canaryWeightPercent: 0 }),
          }),
        }),
      }),
    ]);
    // Reverted once; nothing carries traffic any more.
    t.advance(10_000);
    expect(await t.lease.check(signal)).toEqual([]);
    expect(t.lease.expiresAtMs()).toBeUndefined();
  });

  it('stops tracking a canary routed back by a command or finalized', async () => {
    const t = given();
    t.lease.routesSet(canary, at(10));
    t.lease.routesSet(canary, at(0));
    expect(t.lease.canaries()).toEqual([]);
    t.lease.routesSet(canary, { ...at(0), mirror: true });
    expect(t.lease.canaries()).toEqual([canary]);
    t.lease.forget('default', 'podinfo');
    t.advance(5000);
    expect(await t.lease.check(signal)).toEqual([]);
  });

  it('keeps a canary whose revert failed and retries it at the next check', async () => {
    const t = given();
    t.lease.routesSet(canary, at(20));
    t.advance(2000);
    t.state.failing = true;
    expect(await t.lease.check(signal)).toEqual([]);
    expect(t.lease.canaries()).toEqual([canary]);
    t.state.failing = false;
    expect(await t.lease.check(signal)).toEqual([canary]);
    expect(t.reported).toHaveLength(1);
  });
});
