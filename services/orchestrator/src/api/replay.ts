/**
 * Replay and what-if over HTTP: the release's stream is read from the log (not the projections:
 * the decider needs every recorded event as stored) and handed to `@aviary/decider`'s `replay`
 * and `whatIf`. Both are pure computations on a copy of the history: nothing is appended, which
 * is why a viewer may ask for them (what-if is a POST only because it carries a body).
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  contextOf,
  type RecordedEvent,
  type Rollout,
  replay,
  validateRollout,
  whatIf,
} from '@aviary/decider';
import type { EventStore } from '@aviary/event-store';
import { releaseStreamId } from '../engine/ids.ts';

/** An event as the answers show it: its stream version, type and canonical proto JSON. */
export interface ShownEvent {
  readonly streamVersion: number;
  readonly type: string;
  readonly data: unknown;
}

export type ReplayAnswer =
  | { readonly releaseId: string; readonly events: number; readonly ok: true }
  | {
      readonly releaseId: string;
      readonly events: number;
      readonly ok: false;
      /** The first diverging event: `index` in the history, i.e. stream version `index + 1`. */
      readonly divergence: {
        readonly index: number;
        readonly streamVersion: number;
        readonly message: string;
        readonly recorded?: ShownEvent;
        readonly rederived?: { readonly type: string; readonly data: unknown };
      };
    };

async function historyOf(store: EventStore, releaseId: string): Promise<RecordedEvent[]> {
  const events = await store.readStream(releaseStreamId(releaseId));
  if (events.length === 0) {
    throw new AviaryError(
      ErrorCode.NotFound,
      `release ${releaseId} not found (no recorded events)`,
    );
  }
  // The plan's heartbeats come first, then ReleaseStarted, which carries the release's context.
  if (!events.some((e) => e.type === 'ReleaseStarted')) {
    throw new AviaryError(
      ErrorCode.Refused,
      `release ${releaseId} has no ReleaseStarted yet: there is nothing to replay`,
    );
  }
  return events.map((e) => ({ type: e.type, data: e.data }));
}

/** Re-runs the decider over the release's recorded inputs; the first divergence, if any. */
export async function replayRelease(store: EventStore, releaseId: string): Promise<ReplayAnswer> {
  const history = await historyOf(store, releaseId);
  const result = replay(history);
  if (result.ok) return { releaseId, events: history.length, ok: true };
  const { index, recorded, rederived, message } = result.error;
  return {
    releaseId,
    events: history.length,
    ok: false,
    divergence: {
      index,
      streamVersion: index + 1,
      message,
      ...(recorded === undefined
        ? {}
        : { recorded: { streamVersion: index + 1, type: recorded.type, data: recorded.data } }),
      ...(rederived === undefined
        ? {}
        : { rederived: { type: rederived.type, data: rederived.data } }),
    },
  };
}

/** Fields given in one unit and kept, normalized, in another. */
const NORMALIZED: Readonly<Record<string, string>> = { interval: 'intervalMs' };

/**
 * The recorded spec with `analysis` laid over its analysis block: the result is validated as a
 * Rollout (issues by path, e.g. `spec.analysis.threshold`), and then only the fields given (in
 * their normalized form) and the strategy they imply are taken from it: every other field stays
 * exactly as recorded, so that the comparison shows the change and nothing a re-normalization of
 * the recorded spec might add. A list (e.g. `metrics`) is replaced whole.
 */
export function changedRollout(recorded: Rollout, analysis: Record<string, unknown>): Rollout {
  const base: Record<string, unknown> = { ...(recorded.spec.analysis as object) };
  const taken = Object.keys(analysis).map((key) => NORMALIZED[key] ?? key);
  for (const key of taken) delete base[key];
  const document = JSON.parse(JSON.stringify(recorded)) as { spec: Record<string, unknown> };
  document.spec.analysis = { ...base, ...analysis };
  const validated = validateRollout(document);
  const changed = validated.spec.analysis as unknown as Record<string, unknown>;
  return {
    ...recorded,
    spec: {
      ...recorded.spec,
      strategy: validated.spec.strategy,
      analysis: {
        ...recorded.spec.analysis,
        ...Object.fromEntries(taken.map((key) => [key, changed[key]])),
      },
    },
  } as Rollout;
}

const iso = (ms: number) => (ms > 0 && ms < 8.64e15 ? new Date(ms).toISOString() : undefined);

/** The release's recorded inputs through a decider with another analysis block, compared. */
export async function whatIfRelease(
  store: EventStore,
  releaseId: string,
  analysis: Record<string, unknown>,
) {
  const history = await historyOf(store, releaseId);
  const rollout = changedRollout(contextOf(history).rollout, analysis);
  const report = whatIf(history, rollout);
  const shown = (
    t: { readonly type: string; readonly data: unknown } | undefined,
    index: number,
  ) => (t === undefined ? undefined : { index, type: t.type, data: t.data });
  const outcome = (o: { kind: string; atMs: number; afterDivergence: boolean } | undefined) =>
    o === undefined ? undefined : { ...o, at: iso(o.atMs) };
  return {
    releaseId,
    events: history.length,
    change: report.change,
    lines: report.lines,
    skippedInputs: report.skippedInputs.length,
    changedEvents: report.changedHistory.length,
    clusters: report.clusters.map((c) => ({
      cluster: c.cluster,
      ...(c.divergence === undefined
        ? {}
        : {
            divergence: {
              atMs: c.divergence.atMs,
              at: iso(c.divergence.atMs),
              recorded: shown(c.divergence.recorded, c.divergence.recordedIndex),
              changed: shown(c.divergence.changed, c.divergence.changedIndex),
            },
          }),
      recorded: { outcome: outcome(c.recorded.outcome), weights: c.recorded.weights },
      changed: { outcome: outcome(c.changed.outcome), weights: c.changed.weights },
    })),
  };
}
