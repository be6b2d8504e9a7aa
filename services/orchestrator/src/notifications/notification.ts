/**
 * What is notified: a release's events of interest turned into one `Notification` each, with the
 * release, application, cluster, wave, severity and reason.
 *
 * | event                   | severity                         | cluster / wave                   |
 * | ----------------------- | -------------------------------- | -------------------------------- |
 * | `NotificationRequested` | as requested (unspecified: info) | as given / the cluster's wave    |
 * | `WaveStarted`           | info                             | — / the wave                     |
 * | `CanaryPromoted`        | info                             | the cluster / its wave           |
 * | `CanaryRolledBack`      | error                            | the cluster / its wave           |
 * | `FleetHalted`           | error                            | the failed cluster / the wave    |
 * | `ReleasePaused`         | warn; decider pauses only (1)    | the cluster / its wave           |
 * | `ReleaseFinished`       | info if SUCCEEDED, else error    | — / the last wave started        |
 *
 * (1) A pause the decider made (a configuration error in a check, `maxHeldChecks` holds in a
 * row) waits for a person, so it is reported; an operator's own pause (`actor` set) is not.
 *
 * `ReleaseTracker` folds the few events that give these their context (`ReleaseStarted`: the
 * application, waves and alerts; `WaveStarted`: the current wave; `ClusterRequeued`: a cluster
 * moved to another wave).
 */
import type { RecordedEvent } from '@aviary/event-store';
import type {
  CanaryPromotedJson,
  CanaryRolledBackJson,
  ClusterRequeuedJson,
  FleetHaltedJson,
  NotificationRequestedJson,
  NotificationSeverityJson,
  ReleaseFinishedJson,
  ReleaseOutcomeJson,
  ReleasePausedJson,
  ReleaseStartedJson,
  WaveStartedJson,
} from '@aviary/proto';
import type { ApplicationRef } from '../ports.ts';

export const Severity = { Info: 'info', Warn: 'warn', Error: 'error' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

const RANK: Readonly<Record<Severity, number>> = { info: 0, warn: 1, error: 2 };

/** Flagger's alert filter: an alert of severity `s` receives notifications of `s` and above. */
export function meetsThreshold(severity: Severity, threshold: Severity): boolean {
  return RANK[severity] >= RANK[threshold];
}

export interface Notification {
  /** The id of the event it comes from (stable across re-deliveries). */
  readonly id: string;
  /** The event type, e.g. `CanaryRolledBack`. */
  readonly event: string;
  readonly releaseId: string;
  readonly application: ApplicationRef;
  readonly revisionId: string;
  /** Empty: the release as a whole. */
  readonly cluster: string;
  /** Empty when no wave applies yet. */
  readonly wave: string;
  readonly severity: Severity;
  /** Why, when the event says (a rollback's or a halt's reason). */
  readonly reason: string;
  /** One line for people. */
  readonly message: string;
  /** When the event was recorded (RFC 3339). */
  readonly timestamp: string;
}

/** An alert of the release's spec (`analysis.alerts[]`), with its provider reference. */
export interface ReleaseAlert {
  readonly name: string;
  readonly severity: Severity;
  readonly providerRef: { readonly name: string; readonly namespace: string };
}

/** The event types that give a release's notifications their context. */
export const CONTEXT_EVENT_TYPES: ReadonlySet<string> = new Set([
  'ReleaseStarted',
  'WaveStarted',
  'ClusterRequeued',
]);

/** The event types notified. */
export const NOTIFIED_EVENT_TYPES: ReadonlySet<string> = new Set([
  'NotificationRequested',
  'WaveStarted',
  'CanaryPromoted',
  'CanaryRolledBack',
  'FleetHalted',
  'ReleasePaused',
  'ReleaseFinished',
]);

/** What a release's notifications need to know about it, folded from its stream. */
export class ReleaseTracker {
  readonly releaseId: string;
  application: ApplicationRef | undefined;
  revisionId = '';
  waves: readonly { readonly name: string; readonly clusters: readonly string[] }[] = [];
  alerts: readonly ReleaseAlert[] = [];
  /** Problems found reading the spec's alerts (reported once by the notifier). */
  alertIssues: readonly string[] = [];
  /** -1 before the first wave. */
  currentWave = -1;
  /** The last stream version folded. */
  version = 0n;
  readonly #requeued = new Map<string, number>();

  constructor(releaseId: string) {
    this.releaseId = releaseId;
  }

  /** Folds an event of the stream (in order; versions already folded are ignored). */
  fold(event: RecordedEvent): void {
    if (event.streamVersion <= this.version) return;
    this.version = event.streamVersion;
    switch (event.type) {
      case 'ReleaseStarted': {
        const data = event.data as ReleaseStartedJson;
        const rollout = data.rollout ?? {};
        this.application = { namespace: rollout.namespace ?? '', name: rollout.name ?? '' };
        this.revisionId = data.revision?.id ?? '';
        this.waves = (data.waves ?? []).map((w) => ({
          name: w.name ?? '',
          clusters: w.clusters ?? [],
        }));
        const { alerts, issues } = alertsOf(data.spec, this.application.namespace);
        this.alerts = alerts;
        this.alertIssues = issues;
        break;
      }
      case 'WaveStarted':
        this.currentWave = (event.data as WaveStartedJson).waveIndex ?? 0;
        break;
      case 'ClusterRequeued': {
        const data = event.data as ClusterRequeuedJson;
        if (data.cluster) this.#requeued.set(data.cluster, data.waveIndex ?? 0);
        break;
      }
      default:
        break;
    }
  }

  waveName(index: number): string {
    return this.waves[index]?.name ?? '';
  }

  /** The wave a cluster runs in (after requeues), or `''`. */
  waveOf(cluster: string): string {
    const requeued = this.#requeued.get(cluster);
    if (requeued !== undefined) return this.waveName(requeued);
    return this.waves.find((w) => w.clusters.includes(cluster))?.name ?? '';
  }

  /** The notification an event makes, or undefined for an event that is not notified. */
  notificationOf(event: RecordedEvent): Notification | undefined {
    const application = this.application;
    if (application === undefined || !NOTIFIED_EVENT_TYPES.has(event.type)) return undefined;
    const base = {
      id: event.id,
      event: event.type,
      releaseId: this.releaseId,
      application,
      revisionId: this.revisionId,
      timestamp: event.recordedAt.toISOString(),
    };
    const forCluster = (cluster: string) => ({
      cluster,
      wave: cluster === '' ? this.waveName(this.currentWave) : this.waveOf(cluster),
    });
    switch (event.type) {
      case 'NotificationRequested': {
        const data = event.data as NotificationRequestedJson;
        return {
          ...base,
          ...forCluster(data.cluster ?? ''),
          severity: severityOf(data.severity),
          reason: '',
          message: data.message ?? '',
        };
      }
      case 'WaveStarted': {
        const data = event.data as WaveStartedJson;
        const wave = data.waveName || this.waveName(data.waveIndex ?? 0);
        return {
          ...base,
          cluster: '',
          wave,
          severity: Severity.Info,
          reason: '',
          message: `Wave ${wave} started: ${(data.clusters ?? []).join(', ') || 'no clusters'}.`,
        };
      }
      case 'CanaryPromoted': {
        const data = event.data as CanaryPromotedJson;
        const cluster = data.cluster ?? '';
        return {
          ...base,
          ...forCluster(cluster),
          severity: Severity.Info,
          reason: '',
          message: `Canary analysis completed successfully, promotion finished in ${cluster} (revision ${data.revisionId ?? this.revisionId}).`,
        };
      }
      case 'CanaryRolledBack': {
        const data = event.data as CanaryRolledBackJson;
        const cluster = data.cluster ?? '';
        const checks = data.failedChecks ?? 0;
        return {
          ...base,
          ...forCluster(cluster),
          severity: Severity.Error,
          reason: data.reason ?? '',
          message: `Canary rolled back in ${cluster}${checks > 0 ? ` after ${checks} failed check${checks === 1 ? '' : 's'}` : ''}.`,
        };
      }
      case 'FleetHalted': {
        const data = event.data as FleetHaltedJson;
        const cluster = data.cluster ?? '';
        const revert = data.clustersToRevert ?? [];
        return {
          ...base,
          cluster,
          wave: this.waveName(data.waveIndex ?? 0),
          severity: Severity.Error,
          reason: data.reason ?? '',
          message:
            (cluster === ''
              ? 'Release halted by an operator: no further wave starts.'
              : `Release halted: the canary failed in ${cluster}, no further wave starts.`) +
            (revert.length > 0
              ? ` To put back on the previous revision: ${revert.join(', ')}.`
              : ''),
        };
      }
      case 'ReleasePaused': {
        const data = event.data as ReleasePausedJson;
        if ((data.actor ?? '') !== '') return undefined;
        const cluster = data.cluster ?? '';
        return {
          ...base,
          ...forCluster(cluster),
          severity: Severity.Warn,
          reason: data.reason ?? '',
          message:
            cluster === ''
              ? 'Release paused: waiting for an operator to resume it.'
              : `Canary paused in ${cluster}: waiting for an operator to resume it.`,
        };
      }
      case 'ReleaseFinished': {
        const data = event.data as ReleaseFinishedJson;
        const outcome = data.outcome ?? 'RELEASE_OUTCOME_UNSPECIFIED';
        return {
          ...base,
          cluster: '',
          wave: this.waveName(this.currentWave),
          severity: outcome === 'RELEASE_OUTCOME_SUCCEEDED' ? Severity.Info : Severity.Error,
          reason: data.reason ?? '',
          message: `Release finished: ${OUTCOME_WORDS[outcome]}.`,
        };
      }
      default:
        return undefined;
    }
  }
}

const OUTCOME_WORDS: Readonly<Record<ReleaseOutcomeJson, string>> = {
  RELEASE_OUTCOME_UNSPECIFIED: 'outcome unknown',
  RELEASE_OUTCOME_SUCCEEDED: 'succeeded',
  RELEASE_OUTCOME_FAILED: 'failed',
  RELEASE_OUTCOME_ABORTED: 'aborted',
  RELEASE_OUTCOME_SUPERSEDED: 'superseded by a newer revision',
};

function severityOf(severity: NotificationSeverityJson | undefined): Severity {
  switch (severity) {
    case 'NOTIFICATION_SEVERITY_WARN':
      return Severity.Warn;
    case 'NOTIFICATION_SEVERITY_ERROR':
      return Severity.Error;
    default:
      return Severity.Info;
  }
}

/**
 * `analysis.alerts` of the release's spec (`ReleaseStarted.spec`, the normalized Rollout:
 * `spec.analysis.alerts`; a bare RolloutSpec's `analysis.alerts` is read too). Severity defaults
 * to info and the provider's namespace to the application's, as the spec validator does.
 */
export function alertsOf(
  spec: unknown,
  namespace: string,
): { alerts: ReleaseAlert[]; issues: string[] } {
  const root = asObject(spec);
  const analysis = asObject(asObject(root?.spec)?.analysis) ?? asObject(root?.analysis);
  const list = analysis?.alerts;
  const alerts: ReleaseAlert[] = [];
  const issues: string[] = [];
  if (list === undefined) return { alerts, issues };
  if (!Array.isArray(list)) return { alerts, issues: ['analysis.alerts is not a list'] };
  list.forEach((item: unknown, i) => {
    const alert = asObject(item);
    const ref = asObject(alert?.providerRef);
    const severity = alert?.severity ?? 'info';
    if (
      typeof alert?.name !== 'string' ||
      typeof ref?.name !== 'string' ||
      (severity !== 'info' && severity !== 'warn' && severity !== 'error')
    ) {
      issues.push(
        `analysis.alerts[${i}] needs a name, a providerRef.name and an info/warn/error severity`,
      );
      return;
    }
    alerts.push({
      name: alert.name,
      severity,
      providerRef: {
        name: ref.name,
        namespace:
          typeof ref.namespace === 'string' && ref.namespace !== '' ? ref.namespace : namespace,
      },
    });
  });
  return { alerts, issues };
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
