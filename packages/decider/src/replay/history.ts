/**
 * Reading a recorded release stream: which events are input facts, the command each one records,
 * and the release context carried by `ReleaseStarted`.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { ReleaseStartedJson } from '@aviary/proto';
import { parseTimestamp } from '../canary/json.ts';
import type { ClusterInfo, ReleaseCommand, ReleaseContext, ReleaseEvent } from '../fleet/types.ts';
import type { Rollout } from '../spec/types.ts';

/** An event as a store returns it: extra members (metadata, ids) are ignored. */
export interface RecordedEvent {
  readonly type: string;
  readonly data: unknown;
}

/** Input facts: each records the command that produced it (the fleet's start included). */
export const INPUT_FACT_TYPES = [
  'ReleaseStarted',
  'TickRecorded',
  'ObservationRecorded',
  'AnalysisVerdictRecorded',
  'WebhookResultRecorded',
  'OperatorActionRecorded',
  'SupersessionRecorded',
] as const;
export type InputFactType = (typeof INPUT_FACT_TYPES)[number];

const INPUTS: ReadonlySet<string> = new Set(INPUT_FACT_TYPES);

export function isInputFact(event: RecordedEvent): boolean {
  return INPUTS.has(event.type);
}

export interface HistoryOptions {
  /** The release context; default: read from the history's `ReleaseStarted`. */
  readonly context?: ReleaseContext;
  /**
   * The clusters `StartRelease` was given. `ReleaseStarted` records the resolved waves, not the
   * labels, so a release started with explicit clusters (rather than Heartbeats) needs them here.
   */
  readonly startClusters?: readonly ClusterInfo[];
}

/**
 * The command an input fact records; undefined for decisions. Throws `VALIDATION` for an input
 * fact that cannot be read back (a tick without a valid `now`).
 */
export function commandOf(
  event: RecordedEvent,
  startClusters: readonly ClusterInfo[] = [],
): ReleaseCommand | undefined {
  const e = event as ReleaseEvent;
  switch (e.type) {
    case 'ReleaseStarted':
      return { type: 'StartRelease', data: { clusters: startClusters } };
    case 'TickRecorded': {
      const nowMs = parseTimestamp(e.data.now);
      if (nowMs === undefined) {
        throw new AviaryError(ErrorCode.Validation, `TickRecorded without a valid now`);
      }
      return { type: 'Tick', data: { nowMs } };
    }
    case 'ObservationRecorded':
      return { type: 'Observe', data: { observation: e.data.observation ?? {} } };
    case 'AnalysisVerdictRecorded':
      return { type: 'RecordVerdict', data: { verdict: e.data.verdict ?? {} } };
    case 'WebhookResultRecorded':
      return { type: 'RecordWebhookResult', data: e.data };
    case 'OperatorActionRecorded': {
      const { actor, action, reason, cluster } = e.data;
      return {
        type: 'OperatorAction',
        data: {
          actor: actor ?? '',
          action: action ?? 'OPERATOR_ACTION_UNSPECIFIED',
          ...(reason === undefined ? {} : { reason }),
          ...(cluster === undefined ? {} : { cluster }),
        },
      };
    }
    case 'SupersessionRecorded':
      return {
        type: 'Supersede',
        data: { releaseId: e.data.releaseId ?? '', revisionId: e.data.revision?.id ?? '' },
      };
    default:
      return undefined;
  }
}

/** The release context recorded in the history's `ReleaseStarted` (spec, revision, target). */
export function contextOf(history: readonly RecordedEvent[], options: HistoryOptions = {}) {
  if (options.context !== undefined) return options.context;
  const started = history.find((e) => e.type === 'ReleaseStarted');
  if (started === undefined) {
    throw new AviaryError(
      ErrorCode.Validation,
      'the history has no ReleaseStarted: pass the release context in options.context',
    );
  }
  const data = started.data as ReleaseStartedJson;
  const context: ReleaseContext = {
    releaseId: data.releaseId ?? '',
    rollout: data.spec as unknown as Rollout,
    revisionId: data.revision?.id ?? '',
    ...(data.target === undefined ? {} : { workload: data.target }),
    ...(data.supersededReleaseId === undefined
      ? {}
      : { supersededReleaseId: data.supersededReleaseId }),
  };
  return context;
}
