/**
 * Which objects belong to the agent. Everything the agent creates carries the label
 * `app.kubernetes.io/managed-by: aviary` and the annotation `aviary.dev/target: <target name>`;
 * the agent modifies or deletes only objects carrying that label. The one object it changes
 * without owning it is the target Deployment itself (its replicas), which a command names.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { V1ObjectMeta } from '@kubernetes/client-node';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'aviary';
/** On every generated object: the target Deployment it was generated for. */
export const TARGET_ANNOTATION = 'aviary.dev/target';
/** On `<name>-primary`: the revision id the primary runs (set at bootstrap and promotion). */
export const REVISION_ANNOTATION = 'aviary.dev/revision';
/** On `<name>-primary`: the target's name, so that a restarted agent finds its targets. */
export const PRIMARY_OF_LABEL = 'aviary.dev/primary-of';
/**
 * On `<name>-primary`, set by `initializeTarget`: the target's HPA (`hpaName`), so that
 * `finalizeTarget`, which does not carry it, deletes `<hpa>-primary` too.
 */
export const HPA_ANNOTATION = 'aviary.dev/hpa';
/**
 * On `<name>-primary`, set by `initializeTarget`: the router kind (`istio`, `gateway-api`, …) and
 * the apex Service, so that a restarted agent can read the target's routes again.
 */
export const ROUTER_ANNOTATION = 'aviary.dev/router';
export const SERVICE_ANNOTATION = 'aviary.dev/service';

export function isOwned(object: { metadata?: V1ObjectMeta } | undefined): boolean {
  return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Metadata for an object the agent generates for `target`. */
export function ownedMetadata(
  name: string,
  namespace: string,
  target: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): V1ObjectMeta {
  return {
    name,
    namespace,
    labels: { ...labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: { ...annotations, [TARGET_ANNOTATION]: target },
  };
}

/** Thrown when a generated object's name is taken by an object the agent does not own. */
export class NotOwnedError extends AviaryError {
  override name = 'NotOwnedError';
  readonly kind: string;
  readonly objectName: string;

  constructor(kind: string, namespace: string, objectName: string) {
    super(
      ErrorCode.Validation,
      `${kind} ${namespace}/${objectName} exists and is not managed by Aviary (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label); it is left untouched`,
    );
    this.kind = kind;
    this.objectName = objectName;
  }
}
