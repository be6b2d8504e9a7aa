/**
 * What a restarted agent takes back from the cluster: each target's current traffic split.
 *
 * The agent keeps no state of its own besides its stored command results: the routing objects
 * are the truth. At start, once the observer has listed the owned `<name>-primary` Deployments,
 * the agent reads back, for each, the routes of the router and apex Service its
 * `aviary.dev/router` / `aviary.dev/service` annotations name (set by `initializeTarget`), and
 *
 * - publishes them as a `RoutesApplied` with an empty `command_id` and the id
 *   `<cluster>:routes-resumed:<namespace>/<name>:<agent start ms>`, so the orchestrator learns
 *   the split as it really is (a command applied just before the crash, a hand edit);
 * - tells the lease (`lease.ts`): a canary still carrying traffic is tracked again, so it goes
 *   back to the primary if no command arrives within the lease (counted from the agent's start).
 *
 * The reads run in the agent's one-at-a-time loop, between commands, so each reads the routing
 * object after every command handled before it and a command handled after it supersedes it. A
 * target whose routes cannot be read (API away) is tried again after a pause doubling up to 30 s;
 * one without a routing object yet (a bootstrap waiting for its primary) carries no traffic and
 * is skipped, as is a primary made before the annotations existed (logged: nothing says which
 * router it has).
 */
import { ErrorCode, isAviaryError } from '@aviary/core';
import { type Observation, RouterKind } from '@aviary/proto';
import type { V1Deployment } from '@kubernetes/client-node';
import type { KubeClient, KubeKind } from './kube/kube-client.ts';
import type { Lease, LeasedCanary } from './lease.ts';
import { routesAppliedObservation } from './messaging/observations.ts';
import { PRIMARY_OF_LABEL, ROUTER_ANNOTATION, SERVICE_ANNOTATION } from './ownership.ts';
import { trafficRouterKindOf } from './routers/create-router.ts';
import {
  type RouterTarget,
  type RouteSplit,
  type TrafficRouter,
  TrafficRouterKind,
} from './routers/traffic-router.ts';

export interface ResumeLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface RouteResumerOptions {
  readonly cluster: string;
  readonly kube: KubeClient;
  readonly routerFor: (kind: TrafficRouterKind) => TrafficRouter;
  readonly lease: Lease;
  /** The owned primaries, once listed (`Observer.primaries`). */
  readonly primaries: (signal: AbortSignal) => Promise<readonly V1Deployment[]>;
  readonly nowMs: () => number;
  readonly logger: ResumeLogger;
  /** First pause before reading a target again after a failure; doubles up to 30 s. Default 1 s. */
  readonly retryDelayMs?: number;
}

/** What the agent lends the resumer: its serial loop and its publisher. */
export interface ResumeContext {
  /** Runs `work` between commands (the agent's one-at-a-time loop). */
  readonly serially: <T>(work: () => Promise<T>) => Promise<T>;
  readonly publish: (observation: Observation, signal: AbortSignal) => Promise<void>;
  /** The agent's start, in the observation ids. */
  readonly startedAtMs: number;
  readonly signal: AbortSignal;
}

export interface RouteResumer {
  /** Resolves once every target's routes were read back and published, or the signal aborted. */
  run(context: ResumeContext): Promise<void>;
}

/** A target as its primary describes it. */
export interface ResumeTarget {
  readonly namespace: string;
  readonly name: string;
  readonly serviceName: string;
  readonly router: TrafficRouterKind;
}

const MAX_RETRY_DELAY_MS = 30_000;
const ROUTER_KINDS = new Set<string>(Object.values(TrafficRouterKind));

/** The proto `RouterKind` of a router kind (the inverse of `trafficRouterKindOf`). */
export function protoRouterKindOf(kind: TrafficRouterKind): RouterKind {
  const found = Object.values(RouterKind).find(
    (value): value is RouterKind =>
      typeof value === 'number' && trafficRouterKindOf(value) === kind,
  );
  return found ?? RouterKind.UNSPECIFIED;
}

/** The object whose absence means the target is not routed yet; none for the `none` router. */
export function routingObjectOf(
  kind: TrafficRouterKind,
  serviceName: string,
): [KubeKind, string] | undefined {
  switch (kind) {
    case 'istio':
      return ['VirtualService', serviceName];
    case 'gateway-api':
      return ['HTTPRoute', serviceName];
    case 'nginx':
      return ['Ingress', `${serviceName}-canary`];
    case 'smi':
      return ['TrafficSplit', serviceName];
    case 'none':
      return undefined;
    default: {
      const unknown: never = kind;
      throw new Error(`unknown router kind ${String(unknown)}`);
    }
  }
}

/** The target a primary stands for; `undefined` (with the reason) when its annotations lack. */
export function resumeTargetOf(
  primary: V1Deployment,
): { target: ResumeTarget } | { skipped: string } {
  const namespace = primary.metadata?.namespace ?? 'default';
  const name = primary.metadata?.labels?.[PRIMARY_OF_LABEL] ?? '';
  const annotations = primary.metadata?.annotations ?? {};
  const router = annotations[ROUTER_ANNOTATION];
  const serviceName = annotations[SERVICE_ANNOTATION];
  if (name === '') return { skipped: `no ${PRIMARY_OF_LABEL} label` };
  if (router === undefined || !ROUTER_KINDS.has(router)) {
    return { skipped: `no known ${ROUTER_ANNOTATION} annotation (${String(router)})` };
  }
  if (serviceName === undefined || serviceName === '') {
    return { skipped: `no ${SERVICE_ANNOTATION} annotation` };
  }
  return { target: { namespace, name, serviceName, router: router as TrafficRouterKind } };
}

export function createRouteResumer(options: RouteResumerOptions): RouteResumer {
  const { cluster, kube, lease, logger, nowMs } = options;
  const firstDelayMs = options.retryDelayMs ?? 1000;

  /** Reads back one target's routes, tells the lease, publishes them; throws to be retried. */
  async function resumeOne(target: ResumeTarget, context: ResumeContext) {
    const { signal } = context;
    const { namespace, name, serviceName } = target;
    const routing = routingObjectOf(target.router, serviceName);
    if (routing !== undefined) {
      const [kind, objectName] = routing;
      if ((await kube.get(kind, namespace, objectName, signal)) === undefined) {
        logger.debug(
          { namespace, name, kind, objectName },
          'target not routed yet; no routes to resume',
        );
        return;
      }
    }
    const routerTarget: RouterTarget = {
      namespace,
      targetName: name,
      serviceName,
      port: 0,
      hosts: [],
      gateways: [],
    };
    const routes: RouteSplit = await options
      .routerFor(target.router)
      .getRoutes(routerTarget, signal);
    const router = protoRouterKindOf(target.router);
    const canary: LeasedCanary = { namespace, name, serviceName, router };
    lease.routesSet(canary, routes);
    await context.publish(
      routesAppliedObservation(
        `${cluster}:routes-resumed:${namespace}/${name}:${context.startedAtMs}`,
        cluster,
        nowMs(),
        { namespace, name, router, routes, commandId: '' },
      ),
      signal,
    );
    logger.info(
      {
        namespace,
        name,
        router: target.router,
        primaryWeightPercent: routes.primaryWeightPercent,
        canaryWeightPercent: routes.canaryWeightPercent,
        leased: lease.canaries().some((c) => c.namespace === namespace && c.name === name),
      },
      'routes resumed from the cluster',
    );
  }

  return {
    async run(context) {
      const { signal } = context;
      let primaries: readonly V1Deployment[];
      try {
        primaries = await options.primaries(signal);
      } catch (error) {
        // The agent or the observer is stopping.
        if (signal.aborted || isAviaryError(error, ErrorCode.Aborted)) return;
        throw error;
      }
      let pending: ResumeTarget[] = [];
      for (const primary of primaries) {
        const found = resumeTargetOf(primary);
        if ('target' in found) pending.push(found.target);
        else {
          logger.warn(
            {
              namespace: primary.metadata?.namespace,
              primary: primary.metadata?.name,
              reason: found.skipped,
            },
            'cannot resume the routes of a primary; the next command for it will',
          );
        }
      }
      let delayMs = firstDelayMs;
      while (pending.length > 0 && !signal.aborted) {
        const batch = pending;
        const failed = await context.serially(async () => {
          const again: ResumeTarget[] = [];
          for (const target of batch) {
            if (signal.aborted) break;
            try {
              await resumeOne(target, context);
            } catch (error) {
              if (signal.aborted) break;
              logger.warn(
                { err: error, namespace: target.namespace, name: target.name, retryInMs: delayMs },
                'reading back the routes of a target failed; trying again',
              );
              again.push(target);
            }
          }
          return again;
        });
        pending = failed;
        if (pending.length === 0 || signal.aborted) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              resolve();
            },
            { once: true },
          );
        });
        delayMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS);
      }
    },
  };
}
