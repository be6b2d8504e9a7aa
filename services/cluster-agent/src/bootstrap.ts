/**
 * Bootstraps a target Deployment the Flagger way (`pkg/canary/deployment_controller.go`,
 * `pkg/router/kubernetes_default.go`), idempotently, in this order (`bootstrapTarget`):
 *
 * - copies of the tracked ConfigMaps/Secrets as `<name>-primary`;
 * - `<name>-primary`: the target's spec with the selector label's value suffixed `-primary` in
 *   its labels, selector and template labels, and the pod spec rewritten to the config copies;
 * - then, only once the primary is ready (nothing sends traffic to a primary without ready pods):
 *   `<hpa>-primary` (when the target has an autoscaler) scaling `<name>-primary`, with the
 *   `primaryScalerReplicas` overrides and kept in sync with the target's HPA; Services
 *   `<svc>` and `<svc>-primary` selecting the primary's pods, `<svc>-canary` the target's; the
 *   routing object (the caller's router); and the target (the canary) scaled to zero.
 *
 * Running it again creates what is missing and changes nothing else: an existing primary keeps the
 * revision it runs (only a promotion changes it). An object with a generated name that the agent
 * does not own (no `app.kubernetes.io/managed-by: aviary`) stops the bootstrap with
 * `NotOwnedError` and is never modified.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type {
  V1ConfigMap,
  V1Deployment,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Secret,
  V1Service,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { KubeClient, KubeKind, KubeObjects } from './kube/kube-client.ts';
import { updateWithRetry } from './kube/update.ts';
import {
  isOwned,
  NotOwnedError,
  ownedMetadata,
  PRIMARY_OF_LABEL,
  REVISION_ANNOTATION,
} from './ownership.ts';
import { deploymentReadiness, type Readiness } from './readiness.ts';
import { canonicalJson, readTrackedConfigs, revisionOf, type TrackedConfigs } from './revision.ts';

export const PRIMARY_SUFFIX = '-primary';
export const CANARY_SUFFIX = '-canary';
/** Flagger's default `-selector-labels`, in the order it looks for them. */
export const SELECTOR_LABELS: readonly string[] = ['app', 'name', 'app.kubernetes.io/name'];

/** Metadata Flagger never copies from the target (`filterMetadata`). */
const DROPPED_ANNOTATIONS: readonly string[] = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
];

export interface ServiceTarget {
  /** Apex Service name; `-primary` and `-canary` are appended. */
  readonly name: string;
  readonly port: number;
  readonly portName: string;
  /** Container port number or name. */
  readonly targetPort: number | string;
}

export interface TargetSpec {
  readonly namespace: string;
  /** The target Deployment. */
  readonly name: string;
  readonly service: ServiceTarget;
  /** The target's HorizontalPodAutoscaler, copied as `<hpa>-primary`. */
  readonly hpaName?: string;
  /** Flagger's `autoscalerRef.primaryScalerReplicas`: min/max of `<hpa>-primary` (with `hpaName`). */
  readonly primaryScalerReplicas?: ScalerReplicas;
}

export interface ScalerReplicas {
  readonly minReplicas?: number;
  readonly maxReplicas?: number;
}

export const primaryName = (name: string) => `${name}${PRIMARY_SUFFIX}`;
export const canaryServiceName = (service: string) => `${service}${CANARY_SUFFIX}`;

/** The selector label Flagger keys the primary on: the first of `SELECTOR_LABELS` selected. */
export function selectorLabelOf(target: V1Deployment): { label: string; value: string } {
  const matchLabels = target.spec?.selector?.matchLabels ?? {};
  for (const label of SELECTOR_LABELS) {
    const value = matchLabels[label];
    if (value !== undefined) return { label, value };
  }
  throw new AviaryError(
    ErrorCode.Validation,
    `Deployment ${target.metadata?.namespace}/${target.metadata?.name}: spec.selector.matchLabels has none of ${SELECTOR_LABELS.join(', ')}`,
  );
}

function primaryLabels(
  labels: Record<string, string> | undefined,
  label: string,
  value: string,
): Record<string, string> {
  return { ...labels, [label]: `${value}${PRIMARY_SUFFIX}` };
}

function filterAnnotations(annotations: Record<string, string> | undefined) {
  if (annotations === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(annotations).filter(([k]) => !DROPPED_ANNOTATIONS.includes(k)),
  );
}

/** Flagger's `ApplyConfigRefs`: points a pod spec at the `-primary` copies of tracked configs. */
export function rewriteConfigRefs(spec: V1PodSpec, configs: TrackedConfigs): V1PodSpec {
  const cms = new Set(configs.configMaps.map((c) => c.metadata?.name ?? ''));
  const secrets = new Set(configs.secrets.map((s) => s.metadata?.name ?? ''));
  const cm = (name: string) => (cms.has(name) ? primaryName(name) : name);
  const secret = (name: string) => (secrets.has(name) ? primaryName(name) : name);
  const out = structuredClone(spec);
  for (const volume of out.volumes ?? []) {
    if (volume.configMap?.name) volume.configMap.name = cm(volume.configMap.name);
    if (volume.secret?.secretName) volume.secret.secretName = secret(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap?.name) source.configMap.name = cm(source.configMap.name);
      if (source.secret?.name) source.secret.name = secret(source.secret.name);
    }
  }
  for (const container of [...out.containers, ...(out.initContainers ?? [])]) {
    for (const env of container.env ?? []) {
      const cmRef = env.valueFrom?.configMapKeyRef;
      if (cmRef?.name) cmRef.name = cm(cmRef.name);
      const secretRef = env.valueFrom?.secretKeyRef;
      if (secretRef?.name) secretRef.name = secret(secretRef.name);
    }
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef?.name) from.configMapRef.name = cm(from.configMapRef.name);
      if (from.secretRef?.name) from.secretRef.name = secret(from.secretRef.name);
    }
  }
  return out;
}

/** The primary's pod template for a target template (promotion uses it too). */
export function primaryTemplate(target: V1Deployment, configs: TrackedConfigs): V1PodTemplateSpec {
  const { label, value } = selectorLabelOf(target);
  const template = target.spec?.template ?? {};
  const annotations = template.metadata?.annotations;
  return {
    metadata: {
      labels: primaryLabels(template.metadata?.labels, label, value),
      ...(annotations !== undefined ? { annotations: { ...annotations } } : {}),
    },
    spec: rewriteConfigRefs(template.spec ?? { containers: [] }, configs),
  };
}

/** The `<name>-primary` Deployment Flagger generates for a target. */
export function desiredPrimary(
  target: V1Deployment,
  configs: TrackedConfigs,
  revisionId: string,
): V1Deployment {
  const name = target.metadata?.name ?? '';
  const namespace = target.metadata?.namespace ?? 'default';
  const { label, value } = selectorLabelOf(target);
  const spec = target.spec;
  const metadata = ownedMetadata(
    primaryName(name),
    namespace,
    name,
    { ...primaryLabels(target.metadata?.labels, label, value), [PRIMARY_OF_LABEL]: name },
    { ...filterAnnotations(target.metadata?.annotations), [REVISION_ANNOTATION]: revisionId },
  );
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      // Flagger starts the primary with the target's replicas (1 when the target has none).
      replicas: spec?.replicas !== undefined && spec.replicas > 0 ? spec.replicas : 1,
      ...(spec?.progressDeadlineSeconds !== undefined
        ? { progressDeadlineSeconds: spec.progressDeadlineSeconds }
        : {}),
      ...(spec?.minReadySeconds !== undefined ? { minReadySeconds: spec.minReadySeconds } : {}),
      ...(spec?.revisionHistoryLimit !== undefined
        ? { revisionHistoryLimit: spec.revisionHistoryLimit }
        : {}),
      ...(spec?.strategy !== undefined ? { strategy: structuredClone(spec.strategy) } : {}),
      selector: { matchLabels: { [label]: `${value}${PRIMARY_SUFFIX}` } },
      template: primaryTemplate(target, configs),
    },
  };
}

export function configMapCopy(cm: V1ConfigMap, target: string): V1ConfigMap {
  const name = cm.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMetadata(
      primaryName(name),
      cm.metadata?.namespace ?? 'default',
      target,
      cm.metadata?.labels,
      filterAnnotations(cm.metadata?.annotations),
    ),
    ...(cm.data !== undefined ? { data: { ...cm.data } } : {}),
    ...(cm.binaryData !== undefined ? { binaryData: { ...cm.binaryData } } : {}),
  };
}

export function secretCopy(secret: V1Secret, target: string): V1Secret {
  const name = secret.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(
      primaryName(name),
      secret.metadata?.namespace ?? 'default',
      target,
      secret.metadata?.labels,
      filterAnnotations(secret.metadata?.annotations),
    ),
    ...(secret.type !== undefined ? { type: secret.type } : {}),
    ...(secret.data !== undefined ? { data: { ...secret.data } } : {}),
  };
}

/** `<svc>` and `<svc>-primary` select the primary's pods, `<svc>-canary` the target's. */
export function desiredServices(spec: TargetSpec, target: V1Deployment): V1Service[] {
  const { label, value } = selectorLabelOf(target);
  const make = (name: string, selectorValue: string): V1Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(name, spec.namespace, spec.name, { app: name }),
    spec: {
      type: 'ClusterIP',
      selector: { [label]: selectorValue },
      ports: [
        {
          name: spec.service.portName,
          protocol: 'TCP',
          port: spec.service.port,
          targetPort: spec.service.targetPort,
        },
      ],
    },
  });
  const svc = spec.service.name;
  return [
    make(svc, `${value}${PRIMARY_SUFFIX}`),
    make(primaryName(svc), `${value}${PRIMARY_SUFFIX}`),
    make(canaryServiceName(svc), value),
  ];
}

/**
 * The `<hpa>-primary` copy of the target's HPA, scaling `<target>-primary`, with
 * `primaryScalerReplicas` overriding its min/max (Flagger's `hpa_reconciler.go`). Throws a
 * validation error when the resulting minimum exceeds the maximum (the API would accept the object
 * and the autoscaler would not work).
 */
export function hpaCopy(
  hpa: V2HorizontalPodAutoscaler,
  target: string,
  replicas: ScalerReplicas = {},
): V2HorizontalPodAutoscaler {
  const name = hpa.metadata?.name ?? '';
  const spec = structuredClone(hpa.spec);
  if (replicas.minReplicas !== undefined) spec.minReplicas = replicas.minReplicas;
  if (replicas.maxReplicas !== undefined) spec.maxReplicas = replicas.maxReplicas;
  const min = spec.minReplicas ?? 1;
  if (min > spec.maxReplicas) {
    throw new AviaryError(
      ErrorCode.Validation,
      `HorizontalPodAutoscaler ${primaryName(name)}: minReplicas ${min} exceeds maxReplicas ${spec.maxReplicas} (primaryScalerReplicas over ${name})`,
    );
  }
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: ownedMetadata(
      primaryName(name),
      hpa.metadata?.namespace ?? 'default',
      target,
      hpa.metadata?.labels,
      filterAnnotations(hpa.metadata?.annotations),
    ),
    spec: { ...spec, scaleTargetRef: { ...spec.scaleTargetRef, name: primaryName(target) } },
  };
}

/** The fields of `<hpa>-primary` the agent keeps equal to the desired copy (Flagger's update). */
function scalerFields(hpa: V2HorizontalPodAutoscaler) {
  const spec = hpa.spec;
  return canonicalJson({
    scaleTargetRef: spec?.scaleTargetRef,
    minReplicas: spec?.minReplicas ?? 1,
    maxReplicas: spec?.maxReplicas,
    metrics: spec?.metrics ?? [],
    behavior: spec?.behavior ?? null,
  });
}

/**
 * Flagger's `ReconcilePrimaryScaler` update: an existing copy whose target, bounds, metrics or
 * behaviour differ from the desired one is rewritten (metadata and status kept); an equal one is
 * left alone, so a re-delivered `initializeTarget` changes nothing.
 */
function reconcileHpa(desired: V2HorizontalPodAutoscaler) {
  return (current: V2HorizontalPodAutoscaler): V2HorizontalPodAutoscaler | undefined => {
    if (scalerFields(current) === scalerFields(desired)) return undefined;
    return { ...current, spec: structuredClone(desired.spec) };
  };
}

export interface BootstrapResult {
  /** `Kind/name` of every object this run created. */
  readonly created: readonly string[];
  /** `Kind/name` of every owned object this run changed back to its desired shape. */
  readonly updated: readonly string[];
  readonly primaryReadiness: Readiness;
  /** True once the target has been scaled to zero (the primary was ready). */
  readonly canaryScaledToZero: boolean;
  readonly primaryGeneration: number;
}

/**
 * Creates `desired` unless it exists. An existing object must be owned; with `reconcile` its
 * fields are compared and rewritten (keeping server-set fields) when they differ.
 */
async function ensure<K extends KubeKind>(
  kube: KubeClient,
  kind: K,
  desired: KubeObjects[K],
  signal: AbortSignal,
  log: { created: string[]; updated: string[] },
  reconcile?: (current: KubeObjects[K]) => KubeObjects[K] | undefined,
): Promise<KubeObjects[K]> {
  const namespace = desired.metadata?.namespace ?? 'default';
  const name = desired.metadata?.name ?? '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await kube.get(kind, namespace, name, signal);
    if (current === undefined) {
      const created = await kube.create(kind, namespace, desired, signal);
      if (created.outcome === 'exists') continue; // raced with another writer: look again
      log.created.push(`${kind}/${name}`);
      return created.object;
    }
    if (!isOwned(current)) throw new NotOwnedError(kind, namespace, name);
    if (reconcile === undefined) return current;
    const result = await updateWithRetry(kube, kind, namespace, name, reconcile, signal);
    if (result.outcome === 'not-found') continue;
    if (result.outcome === 'updated') log.updated.push(`${kind}/${name}`);
    return result.object;
  }
  throw new AviaryError(ErrorCode.Concurrency, `${kind} ${namespace}/${name} keeps changing`);
}

function reconcileService(desired: V1Service) {
  return (current: V1Service): V1Service | undefined => {
    const same =
      canonicalJson(current.spec?.selector) === canonicalJson(desired.spec?.selector) &&
      canonicalJson(
        current.spec?.ports?.map((p) => ({
          name: p.name,
          protocol: p.protocol,
          port: p.port,
          targetPort: p.targetPort,
        })),
      ) === canonicalJson(desired.spec?.ports);
    if (same) return undefined;
    return {
      ...current,
      spec: { ...current.spec, ...pick(desired.spec ?? {}, 'selector', 'ports') },
    };
  };
}

/** Ensures the `-primary` copies of tracked configs exist; `overwrite` also syncs their data. */
export async function ensureConfigCopies(
  kube: KubeClient,
  configs: TrackedConfigs,
  target: string,
  overwrite: boolean,
  signal: AbortSignal,
  log: { created: string[]; updated: string[] } = { created: [], updated: [] },
): Promise<void> {
  for (const cm of configs.configMaps) {
    const desired = configMapCopy(cm, target);
    await ensure(kube, 'ConfigMap', desired, signal, log, (current) => {
      if (!overwrite) return undefined;
      if (
        canonicalJson([current.data, current.binaryData]) ===
        canonicalJson([desired.data, desired.binaryData])
      )
        return undefined;
      const { data: _d, binaryData: _b, ...rest } = current;
      return { ...rest, ...pick(desired, 'data', 'binaryData') };
    });
  }
  for (const secret of configs.secrets) {
    const desired = secretCopy(secret, target);
    await ensure(kube, 'Secret', desired, signal, log, (current) => {
      if (!overwrite) return undefined;
      if (canonicalJson(current.data) === canonicalJson(desired.data)) return undefined;
      const { data: _d, ...rest } = current;
      return { ...rest, ...pick(desired, 'data') };
    });
  }
}

function pick<T extends object, K extends keyof T>(object: T, ...keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (object[key] !== undefined) out[key] = object[key];
  return out;
}

export interface BootstrapOptions {
  /** Wall clock for the readiness rule's progress deadline. */
  readonly nowMs: () => number;
  /**
   * How long to wait, within this call, for a primary that is not ready yet (polling it every
   * `readyPollMs`) before answering not ready. Default 0: answer at once.
   */
  readonly readyWaitMs?: number;
  /** Default 100 ms. */
  readonly readyPollMs?: number;
  /**
   * Creates or reconciles the routing object (the router's `reconcile`). Runs once the primary
   * is ready and the Services exist, before the target is scaled to zero.
   */
  readonly routing?: (signal: AbortSignal) => Promise<void>;
  /**
   * Annotations the primary must carry (the HPA, router and apex Service of the target, read
   * back by `finalizeTarget` and by a restarted agent): set on a new primary, patched onto an
   * existing one when they differ.
   */
  readonly primaryAnnotations?: Readonly<Record<string, string>>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new AviaryError(ErrorCode.Aborted, 'bootstrap aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AviaryError(ErrorCode.Aborted, 'bootstrap aborted', { cause: signal.reason }));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Flagger's `IsPrimaryReady`, with the progress deadline Flagger takes from the Canary taken from
 * the Deployment (`progressDeadlineSeconds`, 600 s by default, copied from the target): past it, a
 * primary whose pods are still unavailable is not ready and will not be (`retriable: false`).
 */
export function primaryReadinessOf(primary: V1Deployment, nowMs: number): Readiness {
  const seconds = primary.spec?.progressDeadlineSeconds;
  return deploymentReadiness(primary, {
    nowMs,
    ...(seconds !== undefined ? { progressDeadlineSeconds: seconds } : {}),
  });
}

/**
 * Polls the primary until it is ready, its readiness can no longer come (progress deadline), it
 * is gone, or `waitMs` has passed; answers the last readiness and the primary as last read.
 */
async function waitForPrimary(
  kube: KubeClient,
  primary: V1Deployment,
  signal: AbortSignal,
  options: BootstrapOptions,
): Promise<{ primary: V1Deployment; readiness: Readiness }> {
  const namespace = primary.metadata?.namespace ?? 'default';
  const name = primary.metadata?.name ?? '';
  const deadline = options.nowMs() + (options.readyWaitMs ?? 0);
  let current = primary;
  let readiness = primaryReadinessOf(current, options.nowMs());
  while (!readiness.ready && readiness.retriable && options.nowMs() < deadline) {
    await sleep(Math.min(options.readyPollMs ?? 100, deadline - options.nowMs()), signal);
    const read = await kube.get('Deployment', namespace, name, signal);
    if (read === undefined) break;
    current = read;
    readiness = primaryReadinessOf(current, options.nowMs());
  }
  return { primary: current, readiness };
}

/**
 * Bootstraps a target in Flagger's order (`advanceCanary` while `Initializing`): nothing that
 * carries traffic exists before the primary can serve it.
 *
 * 1. The `-primary` copies of the tracked configs and the `<name>-primary` Deployment.
 * 2. Wait for the primary (Flagger's `IsPrimaryReady`): up to `readyWaitMs`, then answer not ready
 *    with nothing else created; the caller retries and the next run continues here.
 * 3. `<hpa>-primary` (Flagger's `ReconcilePrimaryScaler`, after the primary's readiness), with
 *    the `primaryScalerReplicas` overrides; an existing copy that differs is updated.
 * 4. Services `<svc>` (apex), `<svc>-primary`, `<svc>-canary`.
 * 5. The routing object (`options.routing`).
 * 6. The target scaled to zero (Flagger's `ScaleToZero`).
 *
 * Differences from Flagger, both on purpose: Flagger creates `<svc>-primary` and `<svc>-canary`
 * before the primary (its `kubeRouter.Initialize` runs first on every tick); they select pods
 * no route points at yet, and creating them with the apex keeps a target whose primary never
 * becomes ready free of Services. And Flagger scales the target to zero before its mesh router
 * reconciles; here the routing object comes first, so a routing object that cannot be written
 * (owned by someone else, refused by the router) leaves the target running.
 */
export async function bootstrapTarget(
  kube: KubeClient,
  spec: TargetSpec,
  signal: AbortSignal,
  options: BootstrapOptions,
): Promise<BootstrapResult> {
  const log = { created: [] as string[], updated: [] as string[] };
  const target = await kube.get('Deployment', spec.namespace, spec.name, signal);
  if (target === undefined) {
    throw new AviaryError(
      ErrorCode.Validation,
      `target Deployment ${spec.namespace}/${spec.name} does not exist`,
    );
  }
  selectorLabelOf(target); // fails early on a target Flagger could not bootstrap either
  const configs = await readTrackedConfigs(
    kube,
    spec.namespace,
    target.spec?.template?.spec,
    signal,
  );
  const revision = revisionOf(target.spec?.template, configs);
  // The target's HPA must exist, and its copy be valid, before anything is created; the copy
  // itself comes after the primary.
  let hpa: V2HorizontalPodAutoscaler | undefined;
  if (spec.hpaName !== undefined) {
    const found = await kube.get('HorizontalPodAutoscaler', spec.namespace, spec.hpaName, signal);
    if (found === undefined) {
      throw new AviaryError(
        ErrorCode.Validation,
        `HorizontalPodAutoscaler ${spec.namespace}/${spec.hpaName} does not exist`,
      );
    }
    hpa = hpaCopy(found, spec.name, spec.primaryScalerReplicas);
  } else if (spec.primaryScalerReplicas !== undefined) {
    throw new AviaryError(
      ErrorCode.Validation,
      'primaryScalerReplicas needs the HorizontalPodAutoscaler it overrides (hpaName)',
    );
  }

  // 1. The primary and its configs.
  const existingPrimary = await kube.get(
    'Deployment',
    spec.namespace,
    primaryName(spec.name),
    signal,
  );
  if (existingPrimary !== undefined && !isOwned(existingPrimary)) {
    throw new NotOwnedError('Deployment', spec.namespace, primaryName(spec.name));
  }
  // A new primary runs the target's configs: copies are synced. An existing one keeps its own.
  await ensureConfigCopies(kube, configs, spec.name, existingPrimary === undefined, signal, log);
  const wanted = options.primaryAnnotations ?? {};
  const desired = desiredPrimary(target, configs, revision.id);
  desired.metadata = {
    ...desired.metadata,
    annotations: { ...desired.metadata?.annotations, ...wanted },
  };
  let ensured = await ensure(kube, 'Deployment', desired, signal, log);
  const current = ensured.metadata?.annotations ?? {};
  if (Object.entries(wanted).some(([k, v]) => current[k] !== v)) {
    // Metadata only: the primary's generation (and pods) do not change.
    const patched = await kube.mergePatch(
      'Deployment',
      spec.namespace,
      primaryName(spec.name),
      { metadata: { annotations: { ...wanted } } },
      signal,
    );
    if (patched !== undefined) {
      ensured = patched;
      log.updated.push(`Deployment/${primaryName(spec.name)}`);
    }
  }

  // 2. Nothing routes to the primary before it is ready.
  const { primary, readiness: primaryReadiness } = await waitForPrimary(
    kube,
    ensured,
    signal,
    options,
  );
  let canaryScaledToZero = (target.spec?.replicas ?? 1) === 0;
  const primaryGeneration = primary.metadata?.generation ?? 0;
  if (!primaryReadiness.ready) {
    return { ...log, primaryReadiness, canaryScaledToZero, primaryGeneration };
  }

  // 3. The primary's autoscaler, its bounds and metrics kept equal to the desired copy.
  if (hpa !== undefined) {
    await ensure(kube, 'HorizontalPodAutoscaler', hpa, signal, log, reconcileHpa(hpa));
  }

  // 4. The Services, the apex selecting the primary's pods.
  for (const service of desiredServices(spec, target)) {
    await ensure(kube, 'Service', service, signal, log, reconcileService(service));
  }

  // 5. The routing object.
  await options.routing?.(signal);

  // 6. The target scaled to zero.
  if (!canaryScaledToZero) {
    await kube.mergePatch(
      'Deployment',
      spec.namespace,
      spec.name,
      { spec: { replicas: 0 } },
      signal,
    );
    canaryScaledToZero = true;
  }
  return {
    created: log.created,
    updated: log.updated,
    primaryReadiness,
    canaryScaledToZero,
    primaryGeneration,
  };
}
