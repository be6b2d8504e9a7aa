/**
 * The timeline's words: for each event of a release stream, the cluster it is about, who acted,
 * and one line for people (`eu-1: weight 20% → canary`, `wave eu started (eu-1)`).
 */
import type { EventMetadata } from '@aviary/event-store';
import type {
  AnalysisRequestedJson,
  AnalysisVerdictRecordedJson,
  CanaryCheckFailedJson,
  CanaryCheckHeldJson,
  CanaryIterationCompletedJson,
  CanaryPhaseChangedJson,
  CanaryPromotedJson,
  CanaryRolledBackJson,
  CanaryWeightAppliedJson,
  ClusterCanaryInitializedJson,
  ClusterJoinedJson,
  ClusterRequeuedJson,
  ClusterRevertedJson,
  ClusterRevertFailedJson,
  ClusterRevertRequestedJson,
  ClusterSkippedJson,
  FleetHaltedJson,
  NotificationRequestedJson,
  ObservationJson,
  ObservationRecordedJson,
  OperatorActionRecordedJson,
  ReleaseFinishedJson,
  ReleasePausedJson,
  ReleaseResumedJson,
  ReleaseStartedJson,
  RoutesJson,
  SupersessionRecordedJson,
  TickRecordedJson,
  WaveBakingJson,
  WaveStartedJson,
  WaveSucceededJson,
  WebhookRequestedJson,
  WebhookResultRecordedJson,
} from '@aviary/proto';

/** What a summary may need to know of the release beyond the event. */
export interface SummaryContext {
  /** The name of a wave of the release, if known. */
  waveName(index: number): string | undefined;
}

type Data = Readonly<Record<string, unknown>>;

/** `CANARY_PHASE_WAITING_PROMOTION` → `WaitingPromotion` (Flagger's phase names). */
export function phaseName(phase: string | undefined): string {
  const rest = (phase ?? 'CANARY_PHASE_UNSPECIFIED').replace(/^CANARY_PHASE_/, '');
  return rest
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** `WEBHOOK_TYPE_CONFIRM_PROMOTION` with prefix `WEBHOOK_TYPE_` → `confirm-promotion`. */
export function enumWord(value: string | undefined, prefix: string): string {
  const rest = (value ?? '').startsWith(prefix) ? (value ?? '').slice(prefix.length) : value;
  return (rest === undefined || rest === '' ? 'unspecified' : rest)
    .toLowerCase()
    .replace(/_/g, '-');
}

/** The cluster an event of a release stream is about; `undefined` for release-wide events. */
export function clusterOf(data: Data): string | undefined {
  const nested = (key: string): string | undefined => {
    const value = data[key];
    if (typeof value !== 'object' || value === null) return undefined;
    const cluster = (value as Data).cluster;
    return typeof cluster === 'string' && cluster !== '' ? cluster : undefined;
  };
  const own = typeof data.cluster === 'string' && data.cluster !== '' ? data.cluster : undefined;
  return (
    nested('command') ??
    nested('request') ??
    nested('call') ??
    nested('observation') ??
    nested('verdict') ??
    own
  );
}

/** Who acted: the event's metadata actor, else the actor its data names. */
export function actorOf(metadata: EventMetadata, data: Data): string | undefined {
  if (typeof metadata.actor === 'string' && metadata.actor !== '') return metadata.actor;
  return typeof data.actor === 'string' && data.actor !== '' ? data.actor : undefined;
}

const list = (items: readonly string[] | undefined): string =>
  items === undefined || items.length === 0 ? 'no clusters' : items.join(', ');

const withReason = (line: string, reason: string | undefined): string =>
  reason === undefined || reason === '' ? line : `${line}: ${reason}`;

const by = (actor: string | undefined): string =>
  actor === undefined || actor === '' ? '' : ` by ${actor}`;

/** `eu-1: ` before a cluster's line; nothing for a release-wide one. */
const about = (cluster: string | undefined): string =>
  cluster === undefined || cluster === '' ? '' : `${cluster}: `;

function routesLine(routes: RoutesJson | undefined): string {
  const canary = routes?.canaryWeightPercent ?? 0;
  let line = `weight ${canary}% → canary`;
  if ((routes?.matches ?? []).length > 0) line += ' (matching requests)';
  if (routes?.mirror === true) {
    const mirror = routes.mirrorWeightPercent ?? 0;
    line += `, mirrored ${mirror === 0 ? 100 : mirror}%`;
  }
  return line;
}

function waveLabel(context: SummaryContext, index: number | undefined): string {
  const i = index ?? 0;
  return context.waveName(i) ?? `#${i}`;
}

function observationLine(observation: ObservationJson | undefined): string {
  const o = observation ?? {};
  const cluster = about(o.cluster);
  if (o.heartbeat !== undefined)
    return `${cluster}heartbeat (agent ${o.heartbeat.agentVersion ?? '?'})`;
  if (o.revisionSeen !== undefined) {
    const w = o.revisionSeen.workload;
    return `${cluster}revision ${o.revisionSeen.revision?.id ?? '?'} seen on ${w?.namespace ?? ''}/${w?.name ?? ''}`;
  }
  if (o.workloadReadiness !== undefined) {
    const r = o.workloadReadiness;
    const role = enumWord(r.role, 'DEPLOYMENT_ROLE_');
    const revision = r.revisionId ? ` (${r.revisionId})` : '';
    return `${cluster}${role} ${r.readyReplicas ?? 0}/${r.desiredReplicas ?? 0} ready${revision}`;
  }
  if (o.routesApplied !== undefined) {
    return `${cluster}routes applied: ${routesLine(o.routesApplied.routes)}`;
  }
  if (o.commandResult !== undefined) {
    const c = o.commandResult;
    const line = `${cluster}command ${c.commandId ?? '?'} ${enumWord(c.outcome, 'COMMAND_OUTCOME_')}`;
    return withReason(line, [c.reason, c.message].filter((s) => s).join(', '));
  }
  return `${cluster}observation`;
}

/** One line describing an event of a release stream. */
export function summarize(
  type: string,
  data: Data,
  actor: string | undefined,
  context: SummaryContext,
): string {
  const cluster = about(clusterOf(data));
  switch (type) {
    // Inputs
    case 'TickRecorded':
      return `tick ${(data as TickRecordedJson).now ?? ''}`;
    case 'ObservationRecorded':
      return observationLine((data as ObservationRecordedJson).observation);
    case 'AnalysisVerdictRecorded': {
      const v = (data as AnalysisVerdictRecordedJson).verdict ?? {};
      const line = `${cluster}verdict ${enumWord(v.outcome, 'ANALYSIS_OUTCOME_')} for ${v.checkName ?? '?'}`;
      return withReason(line, v.message);
    }
    case 'WebhookResultRecorded': {
      const r = data as WebhookResultRecordedJson;
      const status = r.statusCode ? `, HTTP ${r.statusCode}` : '';
      const line = `${cluster}webhook ${r.name ?? '?'} (${enumWord(r.type, 'WEBHOOK_TYPE_')}) ${enumWord(r.outcome, 'WEBHOOK_OUTCOME_')}${status}`;
      return withReason(line, r.outcome === 'WEBHOOK_OUTCOME_PASSED' ? undefined : r.message);
    }
    case 'OperatorActionRecorded': {
      const a = data as OperatorActionRecordedJson;
      const line = `${cluster}${enumWord(a.action, 'OPERATOR_ACTION_')} requested${by(actor ?? a.actor)}`;
      return withReason(line, a.reason);
    }
    case 'RolloutSpecApplied':
      return `spec applied${by(actor)}`;
    case 'SupersessionRecorded': {
      const r = data as SupersessionRecordedJson;
      return `superseded by ${r.releaseId || '?'} (revision ${r.revision?.id || '?'})`;
    }
    // Fleet decisions
    case 'ReleaseStarted': {
      const s = data as ReleaseStartedJson;
      const waves = (s.waves ?? []).map((w) => `${w.name ?? '?'} (${list(w.clusters)})`);
      return `release of ${s.rollout?.namespace ?? ''}/${s.rollout?.name ?? ''} revision ${s.revision?.id ?? '?'} started: ${waves.length === 0 ? 'no waves' : waves.join(', ')}`;
    }
    case 'WaveStarted': {
      const w = data as WaveStartedJson;
      return `wave ${w.waveName || waveLabel(context, w.waveIndex)} started (${list(w.clusters)})`;
    }
    case 'WaveBaking': {
      const w = data as WaveBakingJson;
      return `wave ${waveLabel(context, w.waveIndex)} baking until ${w.bakeUntil ?? '?'}`;
    }
    case 'WaveSucceeded':
      return `wave ${waveLabel(context, (data as WaveSucceededJson).waveIndex)} succeeded`;
    case 'ClusterSkipped': {
      const s = data as ClusterSkippedJson;
      return withReason(`${cluster}skipped from wave ${waveLabel(context, s.waveIndex)}`, s.reason);
    }
    case 'ClusterRequeued': {
      const r = data as ClusterRequeuedJson;
      return withReason(
        `${cluster}requeued into wave ${waveLabel(context, r.waveIndex)}`,
        r.reason,
      );
    }
    case 'ClusterJoined': {
      const j = data as ClusterJoinedJson;
      const selected =
        (j.selectedByWaveIndex ?? 0) === (j.waveIndex ?? 0)
          ? ''
          : ` (selected by wave ${waveLabel(context, j.selectedByWaveIndex)})`;
      return `${cluster}joined wave ${waveLabel(context, j.waveIndex)}${selected}`;
    }
    case 'ClusterReverted':
      return `${cluster}reverted, primary runs ${(data as ClusterRevertedJson).revisionId || 'the previous revision'}`;
    case 'ClusterRevertFailed':
      return withReason(`${cluster}revert failed`, (data as ClusterRevertFailedJson).reason);
    case 'FleetHalted': {
      const h = data as FleetHaltedJson;
      const revert =
        (h.clustersToRevert ?? []).length > 0 ? `, to revert: ${list(h.clustersToRevert)}` : '';
      const line = `fleet halted in wave ${waveLabel(context, h.waveIndex)} (${enumWord(h.failurePolicy, 'FAILURE_POLICY_')})${revert}`;
      return withReason(line, h.reason);
    }
    case 'ReleasePaused': {
      const p = data as ReleasePausedJson;
      return withReason(`${cluster || 'release '}paused${by(actor)}`, p.reason);
    }
    case 'ReleaseResumed': {
      const r = data as ReleaseResumedJson;
      return `${cluster || 'release '}resumed${by(actor ?? r.actor)}`;
    }
    case 'ReleaseFinished': {
      const f = data as ReleaseFinishedJson;
      const superseded = f.supersededByReleaseId ? ` by ${f.supersededByReleaseId}` : '';
      return withReason(
        `release ${enumWord(f.outcome, 'RELEASE_OUTCOME_')}${superseded}`,
        f.reason,
      );
    }
    // Cluster canary decisions
    case 'ClusterCanaryInitialized': {
      const i = data as ClusterCanaryInitializedJson;
      return `${cluster}initialized, primary runs ${i.primaryRevisionId || 'an unknown revision'}`;
    }
    case 'CanaryPhaseChanged': {
      const p = data as CanaryPhaseChangedJson;
      return withReason(
        `${cluster}${phaseName(p.previousPhase)} → ${phaseName(p.phase)}`,
        p.reason,
      );
    }
    case 'CanaryWeightApplied':
      return `${cluster}${routesLine((data as CanaryWeightAppliedJson).routes)}`;
    case 'CanaryCheckFailed': {
      const f = data as CanaryCheckFailedJson;
      return `${withReason(`${cluster}check ${f.checkName ?? '?'} failed`, f.reason)} (${f.failedChecks ?? 0}/${f.threshold ?? 0})`;
    }
    case 'CanaryCheckHeld': {
      const h = data as CanaryCheckHeldJson;
      const outcome = enumWord(h.outcome, 'ANALYSIS_OUTCOME_');
      return withReason(
        `${cluster}check ${h.checkName ?? '?'} ${outcome}, held ${h.heldChecks ?? 0}/${h.limit ?? 0}`,
        h.reason,
      );
    }
    case 'CanaryIterationCompleted':
      return `${cluster}iteration ${(data as CanaryIterationCompletedJson).iterations ?? 0} completed`;
    case 'CanaryPromoted':
      return `${cluster}promoted ${(data as CanaryPromotedJson).revisionId || 'the canary'}`;
    case 'CanaryRolledBack': {
      const r = data as CanaryRolledBackJson;
      return withReason(`${cluster}rolled back ${r.revisionId || 'the canary'}`, r.reason);
    }
    // Effects
    case 'ClusterCanaryInitializationRequested':
      return `${cluster}initialization requested`;
    case 'CanaryScaleRequested':
      return `${cluster}canary scale-up requested`;
    case 'CanaryWeightRequested': {
      const command = (data as { command?: { setRoutes?: { routes?: RoutesJson } } }).command;
      return `${cluster}${routesLine(command?.setRoutes?.routes)} requested`;
    }
    case 'CanaryPromotionRequested': {
      const command = (data as { command?: { promoteCanary?: { revisionId?: string } } }).command;
      return `${cluster}promotion of ${command?.promoteCanary?.revisionId || 'the canary'} requested`;
    }
    case 'CanaryScaleToZeroRequested':
      return `${cluster}canary scale-to-zero requested`;
    case 'ClusterRevertRequested': {
      const revert = (data as ClusterRevertRequestedJson).command?.revertPrimary;
      return `${cluster}revert to ${revert?.revisionId || 'the previous revision'} requested`;
    }
    case 'CanaryFinalizationRequested':
      return `${cluster}finalization requested`;
    case 'AnalysisRequested': {
      const r = (data as AnalysisRequestedJson).request ?? {};
      return `${cluster}analysis of ${r.checkName ?? '?'} requested for ${r.windowStart ?? '?'} – ${r.windowEnd ?? '?'}`;
    }
    case 'WebhookRequested': {
      const c = (data as WebhookRequestedJson).call ?? {};
      return `${cluster}webhook ${c.name ?? '?'} (${enumWord(c.type, 'WEBHOOK_TYPE_')}) requested`;
    }
    case 'NotificationRequested': {
      const n = data as NotificationRequestedJson;
      return `${cluster}notification (${enumWord(n.severity, 'NOTIFICATION_SEVERITY_')}): ${n.message ?? ''}`;
    }
    default:
      return `${cluster}${type}`;
  }
}
