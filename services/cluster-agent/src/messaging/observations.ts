/**
 * Builders of the `Observation` envelopes the agent publishes, and where each kind goes. Pure
 * functions: the caller passes the clock reading and the ids.
 *
 * Observation ids are deterministic, so that publishing the same observation again (after a
 * relist, a restart, a retried publish) is stored once by JetStream's duplicate window:
 * - object observations: `<cluster>:<uid>:<resourceVersion>:<kind>[:<revision id>]`;
 * - command results: `<commandId>:result`, routes read back after a command: `<commandId>:routes`;
 * - heartbeats: `<cluster>:heartbeat:<agent start ms>:<sequence>`;
 * - lease lapses: `<cluster>:lease-expired:<namespace>/<name>:<lapse ms>`.
 */
import {
  type CommandResult,
  type Heartbeat,
  type Observation,
  ObservationSchema,
  type StringMatch as ProtoStringMatch,
  type RevisionSeen,
  type RouterKind,
  type Routes,
  RoutesSchema,
  WorkloadKind,
  type WorkloadReadiness,
  type WorkloadRef,
  WorkloadRefSchema,
} from '@aviary/proto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { RouteSplit, StringMatch } from '../routers/traffic-router.ts';

/** Subject token (`…obs.<kind>`) of each observation kind: its case name in kebab-case. */
export const ObservationKind = {
  revisionSeen: 'revision-seen',
  workloadReadiness: 'workload-readiness',
  routesApplied: 'routes-applied',
  commandResult: 'command-result',
  heartbeat: 'heartbeat',
} as const;
export type ObservationKind = (typeof ObservationKind)[keyof typeof ObservationKind];

/** The subject token of `observation`'s kind; throws for an envelope without a kind. */
export function observationKindOf(observation: Observation): ObservationKind {
  const kind = observation.kind.case;
  if (kind === undefined) throw new TypeError('observation without a kind');
  return ObservationKind[kind];
}

type Kind = NonNullable<MessageInitShape<typeof ObservationSchema>['kind']>;

function envelope(id: string, cluster: string, nowMs: number, kind: Kind): Observation {
  return create(ObservationSchema, {
    observationId: id,
    cluster,
    observedAt: timestampFromMs(nowMs),
    kind,
  });
}

export function deploymentRef(namespace: string, name: string): WorkloadRef {
  return create(WorkloadRefSchema, { namespace, name, kind: WorkloadKind.DEPLOYMENT });
}

/** The id of an observation about one version of one Kubernetes object. */
export function objectObservationId(
  cluster: string,
  uid: string,
  resourceVersion: string,
  kind: ObservationKind,
  suffix?: string,
): string {
  const base = `${cluster}:${uid}:${resourceVersion}:${kind}`;
  return suffix === undefined ? base : `${base}:${suffix}`;
}

export function revisionSeenObservation(
  id: string,
  cluster: string,
  nowMs: number,
  value: Omit<RevisionSeen, '$typeName'>,
): Observation {
  return envelope(id, cluster, nowMs, { case: 'revisionSeen', value });
}

export function readinessObservation(
  id: string,
  cluster: string,
  nowMs: number,
  value: Omit<WorkloadReadiness, '$typeName'>,
): Observation {
  return envelope(id, cluster, nowMs, { case: 'workloadReadiness', value });
}

export function commandResultObservation(
  cluster: string,
  nowMs: number,
  result: CommandResult,
): Observation {
  return envelope(`${result.commandId}:result`, cluster, nowMs, {
    case: 'commandResult',
    value: result,
  });
}

export interface RoutesAppliedInit {
  readonly namespace: string;
  readonly name: string;
  readonly router: RouterKind;
  readonly routes: RouteSplit;
  /** Empty when the agent changed the routes on its own (lease lapse). */
  readonly commandId: string;
}

export function routesAppliedObservation(
  id: string,
  cluster: string,
  nowMs: number,
  init: RoutesAppliedInit,
): Observation {
  return envelope(id, cluster, nowMs, {
    case: 'routesApplied',
    value: {
      workload: deploymentRef(init.namespace, init.name),
      router: init.router,
      routes: protoRoutesOf(init.routes),
      commandId: init.commandId,
    },
  });
}

export function heartbeatObservation(
  id: string,
  cluster: string,
  nowMs: number,
  value: Omit<Heartbeat, '$typeName'>,
): Observation {
  return envelope(id, cluster, nowMs, { case: 'heartbeat', value });
}

function stringMatchInit(m: StringMatch): Omit<ProtoStringMatch, '$typeName'> {
  if ('exact' in m) return { kind: { case: 'exact', value: m.exact } };
  if ('prefix' in m) return { kind: { case: 'prefix', value: m.prefix } };
  if ('suffix' in m) return { kind: { case: 'suffix', value: m.suffix } };
  return { kind: { case: 'regex', value: m.regex } };
}

/** The proto `Routes` of a router-neutral split (the inverse of `routeSplitOf`). */
export function protoRoutesOf(split: RouteSplit): Routes {
  const matchesOf = (record: Readonly<Record<string, StringMatch>>) =>
    Object.fromEntries(Object.entries(record).map(([k, v]) => [k, stringMatchInit(v)]));
  return create(RoutesSchema, {
    primaryWeightPercent: split.primaryWeightPercent,
    canaryWeightPercent: split.canaryWeightPercent,
    matches: split.matches.map((m) => ({
      headers: matchesOf(m.headers),
      cookies: matchesOf(m.cookies),
    })),
    mirror: split.mirror,
    mirrorWeightPercent: split.mirrorWeightPercent,
  });
}
