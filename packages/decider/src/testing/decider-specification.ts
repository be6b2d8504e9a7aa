/**
 * Given/When/Then for deciders (Emmett's `DeciderSpecification`), shipped for reuse:
 *
 * ```ts
 * const spec = DeciderSpecification.for(decider);
 * spec.given(events).when(command).then(expectedEvents);
 * spec.given(events).when(command).thenThrows((error) => error instanceof AviaryError);
 * ```
 *
 * `given` folds the events with `evolve` from `initialState()`; `when` runs `decide`; `then`
 * compares the decided events with the expected ones, structurally. An optional `check` runs on
 * every decided event (e.g. a schema check) before the comparison. Framework-neutral: failures
 * throw a plain `Error` with both sides as JSON, so any test runner reports them.
 */
import type { Decider } from '../canary/decider.ts';

export interface DeciderSpecificationOptions<Event> {
  /** Called with every decided event; throw to fail the specification. */
  readonly check?: (event: Event) => void;
}

export interface Then<Event> {
  /** The decided events, exactly (order and content). Returns them for further assertions. */
  then(expected: readonly Event[]): Event[];
  /** The decided events, for assertions of their own (after `check`). */
  events(): Event[];
  /** `decide` throws; the optional predicate must accept the error. */
  thenThrows(predicate?: (error: unknown) => boolean): void;
}

export interface When<Command, Event> {
  when(command: Command): Then<Event>;
}

export const DeciderSpecification = {
  for<Command, State, Event>(
    decider: Decider<Command, State, Event>,
    options: DeciderSpecificationOptions<Event> = {},
  ): { given(events: readonly Event[]): When<Command, Event> } {
    return {
      given(givenEvents) {
        return {
          when(command) {
            const run = (): Event[] => {
              const state = givenEvents.reduce(decider.evolve, decider.initialState());
              const decided = decider.decide(command, state);
              if (options.check !== undefined) for (const event of decided) options.check(event);
              return decided;
            };
            return {
              // biome-ignore lint/suspicious/noThenProperty: Given/When/Then as in Emmett; never awaited.
              then(expected) {
                const decided = run();
                const actualJson = JSON.stringify(decided, null, 2);
                const expectedJson = JSON.stringify(expected, null, 2);
                if (actualJson !== expectedJson) {
                  throw new Error(
                    `decided events differ from the expected ones\n--- expected\n${expectedJson}\n--- decided\n${actualJson}`,
                  );
                }
                return decided;
              },
              events: run,
              thenThrows(predicate) {
                let decided: Event[];
                try {
                  decided = run();
                } catch (error) {
                  if (predicate !== undefined && !predicate(error)) {
                    throw new Error(`decide threw an unexpected error: ${String(error)}`, {
                      cause: error,
                    });
                  }
                  return;
                }
                throw new Error(`expected decide to throw, it decided ${JSON.stringify(decided)}`);
              },
            };
          },
        };
      },
    };
  },
};
