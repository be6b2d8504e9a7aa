/**
 * Revision identity of a target, the Flagger way (`pkg/canary/spec.go`, `config_tracker.go`): a
 * hash of the Deployment's pod template plus the checksums of the ConfigMaps and Secrets it
 * references. Two clusters running the same template and configs compute the same id.
 *
 * Tracked references: volumes (`configMap`, `secret`, `projected.sources[].configMap/secret`) and,
 * in containers and init containers, `env[].valueFrom.configMapKeyRef/secretKeyRef` and
 * `envFrom[].configMapRef/secretRef`. Secrets only of types Opaque, basic-auth, ssh-auth and tls.
 * An object annotated `flagger.app/config-tracking: disabled` is not tracked. A missing optional
 * reference is skipped; a missing required one is an error (`MissingConfigError`).
 */
import { createHash } from 'node:crypto';
import { AviaryError, ErrorCode } from '@aviary/core';
import type {
  V1ConfigMap,
  V1Deployment,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Secret,
} from '@kubernetes/client-node';
import type { KubeClient } from './kube/kube-client.ts';

export const CONFIG_TRACKING_ANNOTATION = 'flagger.app/config-tracking';
export const TRACKED_SECRET_TYPES: readonly string[] = [
  'Opaque',
  'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth',
  'kubernetes.io/tls',
];

export interface Revision {
  readonly id: string;
  readonly podTemplateHash: string;
  /** `configmap/<name>` or `secret/<name>` → 16-hex checksum of its data. */
  readonly configChecksums: Readonly<Record<string, string>>;
}

/** The ConfigMaps and Secrets a pod spec references; value: whether the reference is optional. */
export interface ConfigRefs {
  readonly configMaps: Map<string, boolean>;
  readonly secrets: Map<string, boolean>;
}

/** A tracked config as found in the cluster. */
export interface TrackedConfigs {
  readonly configMaps: readonly V1ConfigMap[];
  readonly secrets: readonly V1Secret[];
}

export class MissingConfigError extends AviaryError {
  override name = 'MissingConfigError';
  readonly configKind: 'ConfigMap' | 'Secret';
  readonly configName: string;

  constructor(configKind: 'ConfigMap' | 'Secret', namespace: string, configName: string) {
    super(
      ErrorCode.Validation,
      `${configKind} ${namespace}/${configName} is referenced by the pod template (not optional) and does not exist`,
    );
    this.configKind = configKind;
    this.configName = configName;
  }
}

/** JSON with object keys sorted, so equal values hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  });
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hash of a pod template (labels, annotations, spec), 16 hex characters. */
export function hashPodTemplate(template: V1PodTemplateSpec | undefined): string {
  return sha256Hex(canonicalJson(template ?? {})).slice(0, 16);
}

/** Flagger's config checksum: the first 8 bytes of sha256 over the JSON of `data`, in hex. */
export function configChecksum(data: Readonly<Record<string, string>> | undefined): string {
  return sha256Hex(canonicalJson(data ?? {})).slice(0, 16);
}

export function revisionIdOf(
  podTemplateHash: string,
  configChecksums: Readonly<Record<string, string>>,
): string {
  return sha256Hex(canonicalJson({ podTemplateHash, configChecksums })).slice(0, 16);
}

/** Every ConfigMap/Secret reference of a pod spec (volumes, projected sources, env, envFrom). */
export function configRefsOf(spec: V1PodSpec | undefined): ConfigRefs {
  const configMaps = new Map<string, boolean>();
  const secrets = new Map<string, boolean>();
  // A name referenced both optionally and as required is required.
  const add = (into: Map<string, boolean>, name: string | undefined, optional?: boolean) => {
    if (!name) return;
    into.set(name, (into.get(name) ?? true) && optional === true);
  };
  for (const volume of spec?.volumes ?? []) {
    add(configMaps, volume.configMap?.name, volume.configMap?.optional);
    add(secrets, volume.secret?.secretName, volume.secret?.optional);
    for (const source of volume.projected?.sources ?? []) {
      add(configMaps, source.configMap?.name, source.configMap?.optional);
      add(secrets, source.secret?.name, source.secret?.optional);
    }
  }
  for (const container of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    for (const env of container.env ?? []) {
      const cm = env.valueFrom?.configMapKeyRef;
      add(configMaps, cm?.name, cm?.optional);
      const secret = env.valueFrom?.secretKeyRef;
      add(secrets, secret?.name, secret?.optional);
    }
    for (const from of container.envFrom ?? []) {
      add(configMaps, from.configMapRef?.name, from.configMapRef?.optional);
      add(secrets, from.secretRef?.name, from.secretRef?.optional);
    }
  }
  return { configMaps, secrets };
}

function trackingDisabled(object: { metadata?: { annotations?: Record<string, string> } }) {
  return object.metadata?.annotations?.[CONFIG_TRACKING_ANNOTATION]?.startsWith('disable') === true;
}

/** Reads the tracked ConfigMaps and Secrets of a pod spec (skipping opted-out and untracked). */
export async function readTrackedConfigs(
  kube: KubeClient,
  namespace: string,
  spec: V1PodSpec | undefined,
  signal: AbortSignal,
): Promise<TrackedConfigs> {
  const refs = configRefsOf(spec);
  const configMaps: V1ConfigMap[] = [];
  const secrets: V1Secret[] = [];
  for (const [name, optional] of refs.configMaps) {
    const cm = await kube.get('ConfigMap', namespace, name, signal);
    if (cm === undefined) {
      if (optional) continue;
      throw new MissingConfigError('ConfigMap', namespace, name);
    }
    if (!trackingDisabled(cm)) configMaps.push(cm);
  }
  for (const [name, optional] of refs.secrets) {
    const secret = await kube.get('Secret', namespace, name, signal);
    if (secret === undefined) {
      if (optional) continue;
      throw new MissingConfigError('Secret', namespace, name);
    }
    if (trackingDisabled(secret)) continue;
    if (!TRACKED_SECRET_TYPES.includes(secret.type ?? 'Opaque')) continue;
    secrets.push(secret);
  }
  return { configMaps, secrets };
}

export function checksumsOf(configs: TrackedConfigs): Record<string, string> {
  const checksums: Record<string, string> = {};
  for (const cm of configs.configMaps) {
    checksums[`configmap/${cm.metadata?.name ?? ''}`] = configChecksum(cm.data);
  }
  for (const secret of configs.secrets) {
    checksums[`secret/${secret.metadata?.name ?? ''}`] = configChecksum(secret.data);
  }
  return checksums;
}

export function revisionOf(template: V1PodTemplateSpec | undefined, configs: TrackedConfigs) {
  const podTemplateHash = hashPodTemplate(template);
  const configChecksums = checksumsOf(configs);
  return {
    id: revisionIdOf(podTemplateHash, configChecksums),
    podTemplateHash,
    configChecksums,
  } satisfies Revision;
}

/** The revision a target Deployment runs now (reads its tracked configs). */
export async function computeRevision(
  kube: KubeClient,
  deployment: V1Deployment,
  signal: AbortSignal,
): Promise<Revision> {
  const namespace = deployment.metadata?.namespace ?? 'default';
  const template = deployment.spec?.template;
  const configs = await readTrackedConfigs(kube, namespace, template?.spec, signal);
  return revisionOf(template, configs);
}
