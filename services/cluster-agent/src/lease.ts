/**
 * The lease (ARCHITECTURE.md, "Scale and failure"): while any canary of this cluster carries
 * traffic, every command from the orchestrator renews the lease. If no command arrives within
 * `leaseMs`, the agent is cut off from the centre and routes each such canary's traffic back to
 * its primary on its own: the router's weights become 100/0 without matches or mirroring. The
 * primary Deployment is never touched (it serves the previous revision throughout the analysis,
 * so this is always safe). Each revert is reported as a `RoutesApplied` observation with an empty
 * `command_id` and an id `<cluster>:lease-expired:<namespace>/<name>:<lapse ms>`.
 *
 * Time is injected (`nowMs`); `check` does the work and is called by the agent on a timer, or by
 * tests directly. The canaries known are those whose routes were set since the agent started and
 * those a restarted agent read back from the cluster (`resume.ts`).
 */
import { type Observation, RouterKind } from '@aviary/proto';
import { routesAppliedObservation } from './messaging/observations.ts';
import { trafficRouterKindOf } from './routers/create-router.ts';
import type {
  RouterTarget,
  RouteSplit,
  TrafficRouter,
  TrafficRouterKind,
} from './routers/traffic-router.ts';

/** A canary whose routes send it traffic. */
export interface LeasedCanary {
  readonly namespace: string;
  /** The target Deployment. */
  readonly name: string;
  /** The apex Service naming the routing object. */
  readonly serviceName: string;
  readonly router: RouterKind;
}

export interface LeaseLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface LeaseOptions {
  readonly cluster: string;
  readonly leaseMs: number;
  readonly nowMs: () => number;
  readonly routerFor: (kind: TrafficRouterKind) => TrafficRouter;
  /** Publishes the `RoutesApplied` of a revert; a failure is retried at the next check. */
  readonly report: (observation: Observation, signal: AbortSignal) => Promise<void>;
  readonly logger: LeaseLogger;
}

export interface Lease {
  readonly leaseMs: number;
  /** A command arrived from the centre. */
  renew(): void;
  /** A command set these routes for a canary: tracked while they carry canary traffic. */
  routesSet(canary: LeasedCanary, routes: RouteSplit): void;
  /** The canary's routing is gone (finalized). */
  forget(namespace: string, name: string): void;
  /** The canaries carrying traffic, as far as this agent knows. */
  canaries(): readonly LeasedCanary[];
  /** When the lease lapses if no command arrives; `undefined` when no canary carries traffic. */
  expiresAtMs(): number | undefined;
  /**
   * If the lease has lapsed, routes every tracked canary back to its primary and reports it;
   * answers the canaries reverted now. A canary that fails stays tracked for the next check.
   */
  check(signal: AbortSignal): Promise<readonly LeasedCanary[]>;
}

/** All traffic to the primary: Flagger's routes outside an analysis. */
export const ALL_TO_PRIMARY: RouteSplit = {
  primaryWeightPercent: 100,
  canaryWeightPercent: 0,
  matches: [],
  mirror: false,
  mirrorWeightPercent: 0,
};

/** Whether a split sends requests, or mirrored copies, to the canary. */
export function carriesCanaryTraffic(split: RouteSplit): boolean {
  return split.canaryWeightPercent > 0 || split.mirror;
}

export function createLease(options: LeaseOptions): Lease {
  const { cluster, leaseMs, nowMs, logger } = options;
  const tracked = new Map<string, LeasedCanary>();
  let renewedAtMs = nowMs();
  const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

  async function revert(canary: LeasedCanary, lapsedAtMs: number, signal: AbortSignal) {
    const kind = trafficRouterKindOf(canary.router);
    if (kind === undefined) throw new Error(`router ${RouterKind[canary.router]} not supported`);
    const router = options.routerFor(kind);
    const target: RouterTarget = {
      namespace: canary.namespace,
      targetName: canary.name,
      serviceName: canary.serviceName,
      port: 0,
      hosts: [],
      gateways: [],
    };
    await router.setRoutes(target, ALL_TO_PRIMARY, signal);
    const routes = await router.getRoutes(target, signal);
    await options.report(
      routesAppliedObservation(
        `${cluster}:lease-expired:${canary.namespace}/${canary.name}:${lapsedAtMs}`,
        cluster,
        nowMs(),
        {
          namespace: canary.namespace,
          name: canary.name,
          router: canary.router,
          routes,
          commandId: '',
        },
      ),
      signal,
    );
  }

  return {
    leaseMs,
    renew() {
      renewedAtMs = nowMs();
    },
    routesSet(canary, routes) {
      const key = keyOf(canary.namespace, canary.name);
      if (carriesCanaryTraffic(routes)) tracked.set(key, canary);
      else tracked.delete(key);
    },
    forget(namespace, name) {
      tracked.delete(keyOf(namespace, name));
    },
    canaries() {
      return [...tracked.values()];
    },
    expiresAtMs() {
      return tracked.size === 0 ? undefined : renewedAtMs + leaseMs;
    },
    async check(signal) {
      const lapsedAtMs = renewedAtMs + leaseMs;
      if (tracked.size === 0 || nowMs() < lapsedAtMs) return [];
      const reverted: LeasedCanary[] = [];
      for (const [key, canary] of [...tracked]) {
        if (signal.aborted) break;
        try {
          await revert(canary, lapsedAtMs, signal);
          tracked.delete(key);
          reverted.push(canary);
          logger.warn(
            {
              namespace: canary.namespace,
              name: canary.name,
              leaseMs,
              sinceLastCommandMs: nowMs() - renewedAtMs,
            },
            'lease lapsed: routed the canary’s traffic back to the primary',
          );
        } catch (error) {
          if (signal.aborted) break;
          logger.error(
            { err: error, namespace: canary.namespace, name: canary.name },
            'lease lapsed but routing back to the primary failed; retrying at the next check',
          );
        }
      }
      return reverted;
    },
  };
}
