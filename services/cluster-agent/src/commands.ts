/**
 * Applies `AgentCommand`s (canonical proto JSON) to the cluster, idempotently.
 *
 * - Input is validated with the generated schema (`fromJson`, unknown fields refused) and then for
 *   meaning (command id, workload, cluster, ports, weights). Anything malformed or unknown is a
 *   `REJECTED` result with the reason; the handler never throws for bad input.
 * - A command id that already ended `SUCCEEDED` or `REJECTED` returns its stored result and
 *   changes nothing, also after a restart: results are stored in the cluster
 *   (`command-results.ts`) before the handler answers, so before they are published and the
 *   command acked. `FAILED` results (the API refused or the primary is not ready yet) are not
 *   stored: the same command sent again tries again. If the agent stops between applying a
 *   command and storing its result, the re-delivered command is applied again; every command is
 *   convergent (it sets a state, it does not add to one), so this changes nothing twice.
 * - Commands run one at a time, in arrival order.
 */
import { AviaryError, ErrorCode, isAviaryError } from '@aviary/core';
import {
  type AgentCommand,
  AgentCommandSchema,
  CommandOutcome,
  type CommandResult,
  CommandResultSchema,
  type StringMatch as ProtoStringMatch,
  RouterKind,
  type Routes,
  type ServiceSpec,
} from '@aviary/proto';
import { create, fromJson, type JsonValue } from '@bufbuild/protobuf';
import type { V1Deployment } from '@kubernetes/client-node';
import {
  bootstrapTarget,
  canaryServiceName,
  ensureConfigCopies,
  primaryName,
  primaryTemplate,
  type ScalerReplicas,
  selectorLabelOf,
  type TargetSpec,
} from './bootstrap.ts';
import {
  type CommandResultStore,
  createConfigMapResultStore,
  type StoreLogger,
} from './command-results.ts';
import { KubeApiError, type KubeClient, type KubeKind } from './kube/kube-client.ts';
import { guardKubeClient, NotGrantedError } from './kube/permissions.ts';
import { updateWithRetry } from './kube/update.ts';
import {
  HPA_ANNOTATION,
  isOwned,
  NotOwnedError,
  REVISION_ANNOTATION,
  ROUTER_ANNOTATION,
  SERVICE_ANNOTATION,
  TARGET_ANNOTATION,
} from './ownership.ts';
import { deploymentReadiness } from './readiness.ts';
import { previousTemplateAnnotations, RevertRefusedError, revertPrimary } from './revert.ts';
import { computeRevision, MissingConfigError, readTrackedConfigs } from './revision.ts';
import { createRouter, trafficRouterKindOf } from './routers/create-router.ts';
import {
  type RouteMatch,
  type RouterTarget,
  type RouteSplit,
  routeSplitProblems,
  type StringMatch,
  type TrafficRouter,
  TrafficRouterKind,
} from './routers/traffic-router.ts';

/** Reasons of `REJECTED` and `FAILED` results, UpperCamelCase like Kubernetes reasons. */
export const CommandReason = {
  Malformed: 'Malformed',
  Invalid: 'Invalid',
  WrongCluster: 'WrongCluster',
  UnsupportedRouter: 'UnsupportedRouter',
  NotOwned: 'NotOwned',
  /** `revertPrimary`: the primary has no saved template of the revision asked for (`revert.ts`). */
  NoPreviousRevision: 'NoPreviousRevision',
  NotFound: 'NotFound',
  StaleRevision: 'StaleRevision',
  MissingConfig: 'MissingConfig',
  PrimaryNotReady: 'PrimaryNotReady',
  CanaryNotReady: 'CanaryNotReady',
  /** The stored command results could not be read or written (`command-results.ts`). */
  ResultsUnavailable: 'ResultsUnavailable',
  /** A call outside the agent's permission table (`kube/permissions.ts`): a bug, not retried. */
  NotGranted: 'NotGranted',
  Conflict: 'Conflict',
  Internal: 'Internal',
} as const;
export type CommandReason = (typeof CommandReason)[keyof typeof CommandReason];

export interface RoutesReadBack {
  readonly namespace: string;
  readonly name: string;
  readonly router: RouterKind;
  readonly routes: RouteSplit;
}

export interface HandledCommand {
  readonly result: CommandResult;
  /** Set after a `setRoutes`: the routes read back from the routing object. */
  readonly routesApplied?: RoutesReadBack;
  /** True when the result is a stored one (the command id was applied before). */
  readonly duplicate: boolean;
}

export interface CommandHandlerOptions {
  /** The port; the handler refuses calls its permission table does not grant (`permissions.ts`). */
  readonly kube: KubeClient;
  /** This agent's cluster; commands for another cluster are rejected. */
  readonly cluster: string;
  readonly nowMs: () => number;
  /**
   * Where results are stored for deduplication. Default: the ConfigMap
   * `aviary-agent-<cluster>-results` in `agentNamespace`.
   */
  readonly results?: CommandResultStore;
  /** The agent's namespace, for the default result store. Default `aviary-system`. */
  readonly agentNamespace?: string;
  /**
   * How long an `initializeTarget` waits for a primary that is not ready yet before answering
   * `PrimaryNotReady` (retriable). Default 2 s.
   */
  readonly primaryReadyWaitMs?: number;
  /** Router factory (tests may wrap it). */
  readonly routerFor?: (kind: TrafficRouterKind) => TrafficRouter;
  readonly logger?: StoreLogger;
}

export interface CommandHandler {
  /** Applies one command given as canonical proto JSON (parsed) or a JSON string. */
  handle(input: unknown, signal: AbortSignal): Promise<HandledCommand>;
}

class Rejection extends Error {
  readonly reason: CommandReason;
  constructor(reason: CommandReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

class Retriable extends Error {
  readonly reason: CommandReason;
  constructor(reason: CommandReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A `FAILED` result that trying again cannot change (e.g. past a progress deadline). */
class Terminal extends Error {
  readonly reason: CommandReason;
  constructor(reason: CommandReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

function routerKindOf(kind: RouterKind): TrafficRouterKind {
  const mapped = trafficRouterKindOf(kind);
  if (mapped === undefined) {
    throw new Rejection(
      CommandReason.UnsupportedRouter,
      `router ${RouterKind[kind] ?? kind} is not supported by this agent (supported: ${Object.values(TrafficRouterKind).join(', ')})`,
    );
  }
  return mapped;
}

export function parseCommand(input: unknown): AgentCommand {
  let json: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : new TextDecoder().decode(input);
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Rejection(CommandReason.Malformed, `not JSON: ${(error as Error).message}`);
    }
  }
  try {
    return fromJson(AgentCommandSchema, json as JsonValue);
  } catch (error) {
    throw new Rejection(CommandReason.Malformed, (error as Error).message);
  }
}

function stringMatchOf(m: ProtoStringMatch): StringMatch {
  const value = m.kind.value;
  if (typeof value !== 'string') throw new Rejection(CommandReason.Invalid, 'empty string match');
  switch (m.kind.case) {
    case 'exact':
      return { exact: value };
    case 'prefix':
      return { prefix: value };
    case 'suffix':
      return { suffix: value };
    case 'regex':
      return { regex: value };
    default:
      throw new Rejection(CommandReason.Invalid, 'empty string match');
  }
}

export function routeSplitOf(routes: Routes | undefined): RouteSplit {
  if (routes === undefined)
    throw new Rejection(CommandReason.Invalid, 'setRoutes.routes is required');
  const matches: RouteMatch[] = routes.matches.map((m) => ({
    headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, stringMatchOf(v)])),
    cookies: Object.fromEntries(Object.entries(m.cookies).map(([k, v]) => [k, stringMatchOf(v)])),
  }));
  const split: RouteSplit = {
    primaryWeightPercent: routes.primaryWeightPercent,
    canaryWeightPercent: routes.canaryWeightPercent,
    matches,
    mirror: routes.mirror,
    mirrorWeightPercent: routes.mirrorWeightPercent,
  };
  const problems = routeSplitProblems(split);
  if (problems.length > 0) throw new Rejection(CommandReason.Invalid, problems.join('; '));
  return split;
}

function targetSpecOf(
  namespace: string,
  name: string,
  service: ServiceSpec | undefined,
  hpa: string,
  replicas: ScalerReplicas = {},
) {
  if (service === undefined || service.port === 0) {
    throw new Rejection(CommandReason.Invalid, 'service.port is required');
  }
  const targetPort =
    service.targetPort === ''
      ? service.port
      : /^[0-9]+$/.test(service.targetPort)
        ? Number(service.targetPort)
        : service.targetPort;
  const spec: TargetSpec = {
    namespace,
    name,
    service: {
      name: service.name || name,
      port: service.port,
      portName: service.portName || 'http',
      targetPort,
    },
    ...(hpa !== '' ? { hpaName: hpa } : {}),
    ...(replicas.minReplicas !== undefined || replicas.maxReplicas !== undefined
      ? { primaryScalerReplicas: replicas }
      : {}),
  };
  return spec;
}

function routerTargetOf(spec: TargetSpec, service: ServiceSpec | undefined): RouterTarget {
  return {
    namespace: spec.namespace,
    targetName: spec.name,
    serviceName: spec.service.name,
    port: spec.service.port,
    hosts: service?.hosts ?? [],
    gateways: service?.gateways ?? [],
    gatewayRefs: (service?.gatewayRefs ?? []).map((ref) => ({
      name: ref.name,
      ...(ref.namespace !== '' ? { namespace: ref.namespace } : {}),
      ...(ref.sectionName !== '' ? { sectionName: ref.sectionName } : {}),
    })),
  };
}

export function createCommandHandler(options: CommandHandlerOptions): CommandHandler {
  const { nowMs } = options;
  const kube = guardKubeClient(options.kube);
  const routerFor = options.routerFor ?? ((kind) => createRouter(kind, kube));
  const primaryReadyWaitMs = options.primaryReadyWaitMs ?? 2000;
  const results =
    options.results ??
    createConfigMapResultStore({
      kube,
      cluster: options.cluster,
      ...(options.agentNamespace !== undefined ? { namespace: options.agentNamespace } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
  let queue: Promise<unknown> = Promise.resolve();

  async function apply(
    command: AgentCommand,
    signal: AbortSignal,
  ): Promise<{ generation: number; routes?: RoutesReadBack }> {
    const workload = command.workload;
    if (workload === undefined || workload.namespace === '' || workload.name === '') {
      throw new Rejection(
        CommandReason.Invalid,
        'workload.namespace and workload.name are required',
      );
    }
    const { namespace, name } = workload;
    const c = command.command;
    switch (c.case) {
      case 'initializeTarget': {
        const { primaryMinReplicas: min, primaryMaxReplicas: max } = c.value;
        const spec = targetSpecOf(namespace, name, c.value.service, c.value.hpaName, {
          ...(min !== undefined ? { minReplicas: min } : {}),
          ...(max !== undefined ? { maxReplicas: max } : {}),
        });
        const router = routerFor(routerKindOf(c.value.router));
        const routerTarget = routerTargetOf(spec, c.value.service);
        // The routing object is written only once the primary is ready (Flagger's order).
        const result = await bootstrapTarget(kube, spec, signal, {
          nowMs,
          readyWaitMs: primaryReadyWaitMs,
          routing: (s) => router.reconcile(routerTarget, s),
          primaryAnnotations: {
            [ROUTER_ANNOTATION]: routerKindOf(c.value.router),
            [SERVICE_ANNOTATION]: spec.service.name,
            ...(spec.hpaName !== undefined ? { [HPA_ANNOTATION]: spec.hpaName } : {}),
          },
        });
        const readiness = result.primaryReadiness;
        if (!readiness.ready) {
          const message = `${primaryName(name)}.${namespace} not ready: ${readiness.reason}`;
          // Past its progress deadline the primary will not become ready: a final FAILED, so
          // that the orchestrator rolls back now (Flagger's non-retriable readiness error).
          if (!readiness.retriable) throw new Terminal(CommandReason.PrimaryNotReady, message);
          throw new Retriable(CommandReason.PrimaryNotReady, message);
        }
        return { generation: result.primaryGeneration };
      }
      case 'scaleCanary': {
        const target = await requireTarget(namespace, name, signal);
        let replicas = c.value.replicas;
        if (replicas === undefined)
          replicas = await scaleFromZeroReplicas(namespace, name, target.spec?.replicas, signal);
        const patched = await kube.mergePatch(
          'Deployment',
          namespace,
          name,
          { spec: { replicas } },
          signal,
        );
        return { generation: patched?.metadata?.generation ?? 0 };
      }
      case 'scaleCanaryToZero': {
        await requireTarget(namespace, name, signal);
        const patched = await kube.mergePatch(
          'Deployment',
          namespace,
          name,
          { spec: { replicas: 0 } },
          signal,
        );
        return { generation: patched?.metadata?.generation ?? 0 };
      }
      case 'setRoutes': {
        const kind = routerKindOf(c.value.router);
        const split = routeSplitOf(c.value.routes);
        const router = routerFor(kind);
        const target: RouterTarget = {
          namespace,
          targetName: name,
          serviceName: c.value.serviceName || name,
          port: 0,
          hosts: [],
          gateways: [],
        };
        await router.setRoutes(target, split, signal);
        const routes = await router.getRoutes(target, signal);
        return {
          generation: 0,
          routes: { namespace, name, router: c.value.router, routes },
        };
      }
      case 'promoteCanary': {
        const target = await requireTarget(namespace, name, signal);
        const revision = await computeRevision(kube, target, signal);
        if (c.value.revisionId !== '' && c.value.revisionId !== revision.id) {
          throw new Rejection(
            CommandReason.StaleRevision,
            `the canary runs revision ${revision.id}, not ${c.value.revisionId}`,
          );
        }
        const configs = await readTrackedConfigs(
          kube,
          namespace,
          target.spec?.template?.spec,
          signal,
        );
        await ensureConfigCopies(kube, configs, name, true, signal);
        const template = primaryTemplate(target, configs);
        const result = await updateWithRetry(
          kube,
          'Deployment',
          namespace,
          primaryName(name),
          (primary) => {
            if (!isOwned(primary))
              throw new NotOwnedError('Deployment', namespace, primaryName(name));
            const spec = target.spec;
            return {
              ...primary,
              metadata: {
                ...primary.metadata,
                annotations: {
                  ...primary.metadata?.annotations,
                  // The template replaced, saved for a halt-and-revert (`revert.ts`).
                  ...previousTemplateAnnotations(primary, revision.id),
                  [REVISION_ANNOTATION]: revision.id,
                },
              },
              spec: {
                ...primary.spec,
                selector: primary.spec?.selector ?? { matchLabels: {} },
                template,
                ...(spec?.minReadySeconds !== undefined
                  ? { minReadySeconds: spec.minReadySeconds }
                  : {}),
                ...(spec?.strategy !== undefined ? { strategy: spec.strategy } : {}),
              },
            };
          },
          signal,
        );
        if (result.outcome === 'not-found') {
          throw new Rejection(
            CommandReason.NotFound,
            `${primaryName(name)} does not exist: initialize the target first`,
          );
        }
        return { generation: result.object.metadata?.generation ?? 0 };
      }
      case 'revertPrimary':
        try {
          return await revertPrimary(kube, namespace, name, c.value.revisionId, signal);
        } catch (error) {
          if (!(error instanceof RevertRefusedError)) throw error;
          throw new Rejection(error.reason, error.message);
        }
      case 'finalizeTarget':
        return finalize(namespace, name, c.value.service, c.value.router, signal);
      case 'renewLease':
        // The agent's loop answers it before the handler (it renews the lease, nothing else).
        throw new Rejection(
          CommandReason.Invalid,
          'renewLease only renews the lease; it is not applied to a workload',
        );
      case undefined:
        throw new Rejection(
          CommandReason.Invalid,
          'the command has no action (oneof `command` unset)',
        );
      default: {
        const unknown: never = c;
        throw new Rejection(CommandReason.Invalid, `unknown command ${String(unknown)}`);
      }
    }
  }

  async function requireTarget(namespace: string, name: string, signal: AbortSignal) {
    const target = await kube.get('Deployment', namespace, name, signal);
    if (target === undefined) {
      throw new Rejection(CommandReason.NotFound, `Deployment ${namespace}/${name} does not exist`);
    }
    return target;
  }

  /**
   * Flagger's `ScaleFromZero` rule: the target's `spec.replicas` if > 0; else, without an
   * autoscaler, the primary's replicas if > 0; with one, the target HPA's `minReplicas` if > 1
   * (the primary's replicas are the copy's doing then, not the canary's need); else 1. The
   * autoscaler is the one `initializeTarget` recorded on the primary (`aviary.dev/hpa`).
   */
  async function scaleFromZeroReplicas(
    namespace: string,
    name: string,
    targetReplicas: number | undefined,
    signal: AbortSignal,
  ): Promise<number> {
    if (targetReplicas !== undefined && targetReplicas > 0) return targetReplicas;
    const primary = await kube.get('Deployment', namespace, primaryName(name), signal);
    const hpaName = primary?.metadata?.annotations?.[HPA_ANNOTATION];
    if (hpaName === undefined || hpaName === '') {
      const primaryReplicas = primary?.spec?.replicas ?? 0;
      return primaryReplicas > 0 ? primaryReplicas : 1;
    }
    const hpa = await kube.get('HorizontalPodAutoscaler', namespace, hpaName, signal);
    return Math.max(hpa?.spec?.minReplicas ?? 1, 1);
  }

  /**
   * The name of the target's `<hpa>-primary`: from the primary's `aviary.dev/hpa`; for a primary
   * bootstrapped before that annotation existed, Flagger's usual naming (the HPA named after the
   * target, `<name>-primary`), taken only if that copy is owned, of this target, and scales
   * `<name>-primary`. (Finding any other name would need `list` on HPAs, which the RBAC manifest
   * does not grant.)
   */
  async function hpaCopyOf(
    namespace: string,
    name: string,
    primary: V1Deployment | undefined,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const annotated = primary?.metadata?.annotations?.[HPA_ANNOTATION];
    if (annotated !== undefined && annotated !== '') return primaryName(annotated);
    if (primary === undefined) return undefined;
    const candidate = primaryName(name);
    const copy = await kube.get('HorizontalPodAutoscaler', namespace, candidate, signal);
    const ref = copy?.spec?.scaleTargetRef;
    const scalesPrimary = ref?.kind === 'Deployment' && ref.name === primaryName(name);
    return isOwned(copy) && scalesPrimary ? candidate : undefined;
  }

  async function finalize(
    namespace: string,
    name: string,
    service: ServiceSpec | undefined,
    routerKind: RouterKind,
    signal: AbortSignal,
  ) {
    const spec = targetSpecOf(namespace, name, service, '');
    const router = routerFor(routerKindOf(routerKind));
    const target = await requireTarget(namespace, name, signal);
    const primary = await kube.get('Deployment', namespace, primaryName(name), signal);
    if ((target.spec?.replicas ?? 0) === 0) {
      const replicas = primary?.spec?.replicas ?? 1;
      await kube.mergePatch('Deployment', namespace, name, { spec: { replicas } }, signal);
      throw new Retriable(
        CommandReason.CanaryNotReady,
        `scaled ${name} to ${replicas}; waiting for it`,
      );
    }
    const readiness = deploymentReadiness(target, { nowMs: nowMs() });
    if (!readiness.ready) {
      throw new Retriable(
        CommandReason.CanaryNotReady,
        `canary deployment ${name}.${namespace} not ready: ${readiness.reason}`,
      );
    }
    // The apex Service follows the target from now on; the router's objects go.
    const { label, value } = selectorLabelOf(target);
    await updateWithRetry(
      kube,
      'Service',
      namespace,
      spec.service.name,
      (svc) => {
        if (!isOwned(svc) || svc.spec?.selector?.[label] === value) return undefined;
        return { ...svc, spec: { ...svc.spec, selector: { [label]: value } } };
      },
      signal,
    );
    await router.finalize(routerTargetOf(spec, service), signal);
    // `<hpa>-primary` first (it scales the primary), as Flagger's garbage collection removes it
    // with the Canary; its name is on the primary since `initializeTarget`.
    const hpaCopy = await hpaCopyOf(namespace, name, primary, signal);
    const generated: [KubeKind, string][] = [
      ...(hpaCopy !== undefined
        ? [['HorizontalPodAutoscaler', hpaCopy] as [KubeKind, string]]
        : []),
      ['Deployment', primaryName(name)],
      ['Service', primaryName(spec.service.name)],
      ['Service', canaryServiceName(spec.service.name)],
    ];
    const configs = await readTrackedConfigs(kube, namespace, target.spec?.template?.spec, signal);
    for (const cm of configs.configMaps)
      generated.push(['ConfigMap', primaryName(cm.metadata?.name ?? '')]);
    for (const s of configs.secrets)
      generated.push(['Secret', primaryName(s.metadata?.name ?? '')]);
    for (const [kind, objectName] of generated) {
      const current = await kube.get(kind, namespace, objectName, signal);
      if (current === undefined || !isOwned(current)) continue;
      if (current.metadata?.annotations?.[TARGET_ANNOTATION] !== name) continue;
      await kube.delete(kind, namespace, objectName, signal);
    }
    return { generation: target.metadata?.generation ?? 0 };
  }

  async function handleNow(input: unknown, signal: AbortSignal): Promise<HandledCommand> {
    let command: AgentCommand | undefined;
    const resultOf = (
      outcome: CommandOutcome,
      reason: string,
      message: string,
      extra: { retriable?: boolean; observedGeneration?: bigint } = {},
    ) =>
      create(CommandResultSchema, {
        commandId: command?.commandId ?? '',
        outcome,
        reason,
        message,
        ...(command?.workload !== undefined ? { workload: command.workload } : {}),
        ...extra,
      });
    const failed = (reason: string, message: string, retriable: boolean): HandledCommand => ({
      result: resultOf(CommandOutcome.FAILED, reason, message, { retriable }),
      duplicate: false,
    });
    const rethrowIfAborted = (error: unknown) => {
      if (signal.aborted || isAviaryError(error, ErrorCode.Aborted)) throw error;
    };
    let handled: HandledCommand;
    try {
      command = parseCommand(input);
      if (command.commandId === '')
        throw new Rejection(CommandReason.Invalid, 'commandId is required');
      try {
        await results.load(signal);
      } catch (error) {
        rethrowIfAborted(error);
        // Whether the command was applied before is unknown: try again later.
        return failed(
          CommandReason.ResultsUnavailable,
          `reading the stored command results failed: ${(error as Error).message}`,
          true,
        );
      }
      const previous = results.get(command.commandId);
      if (previous !== undefined) return { result: previous, duplicate: true };
      if (command.cluster !== options.cluster) {
        throw new Rejection(
          CommandReason.WrongCluster,
          `command for cluster ${JSON.stringify(command.cluster)} delivered to the agent of ${options.cluster}`,
        );
      }
      const applied = await apply(command, signal);
      handled = {
        result: resultOf(CommandOutcome.SUCCEEDED, '', '', {
          observedGeneration: BigInt(applied.generation),
        }),
        duplicate: false,
        ...(applied.routes !== undefined ? { routesApplied: applied.routes } : {}),
      };
    } catch (error) {
      rethrowIfAborted(error);
      const rejected = (reason: string, message: string): HandledCommand => ({
        result: resultOf(CommandOutcome.REJECTED, reason, message),
        duplicate: false,
      });
      if (error instanceof Rejection) handled = rejected(error.reason, error.message);
      else if (error instanceof Retriable) handled = failed(error.reason, error.message, true);
      else if (error instanceof Terminal) handled = failed(error.reason, error.message, false);
      else if (error instanceof NotOwnedError)
        handled = rejected(CommandReason.NotOwned, error.message);
      else if (error instanceof NotGrantedError)
        handled = failed(CommandReason.NotGranted, error.message, false);
      else if (error instanceof MissingConfigError)
        handled = failed(CommandReason.MissingConfig, error.message, true);
      else if (error instanceof KubeApiError) {
        const retriable = error.status === 0 || error.status === 429 || error.status >= 500;
        handled = failed(error.reason, error.message, retriable);
      } else if (isAviaryError(error, ErrorCode.Validation))
        handled = rejected(CommandReason.Invalid, error.message);
      else if (isAviaryError(error, ErrorCode.Concurrency))
        handled = failed(CommandReason.Conflict, error.message, true);
      else if (error instanceof AviaryError)
        handled = failed(CommandReason.Internal, error.message, true);
      else handled = failed(CommandReason.Internal, String(error), true);
    }
    // Final results are stored before they are answered (and so published and acked). Those of
    // commands without an id (undecodable) cannot be asked for again and are not stored.
    const outcome = handled.result.outcome;
    const final = outcome === CommandOutcome.SUCCEEDED || outcome === CommandOutcome.REJECTED;
    if (final && command !== undefined && command.commandId !== '') {
      try {
        await results.put(handled.result, signal);
      } catch (error) {
        rethrowIfAborted(error);
        // Not stored: answered FAILED, so the command is delivered again and applied again
        // (convergently) rather than acked without a durable result.
        return failed(
          CommandReason.ResultsUnavailable,
          `storing the command result failed: ${(error as Error).message}`,
          true,
        );
      }
    }
    return handled;
  }

  return {
    handle(input, signal) {
      const run = queue.then(() => handleNow(input, signal));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
