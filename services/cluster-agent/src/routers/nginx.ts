/**
 * NGINX ingress (`pkg/router/ingress.go`): the apex Ingress `<ingress>` (not the agent's; it is
 * only read) is copied to `<ingress>-canary`, every backend on the apex Service `<svc>` pointing
 * at `<svc>-canary`, with the apex's annotations minus `nginx.ingress.kubernetes.io/canary*`
 * plus `canary: "true"` and `canary-weight: "0"`. The weight is `canary-weight`; A/B is
 * `canary-by-header` with `canary-by-header-value` (exact) or `canary-by-header-pattern`, and
 * `canary-by-cookie`, which ingress-nginx honours before the weight and which send every matching
 * request to the canary.
 *
 * The apex Ingress is the one named after the apex Service (Flagger's `ingressRef`; the command
 * carries no Ingress name yet). What ingress-nginx cannot express is refused (`VALIDATION`):
 * mirroring; A/B with a canary weight other than 0 or 100; a match with more than one condition;
 * more than one header or cookie; a cookie other than `<name>=always`.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { V1Ingress, V1IngressBackend, V1IngressSpec } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/kube-client.ts';
import { updateWithRetry } from '../kube/update.ts';
import { isOwned, NotOwnedError, ownedMetadata, TARGET_ANNOTATION } from '../ownership.ts';
import { regexOf, stringMatchOfRegex } from './gateway-api.ts';
import {
  type RouteMatch,
  type RouterTarget,
  type RouteSplit,
  type TrafficRouter,
  TrafficRouterKind,
} from './traffic-router.ts';

export const NGINX_ANNOTATION_PREFIX = 'nginx.ingress.kubernetes.io';
export const NginxAnnotation = {
  Canary: `${NGINX_ANNOTATION_PREFIX}/canary`,
  Weight: `${NGINX_ANNOTATION_PREFIX}/canary-weight`,
  ByHeader: `${NGINX_ANNOTATION_PREFIX}/canary-by-header`,
  ByHeaderValue: `${NGINX_ANNOTATION_PREFIX}/canary-by-header-value`,
  ByHeaderPattern: `${NGINX_ANNOTATION_PREFIX}/canary-by-header-pattern`,
  ByCookie: `${NGINX_ANNOTATION_PREFIX}/canary-by-cookie`,
} as const;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** The cookie value ingress-nginx sends to the canary (`never` sends to the primary). */
const COOKIE_ALWAYS = 'always';

export const apexIngressName = (t: RouterTarget) => t.serviceName;
export const canaryIngressName = (t: RouterTarget) => `${apexIngressName(t)}-canary`;

function refuse(message: string): never {
  throw new AviaryError(ErrorCode.Validation, `nginx router: ${message}`);
}

/** The canary annotations of a split (besides `canary: "true"`); refuses what NGINX cannot do. */
export function nginxCanaryAnnotations(routes: RouteSplit): Record<string, string> {
  if (routes.mirror) {
    refuse('ingress-nginx canary Ingresses cannot mirror requests; use istio or gateway-api');
  }
  const c = routes.canaryWeightPercent;
  if (routes.matches.length === 0) return { [NginxAnnotation.Weight]: String(c) };
  if (c !== 0 && c !== 100) {
    refuse(
      `with A/B matches ingress-nginx sends every matching request to the canary: the canary weight must be 0 or 100, got ${c}`,
    );
  }
  const annotations: Record<string, string> = { [NginxAnnotation.Weight]: '0' };
  let header: [string, RouteMatch['headers'][string]] | undefined;
  let cookie: string | undefined;
  for (const match of routes.matches) {
    const headers = Object.entries(match.headers);
    const cookies = Object.entries(match.cookies);
    if (headers.length + cookies.length !== 1) {
      refuse('each A/B match must have exactly one header or cookie condition (no AND)');
    }
    const [h] = headers;
    const [k] = cookies;
    if (h !== undefined) {
      if (header !== undefined) refuse('at most one header condition (canary-by-header)');
      header = h;
    }
    if (k !== undefined) {
      if (cookie !== undefined) refuse('at most one cookie condition (canary-by-cookie)');
      if (!('exact' in k[1]) || k[1].exact !== COOKIE_ALWAYS) {
        refuse(`canary-by-cookie routes a request when the cookie's value is "${COOKIE_ALWAYS}"`);
      }
      cookie = k[0];
    }
  }
  // With the canary at 0 the A/B annotations go (as Flagger resets them): nothing reaches it.
  if (c === 0) return annotations;
  if (header !== undefined) {
    const [name, m] = header;
    annotations[NginxAnnotation.ByHeader] = name;
    if ('exact' in m) annotations[NginxAnnotation.ByHeaderValue] = m.exact;
    else annotations[NginxAnnotation.ByHeaderPattern] = regexOf(m);
  }
  if (cookie !== undefined) annotations[NginxAnnotation.ByCookie] = cookie;
  return annotations;
}

const isCanaryAnnotation = (key: string) => key.startsWith(NginxAnnotation.Canary);

function withoutCanaryAnnotations(annotations: Record<string, string> | undefined) {
  return Object.fromEntries(
    Object.entries(annotations ?? {}).filter(([k]) => !isCanaryAnnotation(k) && k !== LAST_APPLIED),
  );
}

/** The apex Ingress spec with every backend on `<svc>` pointing at `<svc>-canary`. */
export function canaryIngressSpec(target: RouterTarget, apex: V1IngressSpec): V1IngressSpec {
  const spec = structuredClone(apex);
  const retarget = (backend: V1IngressBackend | undefined) => {
    if (backend?.service?.name === target.serviceName)
      backend.service.name = `${target.serviceName}-canary`;
  };
  retarget(spec.defaultBackend);
  for (const rule of spec.rules ?? []) {
    for (const path of rule.http?.paths ?? []) retarget(path.backend);
  }
  return spec;
}

function routesTo(target: RouterTarget, spec: V1IngressSpec | undefined): boolean {
  const backends = [
    spec?.defaultBackend,
    ...(spec?.rules ?? []).flatMap((r) => (r.http?.paths ?? []).map((p) => p.backend)),
  ];
  return backends.some((b) => b?.service?.name === target.serviceName);
}

export function createNginxRouter(kube: KubeClient): TrafficRouter {
  async function readCanary(target: RouterTarget, signal: AbortSignal) {
    const name = canaryIngressName(target);
    const ingress = await kube.get('Ingress', target.namespace, name, signal);
    if (ingress === undefined) {
      throw new AviaryError(
        ErrorCode.Unavailable,
        `Ingress ${target.namespace}/${name} does not exist: reconcile first`,
      );
    }
    if (!isOwned(ingress)) throw new NotOwnedError('Ingress', target.namespace, name);
    return ingress;
  }

  return {
    kind: TrafficRouterKind.Nginx,

    async reconcile(target, signal) {
      const { namespace } = target;
      const apexName = apexIngressName(target);
      const apex = await kube.get('Ingress', namespace, apexName, signal);
      if (apex === undefined || !routesTo(target, apex.spec)) {
        refuse(
          `the apex Ingress ${namespace}/${apexName} must exist and route to the Service ${target.serviceName}`,
        );
      }
      const spec = canaryIngressSpec(target, apex.spec ?? {});
      const name = canaryIngressName(target);
      const desired: V1Ingress = {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: ownedMetadata(name, namespace, target.targetName, apex.metadata?.labels ?? {}, {
          ...withoutCanaryAnnotations(apex.metadata?.annotations),
          [NginxAnnotation.Canary]: 'true',
          [NginxAnnotation.Weight]: '0',
        }),
        spec,
      };
      if ((await kube.get('Ingress', namespace, name, signal)) === undefined) {
        const created = await kube.create('Ingress', namespace, desired, signal);
        if (created.outcome === 'created') return;
      }
      // The spec follows the apex; the canary annotations (weight, A/B) are kept.
      const result = await updateWithRetry(
        kube,
        'Ingress',
        namespace,
        name,
        (current) => {
          if (!isOwned(current)) throw new NotOwnedError('Ingress', namespace, name);
          const annotations = current.metadata?.annotations ?? {};
          const fixed =
            annotations[NginxAnnotation.Canary] === 'true' &&
            annotations[NginxAnnotation.Weight] !== undefined;
          if (fixed && JSON.stringify(current.spec) === JSON.stringify(spec)) return undefined;
          return {
            ...current,
            metadata: {
              ...current.metadata,
              annotations: {
                [NginxAnnotation.Weight]: '0',
                ...annotations,
                [NginxAnnotation.Canary]: 'true',
              },
            },
            spec,
          };
        },
        signal,
      );
      if (result.outcome === 'not-found') {
        throw new AviaryError(ErrorCode.Concurrency, `Ingress ${name} vanished while reconciling`);
      }
    },

    async setRoutes(target, routes, signal) {
      const canary = nginxCanaryAnnotations(routes);
      const name = canaryIngressName(target);
      await readCanary(target, signal);
      await updateWithRetry(
        kube,
        'Ingress',
        target.namespace,
        name,
        (current) => {
          if (!isOwned(current)) throw new NotOwnedError('Ingress', target.namespace, name);
          const annotations = {
            ...withoutCanaryAnnotations(current.metadata?.annotations),
            [NginxAnnotation.Canary]: 'true',
            ...canary,
          };
          const before = current.metadata?.annotations ?? {};
          const same =
            Object.keys(before).length === Object.keys(annotations).length &&
            Object.entries(annotations).every(([k, v]) => before[k] === v);
          if (same) return undefined;
          return { ...current, metadata: { ...current.metadata, annotations } };
        },
        signal,
      );
    },

    async getRoutes(target, signal) {
      const a = (await readCanary(target, signal)).metadata?.annotations ?? {};
      const matches: RouteMatch[] = [];
      const header = a[NginxAnnotation.ByHeader];
      if (header !== undefined && header !== '') {
        const value = a[NginxAnnotation.ByHeaderValue];
        const pattern = a[NginxAnnotation.ByHeaderPattern];
        if (value !== undefined && value !== '')
          matches.push({ headers: { [header]: { exact: value } }, cookies: {} });
        else if (pattern !== undefined && pattern !== '')
          matches.push({ headers: { [header]: stringMatchOfRegex(pattern) }, cookies: {} });
        else matches.push({ headers: { [header]: { exact: COOKIE_ALWAYS } }, cookies: {} });
      }
      const cookie = a[NginxAnnotation.ByCookie];
      if (cookie !== undefined && cookie !== '') {
        matches.push({ headers: {}, cookies: { [cookie]: { exact: COOKIE_ALWAYS } } });
      }
      const weight = Math.min(Math.max(Number(a[NginxAnnotation.Weight] ?? '0') || 0, 0), 100);
      const canary = matches.length > 0 ? 100 : weight;
      return {
        primaryWeightPercent: 100 - canary,
        canaryWeightPercent: canary,
        matches,
        mirror: false,
        mirrorWeightPercent: 0,
      };
    },

    async finalize(target, signal) {
      const name = canaryIngressName(target);
      const current = await kube.get('Ingress', target.namespace, name, signal);
      if (current === undefined || !isOwned(current)) return;
      if (current.metadata?.annotations?.[TARGET_ANNOTATION] !== target.targetName) return;
      await kube.delete('Ingress', target.namespace, name, signal);
    },
  };
}
