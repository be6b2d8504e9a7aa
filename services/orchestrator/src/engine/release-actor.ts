/**
 * One release in memory: its decider, its folded state and the stream version that state is
 * based on. Every command goes through `handle`, which the engine calls one at a time per
 * application:
 *
 * 1. a command whose input fact is already in the stream (a re-delivered message) is a no-op;
 * 2. the pure decider decides the command on the state: the input fact first, then the decisions;
 * 3. the events are appended with the expected version, with their outbox messages, in one
 *    transaction; event ids derive from the input's id (`<input id>/<n>`), so an append retried
 *    after a lost reply is idempotent;
 * 4. on a version conflict (another orchestrator appended: fail-over, or a split brain that the
 *    advisory lock did not prevent) the stream's tail is folded in and the command decided again.
 *    An append refused because one of its ids is stored with other content means the input was
 *    decided before (ids derive from the input's id): the tail is folded in, nothing appended.
 *
 * Loading reads the latest snapshot (`snapshots.ts`) and the stream's tail after it; a snapshot
 * is taken every `snapshotEvery` events.
 */
import { AviaryError, ConcurrencyError, ErrorCode } from '@aviary/core';
import {
  type ClusterInfo,
  contextOf,
  createReleaseDecider,
  type RecordedEvent as DeciderRecordedEvent,
  type ReleaseCommand,
  type ReleaseContext,
  type ReleaseDecider,
  type ReleaseEvent,
  type ReleaseState,
} from '@aviary/decider';
import type { EventMetadata, EventStore, NewEvent, RecordedEvent } from '@aviary/event-store';
import type { MessagingNamespace } from '@aviary/messaging';
import type { ObservationJson } from '@aviary/proto';
import { outboxMessagesOf } from './effects.ts';
import { releaseStreamId } from './ids.ts';
import type { SnapshotStore } from './snapshots.ts';

export interface ReleaseActorDeps {
  readonly store: EventStore;
  readonly namespace: MessagingNamespace;
  /** Appends tried again after a version conflict before giving up. Default 5. */
  readonly maxConflictRetries?: number;
  /** Where snapshots are kept; none: every load folds the whole stream. */
  readonly snapshots?: SnapshotStore;
  /** Events between snapshots. Default 500. */
  readonly snapshotEvery?: number;
  /** A snapshot that could not be saved (it is only a cache: the release goes on). */
  readonly onSnapshotError?: (error: unknown, releaseId: string) => void;
}

export interface Handled {
  /** False when the input was already recorded (a re-delivery): nothing was appended. */
  readonly appended: boolean;
  readonly events: readonly ReleaseEvent[];
}

export class ReleaseActor {
  readonly releaseId: string;
  readonly streamId: string;
  readonly context: ReleaseContext;
  private readonly decider: ReleaseDecider;
  private readonly deps: ReleaseActorDeps;
  private readonly ids = new Set<string>();
  private currentState: ReleaseState;
  private currentVersion: bigint;
  private snapshotVersion = 0n;
  private snapshotting: Promise<void> | undefined;

  private constructor(deps: ReleaseActorDeps, context: ReleaseContext) {
    this.deps = deps;
    this.context = context;
    this.releaseId = context.releaseId;
    this.streamId = releaseStreamId(context.releaseId);
    this.decider = createReleaseDecider(context);
    this.currentState = this.decider.initialState();
    this.currentVersion = 0n;
  }

  get state(): ReleaseState {
    return this.currentState;
  }

  get version(): bigint {
    return this.currentVersion;
  }

  get finished(): boolean {
    return this.currentState.finished;
  }

  /**
   * The release's latest snapshot plus the stream after it, folded (or the whole stream);
   * `undefined` when the stream does not exist.
   */
  static async load(
    deps: ReleaseActorDeps,
    releaseId: string,
    signal?: AbortSignal,
  ): Promise<ReleaseActor | undefined> {
    const streamId = releaseStreamId(releaseId);
    const snapshot = await deps.snapshots?.load(streamId);
    if (snapshot !== undefined && snapshot.context.releaseId === releaseId) {
      const actor = new ReleaseActor(deps, snapshot.context);
      actor.currentState = snapshot.state;
      actor.currentVersion = snapshot.version;
      actor.snapshotVersion = snapshot.version;
      await actor.catchUp(signal);
      return actor;
    }
    const events = await deps.store.readStream(streamId, { ...(signal ? { signal } : {}) });
    if (events.length === 0) return undefined;
    const context = contextOf(events as unknown as DeciderRecordedEvent[]);
    if (context.releaseId !== releaseId) {
      throw new AviaryError(
        ErrorCode.CorruptEvent,
        `stream ${streamId} holds release ${context.releaseId}`,
      );
    }
    const actor = new ReleaseActor(deps, context);
    actor.fold(events);
    actor.maybeSnapshot();
    return actor;
  }

  /** Saves a snapshot when `snapshotEvery` events passed since the last one (in the background). */
  private maybeSnapshot(): void {
    const store = this.deps.snapshots;
    const every = BigInt(this.deps.snapshotEvery ?? 500);
    if (store === undefined || this.snapshotting !== undefined) return;
    if (this.currentVersion - this.snapshotVersion < every) return;
    const snapshot = {
      version: this.currentVersion,
      context: this.context,
      state: this.currentState,
    };
    this.snapshotting = store
      .save(this.streamId, snapshot)
      .then(() => {
        this.snapshotVersion = snapshot.version;
      })
      .catch((error) => this.deps.onSnapshotError?.(error, this.releaseId))
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  /** Resolves once a snapshot being saved is saved (tests, shutdown). */
  async snapshotSettled(): Promise<void> {
    await this.snapshotting;
  }

  /**
   * Creates the release's stream: the heartbeats of the clusters known now (so that the plan, and
   * a replay of it, follow from the stream alone), then `ReleaseStarted`, in one append. If the
   * stream exists already (another orchestrator, or a retry after a lost reply), it is loaded.
   */
  static async create(
    deps: ReleaseActorDeps,
    context: ReleaseContext,
    heartbeats: readonly ObservationJson[],
    metadata: EventMetadata,
  ): Promise<ReleaseActor> {
    const actor = new ReleaseActor(deps, context);
    const decided: { id: string; event: ReleaseEvent }[] = [];
    let state = actor.currentState;
    const run = (command: ReleaseCommand, inputId: string) => {
      const events = actor.decider.decide(command, state);
      events.forEach((event, i) => {
        decided.push({ id: i === 0 ? inputId : `${inputId}/${i}`, event });
        state = actor.decider.evolve(state, event);
      });
    };
    for (const heartbeat of heartbeats) {
      run(
        { type: 'Observe', data: { observation: heartbeat } },
        `${context.releaseId}/obs/${heartbeat.observationId ?? ''}`,
      );
    }
    run({ type: 'StartRelease', data: {} }, `${context.releaseId}/start`);
    const events = decided.map(({ id, event }) => ({ id, type: event.type, data: event.data }));
    try {
      await deps.store.append(
        actor.streamId,
        events.map((e) => ({ ...e, metadata })),
        {
          expectedVersion: 'no_stream',
          outbox: outboxMessagesOf(events, deps.namespace),
        },
      );
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      const loaded = await ReleaseActor.load(deps, context.releaseId);
      if (loaded === undefined) throw error;
      return loaded;
    }
    actor.currentState = state;
    actor.currentVersion = BigInt(events.length);
    for (const e of events) actor.ids.add(e.id);
    return actor;
  }

  /** Whether an input with this id is recorded in the stream. */
  has(inputId: string): boolean {
    return this.ids.has(inputId);
  }

  /** Decides `command` (recorded as `inputId`) and appends the result; see the module comment. */
  async handle(
    command: ReleaseCommand,
    inputId: string,
    metadata: EventMetadata,
    signal?: AbortSignal,
  ): Promise<Handled> {
    const retries = this.deps.maxConflictRetries ?? 5;
    for (let attempt = 0; ; attempt += 1) {
      if (this.ids.has(inputId)) return { appended: false, events: [] };
      const events = this.decider.decide(command, this.currentState);
      const stored: NewEvent[] = events.map((event, i) => ({
        id: i === 0 ? inputId : `${inputId}/${i}`,
        type: event.type,
        data: event.data,
        metadata,
      }));
      try {
        const result = await this.deps.store.append(this.streamId, stored, {
          expectedVersion: this.currentVersion,
          outbox: outboxMessagesOf(
            stored.map((e) => ({ id: e.id ?? '', type: e.type, data: e.data })),
            this.deps.namespace,
          ),
          ...(signal ? { signal } : {}),
        });
        if (result.duplicate) {
          // Written before by an append whose reply was lost: fold what the stream now holds.
          await this.catchUp(signal);
          return { appended: false, events: [] };
        }
        for (const event of events) {
          this.currentState = this.decider.evolve(this.currentState, event);
        }
        for (const e of stored) this.ids.add(e.id ?? '');
        this.currentVersion = result.nextVersion;
        this.maybeSnapshot();
        return { appended: true, events };
      } catch (error) {
        if (error instanceof AviaryError && error.code === ErrorCode.IdempotencyMismatch) {
          // Decided before (the ids derive from this input's id), from an older state.
          await this.catchUp(signal);
          this.ids.add(inputId);
          return { appended: false, events: [] };
        }
        if (!(error instanceof ConcurrencyError) || attempt >= retries) throw error;
        await this.catchUp(signal);
      }
    }
  }

  /** Folds the events appended to the stream since this actor's version. */
  async catchUp(signal?: AbortSignal): Promise<void> {
    const tail = await this.deps.store.readStream(this.streamId, {
      fromVersion: this.currentVersion + 1n,
      ...(signal ? { signal } : {}),
    });
    this.fold(tail);
  }

  private fold(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      this.currentState = this.decider.evolve(this.currentState, {
        type: event.type,
        data: event.data,
      } as unknown as ReleaseEvent);
      this.ids.add(event.id);
      this.currentVersion = event.streamVersion;
    }
  }

  /** The clusters of the plan whose canary is in a phase that sends them traffic or work. */
  activeClusters(): ClusterInfo['name'][] {
    const busy = new Set([
      'CANARY_PHASE_INITIALIZING',
      'CANARY_PHASE_PROGRESSING',
      'CANARY_PHASE_WAITING',
      'CANARY_PHASE_WAITING_PROMOTION',
      'CANARY_PHASE_PROMOTING',
      'CANARY_PHASE_FINALISING',
    ]);
    return Object.entries(this.currentState.canaries)
      .filter(([, canary]) => busy.has(canary.phase) || canary.outstanding.length > 0)
      .map(([cluster]) => cluster);
  }
}
