/**
 * SMI (`pkg/router/smi_v1alpha2.go`; Linkerd, OSM): TrafficSplit `<svc>`
 * (`split.smi-spec.io/v1alpha2`, the version the simulator and the agent's port register) with
 * `spec.service: <svc>` and `backends: [{service: <svc>-primary, weight: p}, {service:
 * <svc>-canary, weight: c}]`. A TrafficSplit only splits by weight: A/B matches and mirroring are
 * refused (`VALIDATION`) rather than silently dropped.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import { apiVersionOf, type CustomObject, type KubeClient } from '../kube/kube-client.ts';
import { updateWithRetry } from '../kube/update.ts';
import { isOwned, NotOwnedError, ownedMetadata, TARGET_ANNOTATION } from '../ownership.ts';
import {
  type RouterTarget,
  type RouteSplit,
  type TrafficRouter,
  TrafficRouterKind,
} from './traffic-router.ts';

export interface SmiBackend {
  service: string;
  weight: number;
}

const primaryService = (t: RouterTarget) => `${t.serviceName}-primary`;
const canaryService = (t: RouterTarget) => `${t.serviceName}-canary`;

/** The `spec` of the TrafficSplit for the given weights. */
export function trafficSplitSpec(target: RouterTarget, primary: number, canary: number) {
  const backends: SmiBackend[] = [
    { service: primaryService(target), weight: primary },
    { service: canaryService(target), weight: canary },
  ];
  return { service: target.serviceName, backends };
}

function refuseUnsupported(routes: RouteSplit): void {
  if (routes.matches.length > 0) {
    throw new AviaryError(
      ErrorCode.Validation,
      'smi router: a TrafficSplit splits by weight only; A/B header or cookie matches are not supported',
    );
  }
  if (routes.mirror) {
    throw new AviaryError(
      ErrorCode.Validation,
      'smi router: a TrafficSplit cannot mirror requests; use istio or gateway-api for mirroring',
    );
  }
}

/** The weights held by a TrafficSplit's backends; `undefined` without both backends. */
function weightsOf(target: RouterTarget, split: CustomObject) {
  const backends = Array.isArray(split.spec?.backends)
    ? (split.spec.backends as { service?: unknown; weight?: unknown }[])
    : [];
  const weightOf = (service: string) => {
    const backend = backends.find((b) => b.service === service);
    return backend === undefined ? undefined : Number.parseInt(String(backend.weight), 10) || 0;
  };
  const primary = weightOf(primaryService(target));
  const canary = weightOf(canaryService(target));
  return primary === undefined || canary === undefined ? undefined : { primary, canary };
}

export function createSmiRouter(kube: KubeClient): TrafficRouter {
  async function readSplit(target: RouterTarget, signal: AbortSignal) {
    const split = await kube.get('TrafficSplit', target.namespace, target.serviceName, signal);
    if (split === undefined) {
      throw new AviaryError(
        ErrorCode.Unavailable,
        `TrafficSplit ${target.namespace}/${target.serviceName} does not exist: reconcile first`,
      );
    }
    if (!isOwned(split))
      throw new NotOwnedError('TrafficSplit', target.namespace, target.serviceName);
    return split;
  }

  async function write(
    target: RouterTarget,
    weights: (current: CustomObject) => { primary: number; canary: number },
    signal: AbortSignal,
  ) {
    const { namespace, serviceName: name } = target;
    return updateWithRetry(
      kube,
      'TrafficSplit',
      namespace,
      name,
      (current) => {
        if (!isOwned(current)) throw new NotOwnedError('TrafficSplit', namespace, name);
        const { primary, canary } = weights(current);
        const spec = { ...current.spec, ...trafficSplitSpec(target, primary, canary) };
        if (JSON.stringify(spec) === JSON.stringify(current.spec)) return undefined;
        return { ...current, spec };
      },
      signal,
    );
  }

  return {
    kind: TrafficRouterKind.Smi,

    async reconcile(target, signal) {
      const { namespace, serviceName: name } = target;
      const desired: CustomObject = {
        apiVersion: apiVersionOf('TrafficSplit'),
        kind: 'TrafficSplit',
        metadata: ownedMetadata(name, namespace, target.targetName),
        spec: trafficSplitSpec(target, 100, 0),
      };
      if ((await kube.get('TrafficSplit', namespace, name, signal)) === undefined) {
        const created = await kube.create('TrafficSplit', namespace, desired, signal);
        if (created.outcome === 'created') return;
      }
      // The weights found are kept; the service and the backends' names are put back.
      const result = await write(
        target,
        (current) => weightsOf(target, current) ?? { primary: 100, canary: 0 },
        signal,
      );
      if (result.outcome === 'not-found') {
        throw new AviaryError(
          ErrorCode.Concurrency,
          `TrafficSplit ${name} vanished while reconciling`,
        );
      }
    },

    async setRoutes(target, routes, signal) {
      refuseUnsupported(routes);
      await readSplit(target, signal);
      await write(
        target,
        () => ({ primary: routes.primaryWeightPercent, canary: routes.canaryWeightPercent }),
        signal,
      );
    },

    async getRoutes(target, signal) {
      const weights = weightsOf(target, await readSplit(target, signal));
      if (weights === undefined) {
        throw new AviaryError(
          ErrorCode.Unavailable,
          `TrafficSplit ${target.serviceName} has no backends ${primaryService(target)} and ${canaryService(target)}`,
        );
      }
      return {
        primaryWeightPercent: weights.primary,
        canaryWeightPercent: weights.canary,
        matches: [],
        mirror: false,
        mirrorWeightPercent: 0,
      };
    },

    async finalize(target, signal) {
      const { namespace, serviceName: name } = target;
      const current = await kube.get('TrafficSplit', namespace, name, signal);
      if (current === undefined || !isOwned(current)) return;
      if (current.metadata?.annotations?.[TARGET_ANNOTATION] !== target.targetName) return;
      await kube.delete('TrafficSplit', namespace, name, signal);
    },
  };
}
