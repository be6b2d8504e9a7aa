import { annotationsOf, arrayAt, at, nameOf, numberAt, stringAt } from '../controllers/object.ts';
import { isObject, type JsonObject } from '../patch.ts';
import { type ClusterView, namespaceOf } from './cluster-view.ts';
import type { Edge } from './mesh-metrics.ts';

/**
 * How a request to a configured service is routed, read from the cluster's routing objects the
 * way each router's data plane reads them. A plan is computed once per change of the cluster;
 * since a simulated request is either plain or a "test" request (carrying the configured A/B
 * headers and cookies), a plan answers `choose` once per kind of request.
 */
export const RouterKind = {
  Istio: 'istio',
  GatewayApi: 'gatewayapi',
  Nginx: 'nginx',
  Smi: 'smi',
  None: 'none',
} as const;
export type RouterKind = (typeof RouterKind)[keyof typeof RouterKind];

/** The request as routers see it: lowercased header names, cookies in the `cookie` header. */
export interface SimRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface WeightedBackend {
  readonly namespace: string;
  readonly service: string;
  readonly port: number;
  readonly weight: number;
  readonly edge?: Edge;
}

export interface RouteChoice {
  /** Empty: nothing routes this request (Istio's 404 NR); the simulator counts it as unrouted. */
  readonly backends: readonly WeightedBackend[];
  readonly mirror?: { readonly backend: WeightedBackend; readonly percent: number };
}

export interface RoutePlan {
  readonly router: RouterKind;
  /** The routing object's name, when there is one. */
  readonly object?: string;
  choose(request: SimRequest): RouteChoice;
}

const NGINX = 'nginx.ingress.kubernetes.io';

/** The routing plan of `service`: the first router found in order Istio, Gateway API, NGINX, SMI. */
export function routePlan(
  view: ClusterView,
  namespace: string,
  service: string,
  router: RouterKind | 'auto' = 'auto',
): RoutePlan {
  const order: readonly RouterKind[] =
    router === 'auto'
      ? [RouterKind.Istio, RouterKind.GatewayApi, RouterKind.Nginx, RouterKind.Smi]
      : [router];
  for (const kind of order) {
    const plan = planOf(kind, view, namespace, service);
    if (plan !== undefined) return plan;
  }
  return apexPlan(namespace, service);
}

function planOf(
  kind: RouterKind,
  view: ClusterView,
  namespace: string,
  service: string,
): RoutePlan | undefined {
  switch (kind) {
    case RouterKind.Istio:
      return istioPlan(view, namespace, service);
    case RouterKind.GatewayApi:
      return gatewayPlan(view, namespace, service);
    case RouterKind.Nginx:
      return nginxPlan(view, namespace, service);
    case RouterKind.Smi:
      return smiPlan(view, namespace, service);
    case RouterKind.None:
      return apexPlan(namespace, service);
    default: {
      const never: never = kind;
      throw new Error(`unknown router ${String(never)}`);
    }
  }
}

function apexPlan(namespace: string, service: string): RoutePlan {
  const choice: RouteChoice = { backends: [{ namespace, service, port: 80, weight: 1 }] };
  return { router: RouterKind.None, choose: () => choice };
}

/** `svc`, `svc.ns`, `svc.ns.svc.cluster.local` → { namespace, service }. */
function hostService(host: string, namespace: string): { namespace: string; service: string } {
  const [name = '', ns] = host.split('.');
  return { namespace: ns ?? namespace, service: name };
}

function inNamespace(objects: readonly JsonObject[], namespace: string): JsonObject[] {
  return objects.filter((o) => namespaceOf(o) === namespace);
}

function preferNamed(objects: readonly JsonObject[], name: string): JsonObject | undefined {
  return objects.find((o) => nameOf(o) === name) ?? objects[0];
}

/** Istio/Envoy string match: `{exact}`, `{prefix}` or `{regex}` (RE2, a full match). */
function stringMatch(match: unknown, value: string | undefined): boolean {
  if (!isObject(match)) return true;
  if (value === undefined) return false;
  if (typeof match.exact === 'string') return value === match.exact;
  if (typeof match.prefix === 'string') return value.startsWith(match.prefix);
  if (typeof match.regex === 'string') return fullMatch(match.regex, value);
  return true;
}

function fullMatch(pattern: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------- Istio

function istioPlan(view: ClusterView, namespace: string, service: string): RoutePlan | undefined {
  const hosts = new Set([
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ]);
  const candidates = inNamespace(view.virtualServices, namespace).filter(
    (vs) => nameOf(vs) === service || arrayAtStrings(vs, 'spec', 'hosts').some((h) => hosts.has(h)),
  );
  const vs = preferNamed(candidates, service);
  if (vs === undefined) return undefined;
  const routes = arrayAt(vs, 'spec', 'http');
  return {
    router: RouterKind.Istio,
    object: nameOf(vs),
    choose(request) {
      const route = routes.find((r) => istioMatches(arrayAt(r, 'match'), request));
      if (route === undefined) return { backends: [] };
      const destinations = arrayAt(route, 'route');
      const backends = destinations.map((d) => ({
        ...hostService(stringAt(d, 'destination', 'host'), namespace),
        port: numberAt(d, 'destination', 'port', 'number') ?? 80,
        weight: numberAt(d, 'weight') ?? (destinations.length === 1 ? 100 : 0),
      }));
      const mirrorHost = stringAt(route, 'mirror', 'host');
      if (mirrorHost === '') return { backends };
      return {
        backends,
        mirror: {
          backend: {
            ...hostService(mirrorHost, namespace),
            port: numberAt(route, 'mirror', 'port', 'number') ?? 80,
            weight: 1,
          },
          percent: numberAt(route, 'mirrorPercentage', 'value') ?? 100,
        },
      };
    },
  };
}

function arrayAtStrings(o: JsonObject, ...path: string[]): string[] {
  const value = at(o, ...path);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Istio: any match entry, all its conditions. No `match` matches everything. */
function istioMatches(matches: readonly JsonObject[], request: SimRequest): boolean {
  if (matches.length === 0) return true;
  return matches.some((m) => {
    if (!stringMatch(m.uri, request.path)) return false;
    const headers = isObject(m.headers) ? m.headers : {};
    return Object.entries(headers).every(([name, match]) =>
      stringMatch(match, request.headers[name.toLowerCase()]),
    );
  });
}

// ---------------------------------------------------------------------------- Gateway API

function gatewayPlan(view: ClusterView, namespace: string, service: string): RoutePlan | undefined {
  const related = new Set([service, `${service}-primary`, `${service}-canary`]);
  const candidates = inNamespace(view.httpRoutes, namespace).filter(
    (route) =>
      nameOf(route) === service ||
      arrayAt(route, 'spec', 'rules').some((rule) =>
        arrayAt(rule, 'backendRefs').some((ref) => related.has(stringAt(ref, 'name'))),
      ),
  );
  const route = preferNamed(candidates, service);
  if (route === undefined) return undefined;
  const rules = arrayAt(route, 'spec', 'rules');
  const backendOf = (ref: JsonObject, weight: number): WeightedBackend => {
    const ns = stringAt(ref, 'namespace') || namespace;
    const name = stringAt(ref, 'name');
    const port = numberAt(ref, 'port') ?? 80;
    return {
      namespace: ns,
      service: name,
      port,
      weight,
      edge: { kind: 'envoy', envoyClusterName: `${ns}_${name}_${port}` },
    };
  };
  return {
    router: RouterKind.GatewayApi,
    object: nameOf(route),
    choose(request) {
      const rule = rules.find((r) => gatewayMatches(arrayAt(r, 'matches'), request));
      if (rule === undefined) return { backends: [] };
      const backends = arrayAt(rule, 'backendRefs').map((ref) =>
        backendOf(ref, numberAt(ref, 'weight') ?? 1),
      );
      const mirror = arrayAt(rule, 'filters').find((f) => stringAt(f, 'type') === 'RequestMirror');
      if (mirror === undefined) return { backends };
      const numerator = numberAt(mirror, 'requestMirror', 'fraction', 'numerator');
      const denominator = numberAt(mirror, 'requestMirror', 'fraction', 'denominator') ?? 100;
      const percent =
        numberAt(mirror, 'requestMirror', 'percent') ??
        (numerator === undefined ? 100 : (numerator / denominator) * 100);
      return {
        backends,
        mirror: {
          backend: backendOf(objectOr(at(mirror, 'requestMirror', 'backendRef')), 1),
          percent,
        },
      };
    },
  };
}

function objectOr(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

/** Gateway API: any match entry, all its conditions. No `matches` is `PathPrefix /`. */
function gatewayMatches(matches: readonly JsonObject[], request: SimRequest): boolean {
  if (matches.length === 0) return true;
  return matches.some((m) => {
    const pathType = stringAt(m, 'path', 'type') || 'PathPrefix';
    const pathValue = stringAt(m, 'path', 'value') || '/';
    const pathOk =
      pathType === 'Exact'
        ? request.path === pathValue
        : pathType === 'RegularExpression'
          ? fullMatch(pathValue, request.path)
          : request.path.startsWith(pathValue);
    if (!pathOk) return false;
    return arrayAt(m, 'headers').every((h) => {
      const value = request.headers[stringAt(h, 'name').toLowerCase()];
      if (value === undefined) return false;
      return stringAt(h, 'type') === 'RegularExpression'
        ? fullMatch(stringAt(h, 'value'), value)
        : value === stringAt(h, 'value');
    });
  });
}

// ---------------------------------------------------------------------------------- NGINX

interface IngressBackend {
  readonly host: string;
  readonly service: string;
  readonly port: number;
}

function ingressBackends(ingress: JsonObject): IngressBackend[] {
  const out: IngressBackend[] = [];
  const def = at(ingress, 'spec', 'defaultBackend', 'service');
  if (isObject(def)) {
    out.push({
      host: '',
      service: stringAt(def, 'name'),
      port: numberAt(def, 'port', 'number') ?? 80,
    });
  }
  for (const rule of arrayAt(ingress, 'spec', 'rules')) {
    for (const path of arrayAt(rule, 'http', 'paths')) {
      out.push({
        host: stringAt(rule, 'host'),
        service: stringAt(path, 'backend', 'service', 'name'),
        port: numberAt(path, 'backend', 'service', 'port', 'number') ?? 80,
      });
    }
  }
  return out;
}

function isCanaryIngress(ingress: JsonObject): boolean {
  return annotationsOf(ingress)[`${NGINX}/canary`] === 'true';
}

function nginxPlan(view: ClusterView, namespace: string, service: string): RoutePlan | undefined {
  const ingresses = inNamespace(view.ingresses, namespace);
  const main = ingresses.find(
    (i) => !isCanaryIngress(i) && ingressBackends(i).some((b) => b.service === service),
  );
  if (main === undefined) return undefined;
  const mainBackend = ingressBackends(main).find((b) => b.service === service) as IngressBackend;
  const canary =
    ingresses.find((i) => isCanaryIngress(i) && nameOf(i) === `${nameOf(main)}-canary`) ??
    ingresses.find(
      (i) => isCanaryIngress(i) && ingressBackends(i).some((b) => b.host === mainBackend.host),
    );
  const edge = (b: IngressBackend, isCanary: boolean): Edge => ({
    kind: 'nginx',
    namespace,
    ingress: nameOf(main),
    host: b.host,
    service: b.service,
    canary: isCanary ? `${namespace}-${b.service}-${b.port}` : '',
  });
  const primary: WeightedBackend = {
    namespace,
    service: mainBackend.service,
    port: mainBackend.port,
    weight: 1,
    edge: edge(mainBackend, false),
  };
  const onlyMain: RouteChoice = { backends: [primary] };
  if (canary === undefined) {
    return { router: RouterKind.Nginx, object: nameOf(main), choose: () => onlyMain };
  }
  const canaryBackend = ingressBackends(canary)[0];
  if (canaryBackend === undefined) {
    return { router: RouterKind.Nginx, object: nameOf(main), choose: () => onlyMain };
  }
  const toCanary: WeightedBackend = {
    namespace,
    service: canaryBackend.service,
    port: canaryBackend.port,
    weight: 1,
    edge: edge(canaryBackend, true),
  };
  const onlyCanary: RouteChoice = { backends: [toCanary] };
  const a = annotationsOf(canary);
  const weight = Number(a[`${NGINX}/canary-weight`] ?? '0') || 0;
  const total = Number(a[`${NGINX}/canary-weight-total`] ?? '100') || 100;
  const weighted: RouteChoice = {
    backends: [
      { ...primary, weight: Math.max(total - weight, 0) },
      { ...toCanary, weight: Math.min(Math.max(weight, 0), total) },
    ],
  };
  const byHeader = a[`${NGINX}/canary-by-header`];
  const byHeaderValue = a[`${NGINX}/canary-by-header-value`];
  const byHeaderPattern = a[`${NGINX}/canary-by-header-pattern`];
  const byCookie = a[`${NGINX}/canary-by-cookie`];
  return {
    router: RouterKind.Nginx,
    object: nameOf(main),
    // ingress-nginx's order: header, then cookie, then weight; a value that does not decide
    // falls through to the next rule.
    choose(request) {
      if (byHeader !== undefined && byHeader !== '') {
        const value = request.headers[byHeader.toLowerCase()];
        if (value !== undefined) {
          if (byHeaderValue !== undefined && byHeaderValue !== '') {
            if (value === byHeaderValue) return onlyCanary;
          } else if (byHeaderPattern !== undefined && byHeaderPattern !== '') {
            if (fullMatch(byHeaderPattern, value)) return onlyCanary;
          } else if (value === 'always') {
            return onlyCanary;
          } else if (value === 'never') {
            return onlyMain;
          }
        }
      }
      if (byCookie !== undefined && byCookie !== '') {
        const value = cookieValue(request.headers.cookie, byCookie);
        if (value === 'always') return onlyCanary;
        if (value === 'never') return onlyMain;
      }
      return weighted;
    },
  };
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

// ------------------------------------------------------------------------------------ SMI

function smiPlan(view: ClusterView, namespace: string, service: string): RoutePlan | undefined {
  const candidates = inNamespace(view.trafficSplits, namespace).filter(
    (ts) => nameOf(ts) === service || stringAt(ts, 'spec', 'service') === service,
  );
  const ts = preferNamed(candidates, service);
  if (ts === undefined) return undefined;
  const choice: RouteChoice = {
    backends: arrayAt(ts, 'spec', 'backends').map((b) => ({
      namespace,
      service: stringAt(b, 'service'),
      port: 80,
      weight: Number.parseInt(String(at(b, 'weight') ?? '0'), 10) || 0,
    })),
  };
  return { router: RouterKind.Smi, object: nameOf(ts), choose: () => choice };
}
