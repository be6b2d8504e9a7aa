/**
 * `KubeClient` over `@kubernetes/client-node`'s typed APIs. Every request carries the caller's
 * AbortSignal (set on the request context by a middleware); 404/409 become outcomes, other
 * failures `KubeApiError`.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  type RequestContext,
  type ResponseContext,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  CUSTOM_RESOURCES,
  type CustomKind,
  KubeApiError,
  type KubeClient,
  type KubeKind,
  type KubeObjects,
  type ReplaceOutcome,
} from './kube-client.ts';

type Options = ReturnType<typeof setHeaderOptions>;
type AnyObject = KubeObjects[KubeKind];

interface Ops {
  read(ns: string, name: string, o: Options): Promise<unknown>;
  create(ns: string, body: AnyObject, o: Options): Promise<unknown>;
  replace(ns: string, name: string, body: AnyObject, o: Options): Promise<unknown>;
  patch(ns: string, name: string, body: object, o: Options): Promise<unknown>;
  remove(ns: string, name: string, o: Options): Promise<unknown>;
}

/**
 * Request options carrying `signal`: the generated clients take observable-style middleware, so
 * the signal is set in front of client-node's own header middleware (`Content-Type` for patches,
 * `Accept: application/json` otherwise).
 */
function options(signal: AbortSignal, contentType?: string): Options {
  const base =
    contentType === undefined
      ? setHeaderOptions('Accept', 'application/json')
      : setHeaderOptions('Content-Type', contentType);
  return {
    ...base,
    middleware: (base.middleware ?? []).map((m) => ({
      pre: (context: RequestContext) => {
        context.setSignal(signal);
        return m.pre(context);
      },
      post: (response: ResponseContext) => m.post(response),
    })),
  };
}

export function createClientNodeKubeClient(kc: KubeConfig): KubeClient {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const autoscaling = kc.makeApiClient(AutoscalingV2Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  // biome-ignore lint/suspicious/noExplicitAny: the typed APIs' bodies differ per kind; the port's signature keeps callers typed
  type Body = any;
  const customOps = (kind: CustomKind): Ops => {
    const r = CUSTOM_RESOURCES[kind];
    const at = (namespace: string) => ({ ...r, namespace });
    return {
      read: (ns, name, o) => custom.getNamespacedCustomObject({ ...at(ns), name }, o),
      create: (ns, body, o) => custom.createNamespacedCustomObject({ ...at(ns), body }, o),
      replace: (ns, name, body, o) =>
        custom.replaceNamespacedCustomObject({ ...at(ns), name, body }, o),
      patch: (ns, name, body, o) =>
        custom.patchNamespacedCustomObject({ ...at(ns), name, body }, o),
      remove: (ns, name, o) => custom.deleteNamespacedCustomObject({ ...at(ns), name }, o),
    };
  };
  const ops: { readonly [K in KubeKind]: Ops } = {
    Deployment: {
      read: (namespace, name, o) => apps.readNamespacedDeployment({ namespace, name }, o),
      create: (namespace, body: Body, o) => apps.createNamespacedDeployment({ namespace, body }, o),
      replace: (namespace, name, body: Body, o) =>
        apps.replaceNamespacedDeployment({ namespace, name, body }, o),
      patch: (namespace, name, body, o) =>
        apps.patchNamespacedDeployment({ namespace, name, body }, o),
      remove: (namespace, name, o) => apps.deleteNamespacedDeployment({ namespace, name }, o),
    },
    Service: {
      read: (namespace, name, o) => core.readNamespacedService({ namespace, name }, o),
      create: (namespace, body: Body, o) => core.createNamespacedService({ namespace, body }, o),
      replace: (namespace, name, body: Body, o) =>
        core.replaceNamespacedService({ namespace, name, body }, o),
      patch: (namespace, name, body, o) =>
        core.patchNamespacedService({ namespace, name, body }, o),
      remove: (namespace, name, o) => core.deleteNamespacedService({ namespace, name }, o),
    },
    ConfigMap: {
      read: (namespace, name, o) => core.readNamespacedConfigMap({ namespace, name }, o),
      create: (namespace, body: Body, o) => core.createNamespacedConfigMap({ namespace, body }, o),
      replace: (namespace, name, body: Body, o) =>
        core.replaceNamespacedConfigMap({ namespace, name, body }, o),
      patch: (namespace, name, body, o) =>
        core.patchNamespacedConfigMap({ namespace, name, body }, o),
      remove: (namespace, name, o) => core.deleteNamespacedConfigMap({ namespace, name }, o),
    },
    Secret: {
      read: (namespace, name, o) => core.readNamespacedSecret({ namespace, name }, o),
      create: (namespace, body: Body, o) => core.createNamespacedSecret({ namespace, body }, o),
      replace: (namespace, name, body: Body, o) =>
        core.replaceNamespacedSecret({ namespace, name, body }, o),
      patch: (namespace, name, body, o) => core.patchNamespacedSecret({ namespace, name, body }, o),
      remove: (namespace, name, o) => core.deleteNamespacedSecret({ namespace, name }, o),
    },
    HorizontalPodAutoscaler: {
      read: (namespace, name, o) =>
        autoscaling.readNamespacedHorizontalPodAutoscaler({ namespace, name }, o),
      create: (namespace, body: Body, o) =>
        autoscaling.createNamespacedHorizontalPodAutoscaler({ namespace, body }, o),
      replace: (namespace, name, body: Body, o) =>
        autoscaling.replaceNamespacedHorizontalPodAutoscaler({ namespace, name, body }, o),
      patch: (namespace, name, body, o) =>
        autoscaling.patchNamespacedHorizontalPodAutoscaler({ namespace, name, body }, o),
      remove: (namespace, name, o) =>
        autoscaling.deleteNamespacedHorizontalPodAutoscaler({ namespace, name }, o),
    },
    Ingress: {
      read: (namespace, name, o) => networking.readNamespacedIngress({ namespace, name }, o),
      create: (namespace, body: Body, o) =>
        networking.createNamespacedIngress({ namespace, body }, o),
      replace: (namespace, name, body: Body, o) =>
        networking.replaceNamespacedIngress({ namespace, name, body }, o),
      patch: (namespace, name, body, o) =>
        networking.patchNamespacedIngress({ namespace, name, body }, o),
      remove: (namespace, name, o) => networking.deleteNamespacedIngress({ namespace, name }, o),
    },
    VirtualService: customOps('VirtualService'),
    DestinationRule: customOps('DestinationRule'),
    HTTPRoute: customOps('HTTPRoute'),
    TrafficSplit: customOps('TrafficSplit'),
    // Cluster-scoped: the namespace argument is ignored.
    Namespace: {
      read: (_ns, name, o) => core.readNamespace({ name }, o),
      create: (_ns, body: Body, o) => core.createNamespace({ body }, o),
      replace: (_ns, name, body: Body, o) => core.replaceNamespace({ name, body }, o),
      patch: (_ns, name, body, o) => core.patchNamespace({ name, body }, o),
      remove: (_ns, name, o) => core.deleteNamespace({ name }, o),
    },
  };

  async function call<T>(
    kind: KubeKind,
    name: string,
    signal: AbortSignal,
    run: () => Promise<unknown>,
    expected: Partial<Record<404 | 409, () => T>>,
  ): Promise<T> {
    if (signal.aborted) throw aborted(kind, name, signal.reason);
    try {
      return (await run()) as T;
    } catch (error) {
      if (signal.aborted) throw aborted(kind, name, error);
      if (error instanceof ApiException) {
        const code = error.code as number;
        const onExpected = code === 404 || code === 409 ? expected[code] : undefined;
        if (onExpected !== undefined) return onExpected();
        const status = parseStatus(error.body);
        throw new KubeApiError(
          kind,
          name,
          code,
          status.reason ?? 'Unknown',
          status.message ?? `HTTP ${code}`,
          { cause: error },
        );
      }
      throw new KubeApiError(kind, name, 0, 'Unreachable', String(error), { cause: error });
    }
  }

  return {
    get(kind, namespace, name, signal) {
      return call(kind, name, signal, () => ops[kind].read(namespace, name, options(signal)), {
        404: () => undefined,
      });
    },
    create(kind, namespace, object, signal) {
      const name = object.metadata?.name ?? '';
      return call(
        kind,
        name,
        signal,
        async () => ({
          outcome: 'created',
          object: await ops[kind].create(namespace, object, options(signal)),
        }),
        { 409: () => ({ outcome: 'exists' }) },
      );
    },
    replace(kind, namespace, object, signal) {
      const name = object.metadata?.name ?? '';
      return call<ReplaceOutcome<KubeObjects[typeof kind]>>(
        kind,
        name,
        signal,
        async () => ({
          outcome: 'replaced',
          object: await ops[kind].replace(namespace, name, object, options(signal)),
        }),
        { 404: () => ({ outcome: 'not-found' }), 409: () => ({ outcome: 'conflict' }) },
      );
    },
    mergePatch(kind, namespace, name, patch, signal) {
      return call(
        kind,
        name,
        signal,
        () => ops[kind].patch(namespace, name, patch, options(signal, PatchStrategy.MergePatch)),
        { 404: () => undefined },
      );
    },
    delete(kind, namespace, name, signal) {
      return call(
        kind,
        name,
        signal,
        async () => {
          await ops[kind].remove(namespace, name, options(signal));
          return 'deleted' as const;
        },
        { 404: () => 'not-found' as const },
      );
    },
  };
}

function aborted(kind: KubeKind, name: string, cause: unknown): AviaryError {
  return new AviaryError(ErrorCode.Aborted, `${kind} ${name}: request aborted`, { cause });
}

function parseStatus(body: unknown): { reason?: string; message?: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { message: body };
    }
  }
  if (typeof value !== 'object' || value === null) return {};
  const { reason, message } = value as { reason?: unknown; message?: unknown };
  return {
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof message === 'string' ? { message } : {}),
  };
}
