/**
 * Replay (ADR 0004, "Replay"): re-derive a recorded release from its input facts. Public API, for
 * users and tests alike (Temporal's replayer): a history whose decisions do not follow from its
 * inputs is reported as a `DeterminismError` naming the first diverging event.
 */
import { createReleaseDecider } from '../fleet/decider.ts';
import type { ReleaseEvent, ReleaseState } from '../fleet/types.ts';
import { canonicalEvent } from './canonical-json.ts';
import { DeterminismError } from './determinism-error.ts';
import {
  commandOf,
  contextOf,
  type HistoryOptions,
  isInputFact,
  type RecordedEvent,
} from './history.ts';

export type ReplayResult =
  | { readonly ok: true; readonly state: ReleaseState; readonly version: number }
  | { readonly ok: false; readonly error: DeterminismError };

/**
 * Walks `history`: for each input fact, decides the command it records on the state folded so
 * far, and compares the decided events (the fact itself first, then its decisions) with the
 * recorded events from that fact on, as canonical JSON (sorted keys). Then folds them. Returns the
 * final state, or the first divergence: a differing event, a recorded decision the decider did not
 * take (extra), a decision it took that is missing, a command the decider refuses, or a decision
 * with no input fact before it. Never throws for a bad history (only for a missing context).
 */
export function replay(
  history: readonly RecordedEvent[],
  options: HistoryOptions = {},
): ReplayResult {
  const decider = createReleaseDecider(contextOf(history, options));
  let state = decider.initialState();
  let index = 0;
  while (index < history.length) {
    const recorded = history[index] as RecordedEvent;
    let decided: ReleaseEvent[];
    try {
      const command = commandOf(recorded, options.startClusters);
      if (command === undefined) {
        return fail(index, recorded, undefined, 'a decision without an input fact before it');
      }
      decided = decider.decide(command, state);
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      return fail(index, recorded, undefined, `the decider refused it: ${message}`, cause);
    }
    for (const [k, event] of decided.entries()) {
      const at = history[index + k];
      if (at === undefined || canonicalEvent(at) !== canonicalEvent(event)) {
        return fail(index + k, at, event);
      }
      state = decider.evolve(state, event);
    }
    index += decided.length;
    const next = history[index];
    if (next !== undefined && !isInputFact(next)) {
      return fail(index, next, undefined, 'a recorded decision the decider did not take');
    }
  }
  return { ok: true, state, version: history.length };
}

/** As `replay`, throwing the `DeterminismError`. */
export function replayOrThrow(
  history: readonly RecordedEvent[],
  options: HistoryOptions = {},
): ReleaseState {
  const result = replay(history, options);
  if (!result.ok) throw result.error;
  return result.state;
}

/**
 * Time travel: the state after the first `version` events (0 = the initial state), folded without
 * re-deciding (use `replay` first to trust the history).
 */
export function stateAt(
  history: readonly RecordedEvent[],
  version: number,
  options: HistoryOptions = {},
): ReleaseState {
  const decider = createReleaseDecider(contextOf(history, options));
  return history
    .slice(0, Math.max(0, version))
    .reduce((state, event) => decider.evolve(state, event as ReleaseEvent), decider.initialState());
}

function fail(
  index: number,
  recorded: RecordedEvent | undefined,
  rederived: RecordedEvent | undefined,
  detail = '',
  cause?: unknown,
): ReplayResult {
  const error = new DeterminismError(
    index,
    recorded,
    rederived,
    detail,
    cause === undefined ? undefined : { cause },
  );
  return { ok: false, error };
}
