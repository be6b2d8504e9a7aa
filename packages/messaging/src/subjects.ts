import { ValidationError } from '@aviary/core';

/**
 * Aviary's NATS subjects, under a root that is `aviary` in production:
 *
 * | subject                                  | publisher    | consumer     | stream          |
 * | ---------------------------------------- | ------------ | ------------ | --------------- |
 * | `aviary.v1.cluster.<cluster>.obs.<kind>` | agent        | orchestrator | AVIARY_OBS      |
 * | `aviary.v1.cluster.<cluster>.cmd`        | orchestrator | agent        | AVIARY_CMD      |
 * | `aviary.v1.analysis.req`                 | orchestrator | analyzer     | AVIARY_ANALYSIS |
 * | `aviary.v1.analysis.res`                 | analyzer     | orchestrator | AVIARY_ANALYSIS |
 *
 * The cluster token is the agent's identity: NATS permissions allow an agent to publish only under
 * its own cluster, so a consumer takes the cluster from the subject, never from the payload.
 * A namespace replaces the `aviary` root and the `AVIARY` stream prefix together, so tests (or two
 * systems sharing one NATS) never see each other's messages.
 */

export const SUBJECT_VERSION = 'v1';
export const DEFAULT_NAMESPACE = 'aviary';

/** Where a set of subjects and streams lives: `aviary` in production, a unique name in tests. */
export interface MessagingNamespace {
  /** First subject token: `aviary`, or e.g. `test_1234_abc`. */
  readonly subjectRoot: string;
  /** Stream name prefix: `AVIARY`, or e.g. `TEST_1234_ABC`. */
  readonly streamPrefix: string;
}

const NAMESPACE_PATTERN = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;

/**
 * The namespace named `name` (lowercase letters, digits, `_` and `-`, up to 64): its subjects
 * start with `<name>.v1.` and its streams with `<NAME>_`. Without a name, the production `aviary`.
 */
export function messagingNamespace(name: string = DEFAULT_NAMESPACE): MessagingNamespace {
  if (!NAMESPACE_PATTERN.test(name)) {
    throw new ValidationError('invalid messaging namespace', [
      {
        path: 'namespace',
        message: `${JSON.stringify(name)} must be 1-64 lowercase letters, digits, '_' or '-', starting and ending with a letter or digit`,
      },
    ]);
  }
  return { subjectRoot: name, streamPrefix: name.toUpperCase().replaceAll('-', '_') };
}

export const DEFAULT_MESSAGING_NAMESPACE: MessagingNamespace = messagingNamespace();

/** Whether `name` can name a messaging namespace (see `messagingNamespace`). */
export function isValidNamespaceName(name: string): boolean {
  return NAMESPACE_PATTERN.test(name);
}

/** A DNS-1123 label: lowercase letters, digits and '-', starting and ending alphanumeric, ≤ 63. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isValidClusterName(name: string): boolean {
  return DNS_LABEL.test(name);
}

/** Returns `name` if it is a valid cluster name (a DNS-1123 label), else throws ValidationError. */
export function assertClusterName(name: string): string {
  if (!isValidClusterName(name)) {
    throw new ValidationError('invalid cluster name', [
      { path: 'cluster', message: tokenProblem(name, 'cluster name') },
    ]);
  }
  return name;
}

/** Observation kinds are subject tokens of the same shape as cluster names. */
export function assertObservationKind(kind: string): string {
  if (!DNS_LABEL.test(kind)) {
    throw new ValidationError('invalid observation kind', [
      { path: 'kind', message: tokenProblem(kind, 'observation kind') },
    ]);
  }
  return kind;
}

function tokenProblem(value: string, what: string): string {
  return (
    `${JSON.stringify(value)} is not a valid ${what}: use 1-63 lowercase letters, digits and '-', ` +
    `starting and ending with a letter or digit (no '.', '*', '>' or spaces)`
  );
}

/** `aviary.v1.cluster.<cluster>.obs.<kind>`: what an agent observed. */
export function observationSubject(
  cluster: string,
  kind: string,
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): string {
  return `${clusterPrefix(namespace)}.${assertClusterName(cluster)}.obs.${assertObservationKind(kind)}`;
}

/** `aviary.v1.cluster.<cluster>.cmd`: commands for one cluster's agent. */
export function commandSubject(
  cluster: string,
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): string {
  return `${clusterPrefix(namespace)}.${assertClusterName(cluster)}.cmd`;
}

/** `aviary.v1.analysis.req`: analysis requests for the analyzer. */
export function analysisRequestSubject(
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): string {
  return `${namespace.subjectRoot}.${SUBJECT_VERSION}.analysis.req`;
}

/** `aviary.v1.analysis.res`: the analyzer's verdicts. */
export function analysisResultSubject(
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): string {
  return `${namespace.subjectRoot}.${SUBJECT_VERSION}.analysis.res`;
}

/** Wildcard subjects for stream definitions and consumer filters. */
export const subjectFilters = {
  /** Every observation of every cluster, or of one cluster when given. */
  observations(namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE, cluster?: string) {
    const token = cluster === undefined ? '*' : assertClusterName(cluster);
    return `${clusterPrefix(namespace)}.${token}.obs.*`;
  },
  /** Every cluster's command subject. */
  commands(namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE) {
    return `${clusterPrefix(namespace)}.*.cmd`;
  },
  /** Analysis requests and results. */
  analysis(namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE) {
    return [analysisRequestSubject(namespace), analysisResultSubject(namespace)];
  },
} as const;

export const SubjectType = {
  Observation: 'observation',
  Command: 'command',
  AnalysisRequest: 'analysis-request',
  AnalysisResult: 'analysis-result',
} as const;
export type SubjectType = (typeof SubjectType)[keyof typeof SubjectType];

export type ParsedSubject =
  | {
      readonly type: typeof SubjectType.Observation;
      readonly cluster: string;
      readonly kind: string;
    }
  | { readonly type: typeof SubjectType.Command; readonly cluster: string }
  | { readonly type: typeof SubjectType.AnalysisRequest }
  | { readonly type: typeof SubjectType.AnalysisResult };

/**
 * What an Aviary subject of `namespace` addresses, or `undefined` for any other subject
 * (another namespace or version, a malformed cluster or kind token, extra tokens).
 */
export function parseSubject(
  subject: string,
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): ParsedSubject | undefined {
  const tokens = subject.split('.');
  if (tokens[0] !== namespace.subjectRoot || tokens[1] !== SUBJECT_VERSION) return undefined;
  const [, , area, a, b, c, ...rest] = tokens;
  if (rest.length > 0) return undefined;
  if (area === 'analysis' && b === undefined) {
    if (a === 'req') return { type: SubjectType.AnalysisRequest };
    if (a === 'res') return { type: SubjectType.AnalysisResult };
    return undefined;
  }
  if (area !== 'cluster' || a === undefined || !isValidClusterName(a)) return undefined;
  if (b === 'cmd' && c === undefined) return { type: SubjectType.Command, cluster: a };
  if (b === 'obs' && c !== undefined && DNS_LABEL.test(c)) {
    return { type: SubjectType.Observation, cluster: a, kind: c };
  }
  return undefined;
}

/** Like `parseSubject`, but throws ValidationError for a subject that is not Aviary's. */
export function parseSubjectOrThrow(
  subject: string,
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): ParsedSubject {
  const parsed = parseSubject(subject, namespace);
  if (parsed === undefined) {
    throw new ValidationError('not an Aviary subject', [
      {
        path: 'subject',
        message: `${JSON.stringify(subject)} is not an Aviary ${SUBJECT_VERSION} subject under ${JSON.stringify(namespace.subjectRoot)}`,
      },
    ]);
  }
  return parsed;
}

function clusterPrefix(namespace: MessagingNamespace): string {
  return `${namespace.subjectRoot}.${SUBJECT_VERSION}.cluster`;
}
