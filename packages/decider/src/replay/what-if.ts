/**
 * What-if (ADR 0004, "Replay"): the recorded INPUT facts of a release (not its decisions) run
 * through a decider built with a changed spec, and the decisions compared side by side.
 *
 * Once a cluster's decisions diverge, the agent, analyzer and webhook facts recorded for the
 * original run no longer answer the changed one (other command and request ids, other weights).
 * The changed run still gets every recorded input (inputs the changed decider refuses are skipped
 * and counted), but each cluster is compared only up to its FIRST divergence, and an outcome the
 * changed run reaches after that point is flagged `afterDivergence` (an estimate: the inputs that
 * produced it were recorded for another run). To see a changed run through, re-simulate it
 * (`runScenario` with the changed spec).
 */
import { parseTimestamp } from '../canary/json.ts';
import { createReleaseDecider } from '../fleet/decider.ts';
import type { ReleaseEvent } from '../fleet/types.ts';
import { clusterOf } from '../scenario/run-scenario.ts';
import type { Analysis, Rollout } from '../spec/types.ts';
import { canonicalEvent } from './canonical-json.ts';
import {
  commandOf,
  contextOf,
  type HistoryOptions,
  isInputFact,
  type RecordedEvent,
} from './history.ts';

/** An event with the `now` of the last tick before it and its index in its run. */
export interface TimedEvent {
  readonly index: number;
  readonly atMs: number;
  readonly event: RecordedEvent;
}

export interface Outcome {
  /** `promoted`, `rolled-back`, or for the release (cluster `''`) ReleaseFinished's outcome. */
  readonly kind: string;
  readonly atMs: number;
  /** Reached after the cluster's first divergence (see the module comment). */
  readonly afterDivergence: boolean;
}

export interface ClusterComparison {
  /** `''`: the release-wide decisions (waves, halts, the end). */
  readonly cluster: string;
  /** The first differing decision (absent: none within the compared decisions). */
  readonly divergence?: {
    readonly atMs: number;
    /** Index of the recorded decision in the history (or of the changed one in its run). */
    readonly recordedIndex: number;
    readonly changedIndex: number;
    readonly recorded?: RecordedEvent;
    readonly changed?: RecordedEvent;
  };
  readonly recorded: { readonly outcome?: Outcome; readonly weights: readonly number[] };
  readonly changed: { readonly outcome?: Outcome; readonly weights: readonly number[] };
}

export interface WhatIfReport {
  /** The spec change in words, e.g. `threshold 2` or `stepWeight 20, maxWeight 60`. */
  readonly change: string;
  readonly clusters: readonly ClusterComparison[];
  /** Human summary lines ("with threshold 2 the rollback would have come 3 minutes earlier in eu-1"). */
  readonly lines: readonly string[];
  /** The changed run (its input facts and decisions). */
  readonly changedHistory: readonly ReleaseEvent[];
  /** Indexes (in the history) of recorded inputs the changed decider refused. */
  readonly skippedInputs: readonly number[];
}

export function whatIf(
  history: readonly RecordedEvent[],
  changedRollout: Rollout,
  options: HistoryOptions = {},
): WhatIfReport {
  const original = contextOf(history, options);
  const decider = createReleaseDecider({ ...original, rollout: changedRollout });
  let state = decider.initialState();
  const changedHistory: ReleaseEvent[] = [];
  const skippedInputs: number[] = [];
  for (const [index, event] of history.entries()) {
    if (!isInputFact(event)) continue;
    try {
      const command = commandOf(event, options.startClusters);
      if (command === undefined) continue;
      const decided = decider.decide(command, state);
      state = decided.reduce(decider.evolve, state);
      changedHistory.push(...decided);
    } catch {
      skippedInputs.push(index);
    }
  }
  const recordedRun = timed(history);
  const changedRun = timed(changedHistory);
  const clusters = [
    ...new Set([...recordedRun, ...changedRun].map((t) => clusterOf(t.event as ReleaseEvent))),
  ].sort();
  const change = describeChange(original.rollout.spec.analysis, changedRollout.spec.analysis);
  const comparisons = clusters.map((cluster) => compare(cluster, recordedRun, changedRun));
  return {
    change,
    clusters: comparisons,
    lines: summarize(change, comparisons),
    changedHistory,
    skippedInputs,
  };
}

/** The decisions of a run with their times (ReleaseStarted left out: it carries the spec). */
function timed(run: readonly RecordedEvent[]): TimedEvent[] {
  let atMs = 0;
  const out: TimedEvent[] = [];
  for (const [index, event] of run.entries()) {
    if (event.type === 'TickRecorded') {
      atMs = parseTimestamp((event.data as { now?: string }).now) ?? atMs;
    }
    if (!isInputFact(event)) out.push({ index, atMs, event });
  }
  return out;
}

function compare(
  cluster: string,
  recordedRun: readonly TimedEvent[],
  changedRun: readonly TimedEvent[],
): ClusterComparison {
  const mine = (t: TimedEvent) => clusterOf(t.event as ReleaseEvent) === cluster;
  const a = recordedRun.filter(mine);
  const b = changedRun.filter(mine);
  let divergence: ClusterComparison['divergence'];
  for (let k = 0; k < Math.max(a.length, b.length); k += 1) {
    const x = a[k];
    const y = b[k];
    if (x !== undefined && y !== undefined && canonicalEvent(x.event) === canonicalEvent(y.event)) {
      continue;
    }
    divergence = {
      atMs: Math.min(x?.atMs ?? Number.MAX_SAFE_INTEGER, y?.atMs ?? Number.MAX_SAFE_INTEGER),
      recordedIndex: x?.index ?? -1,
      changedIndex: y?.index ?? -1,
      ...(x === undefined ? {} : { recorded: x.event }),
      ...(y === undefined ? {} : { changed: y.event }),
    };
    break;
  }
  const limit = divergence?.atMs ?? Number.MAX_SAFE_INTEGER;
  return {
    cluster,
    ...(divergence === undefined ? {} : { divergence }),
    recorded: { ...outcomeOf(a, Number.MAX_SAFE_INTEGER), weights: weightsOf(a) },
    changed: { ...outcomeOf(b, limit), weights: weightsOf(b) },
  };
}

function outcomeOf(run: readonly TimedEvent[], divergedAtMs: number): { outcome?: Outcome } {
  for (const t of run) {
    const kind =
      t.event.type === 'CanaryPromoted'
        ? 'promoted'
        : t.event.type === 'CanaryRolledBack'
          ? 'rolled-back'
          : t.event.type === 'ReleaseFinished'
            ? ((t.event.data as { outcome?: string }).outcome ?? '')
                .replace('RELEASE_OUTCOME_', '')
                .toLowerCase()
            : '';
    if (kind !== '') {
      return { outcome: { kind, atMs: t.atMs, afterDivergence: t.atMs > divergedAtMs } };
    }
  }
  return {};
}

/** The canary weights requested, in order. */
function weightsOf(run: readonly TimedEvent[]): number[] {
  return run.flatMap((t) =>
    t.event.type === 'CanaryWeightRequested'
      ? [
          (
            t.event.data as {
              command?: { setRoutes?: { routes?: { canaryWeightPercent?: number } } };
            }
          ).command?.setRoutes?.routes?.canaryWeightPercent ?? 0,
        ]
      : [],
  );
}

/** The analysis fields that differ, `name value` (arrays as JSON). */
function describeChange(before: Analysis, after: Analysis): string {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changed = keys.flatMap((key) => {
    const x = JSON.stringify((before as unknown as Record<string, unknown>)[key]);
    const y = (after as unknown as Record<string, unknown>)[key];
    if (x === JSON.stringify(y)) return [];
    return [`${key} ${typeof y === 'object' ? JSON.stringify(y) : String(y)}`];
  });
  return changed.length === 0 ? 'the changed spec' : changed.join(', ');
}

function summarize(change: string, clusters: readonly ClusterComparison[]): string[] {
  const lines: string[] = [];
  for (const c of clusters) {
    const where = c.cluster === '' ? 'for the release' : `in ${c.cluster}`;
    const a = c.recorded.outcome;
    const b = c.changed.outcome;
    const estimate = b?.afterDivergence === true ? ' (estimate: after the first divergence)' : '';
    if (a !== undefined && b !== undefined && a.kind === b.kind && a.atMs !== b.atMs) {
      const noun = nounOf(a.kind);
      const delta = b.atMs - a.atMs;
      lines.push(
        `with ${change} the ${noun} would have come ${minutes(Math.abs(delta))} ${delta < 0 ? 'earlier' : 'later'} ${where}${estimate}`,
      );
    } else if (a !== undefined && b !== undefined && a.kind !== b.kind) {
      lines.push(
        `with ${change} ${where} the outcome would have been ${b.kind} instead of ${a.kind}${estimate}`,
      );
    } else if (a !== undefined && b === undefined) {
      lines.push(
        `with ${change} ${where} the ${nounOf(a.kind)} would not have come within the recorded inputs`,
      );
    } else if (a === undefined && b !== undefined) {
      lines.push(`with ${change} ${where} the outcome would have been ${b.kind}${estimate}`);
    }
    if (JSON.stringify(c.recorded.weights) !== JSON.stringify(c.changed.weights)) {
      lines.push(
        `with ${change} the weights ${where} would have been [${c.changed.weights.join(', ')}] instead of [${c.recorded.weights.join(', ')}]`,
      );
    }
  }
  if (lines.length === 0 && clusters.every((c) => c.divergence === undefined)) {
    lines.push(`with ${change} no decision would have changed`);
  }
  return lines;
}

function nounOf(kind: string): string {
  return kind === 'rolled-back'
    ? 'rollback'
    : kind === 'promoted'
      ? 'promotion'
      : 'end of the release';
}

function minutes(deltaMs: number): string {
  if (deltaMs % 60_000 === 0) return `${deltaMs / 60_000} minute${deltaMs === 60_000 ? '' : 's'}`;
  return `${deltaMs / 1000} seconds`;
}
