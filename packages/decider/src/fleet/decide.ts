/**
 * The release decider: the fleet above the cluster canaries (ADR 0004, "Fleet"). Each command
 * yields its input fact first, then the canaries' decisions (each canary decides on the state it
 * had before the command; the input fact it would emit again is dropped), then the fleet's. Every
 * event is folded as it is emitted. Pure: time comes only from `Tick.nowMs`.
 */

import { AviaryError, ErrorCode } from '@aviary/core';
import type { FailurePolicyJson, ReleaseOutcomeJson, WorkloadRefJson } from '@aviary/proto';
import { compareStrings } from '../canary/evolve.ts';
import { compact, formatTimestamp } from '../canary/json.ts';
import { readinessOf } from '../canary/readiness.ts';
import {
  type CanaryCommand,
  type CanaryEvent,
  type CanaryInputEvent,
  CanaryPhase,
  type ClusterCanaryState,
} from '../canary/types.ts';
import { canonicalJson } from '../replay/canonical-json.ts';
import { activeFreezeWindow } from '../spec/freeze-window.ts';
import { FailurePolicy } from '../spec/types.ts';
import { type CanaryOf, evolveRelease } from './evolve.ts';
import { resolveWaves, withCluster } from './plan.ts';
import {
  type ClusterInfo,
  type ClusterRevert,
  FLEET_ACTOR,
  type FleetEvent,
  type ReleaseCommand,
  type ReleaseContext,
  type ReleaseEvent,
  type ReleaseState,
  RevertStatus,
  WaveStatus,
} from './types.ts';

/** Phases of a canary run that a halt rolls back (through the canary's own abort). */
const ABORTABLE: readonly CanaryPhase[] = [
  CanaryPhase.Waiting,
  CanaryPhase.Progressing,
  CanaryPhase.WaitingPromotion,
];
/** Phases in which a canary still acts on its own; a halted release ends once none is left. */
const ACTIVE: readonly CanaryPhase[] = [
  ...ABORTABLE,
  CanaryPhase.Promoting,
  CanaryPhase.Finalising,
];
/** Canaries still ticked after a halt: finishing a promotion, or re-sending their last commands. */
const DRIVEN_WHEN_HALTED: readonly CanaryPhase[] = [
  CanaryPhase.Promoting,
  CanaryPhase.Finalising,
  CanaryPhase.Succeeded,
  CanaryPhase.Failed,
];

const FAILURE_POLICY_JSON = {
  [FailurePolicy.Halt]: 'FAILURE_POLICY_HALT',
  [FailurePolicy.HaltAndRevert]: 'FAILURE_POLICY_HALT_AND_REVERT',
} as const satisfies Record<FailurePolicy, FailurePolicyJson>;

export function decideRelease(
  context: ReleaseContext,
  canaryOf: CanaryOf,
  command: ReleaseCommand,
  state: ReleaseState,
): ReleaseEvent[] {
  const d = new ReleaseDecision(context, canaryOf, state);
  switch (command.type) {
    case 'StartRelease':
      d.start(command.data.clusters ?? []);
      break;
    case 'Supersede':
      d.supersede(command.data.releaseId, command.data.revisionId);
      break;
    case 'Tick':
      d.tick(command.data.nowMs);
      break;
    case 'Observe':
      d.routed(command, command.data.observation.cluster, {
        type: 'ObservationRecorded',
        data: { observation: command.data.observation },
      });
      break;
    case 'RecordVerdict':
      d.routed(command, command.data.verdict.cluster, {
        type: 'AnalysisVerdictRecorded',
        data: { verdict: command.data.verdict },
      });
      break;
    case 'RecordWebhookResult':
      d.routed(command, command.data.cluster, {
        type: 'WebhookResultRecorded',
        data: command.data,
      });
      break;
    case 'OperatorAction':
      d.operator(command);
      break;
    default: {
      const unknown: never = command;
      throw new AviaryError(
        ErrorCode.Validation,
        `unknown command ${JSON.stringify((unknown as { type?: unknown }).type)}`,
      );
    }
  }
  return d.events;
}

/** The default target: the spec's `targetRef` in the Rollout's namespace. */
export function workloadOf(context: ReleaseContext): WorkloadRefJson {
  if (context.workload !== undefined) return context.workload;
  const { metadata, spec } = context.rollout;
  return {
    namespace: metadata.namespace,
    name: spec.targetRef.name,
    kind:
      spec.targetRef.kind === 'DaemonSet' ? 'WORKLOAD_KIND_DAEMON_SET' : 'WORKLOAD_KIND_DEPLOYMENT',
  };
}

class ReleaseDecision {
  readonly events: ReleaseEvent[] = [];
  private readonly context: ReleaseContext;
  private readonly canaryOf: CanaryOf;
  private state: ReleaseState;

  constructor(context: ReleaseContext, canaryOf: CanaryOf, state: ReleaseState) {
    this.context = context;
    this.canaryOf = canaryOf;
    this.state = state;
  }

  private emit(event: ReleaseEvent): void {
    this.events.push(event);
    this.state = evolveRelease(this.canaryOf, this.state, event);
  }

  private fleet(event: FleetEvent): void {
    this.emit({ type: event.type, data: compact(event.data) } as FleetEvent);
  }

  /** A canary's decision on `command` from `canary` (its state before the command), without the
   * input fact, which the release decider has already emitted. */
  private delegate(cluster: string, command: CanaryCommand, canary: ClusterCanaryState): void {
    for (const event of this.canaryOf(cluster).decide(command, canary).slice(1)) this.emit(event);
  }

  private get policy(): FailurePolicy {
    return this.context.rollout.spec.fleet.failurePolicy;
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  start(given: readonly ClusterInfo[]): void {
    if (this.state.started) {
      throw new AviaryError(
        ErrorCode.Validation,
        `release ${this.context.releaseId} already started`,
      );
    }
    const known = given.reduce(withCluster, this.state.knownClusters);
    const waves = resolveWaves(this.context.rollout.spec.fleet, known);
    const spec = JSON.parse(JSON.stringify(this.context.rollout)) as Record<string, unknown>;
    const { metadata } = this.context.rollout;
    const head = compact({
      releaseId: this.context.releaseId,
      rollout: { namespace: metadata.namespace, name: metadata.name },
      target: workloadOf(this.context),
      revision: { id: this.context.revisionId },
    });
    const tail = compact({
      // Key order is not meaningful (a jsonb store reorders keys): hash the canonical form.
      specHash: fnv1a(canonicalJson(spec)),
      waves: waves.map((w) => ({
        name: w.name,
        clusters: [...w.clusters],
        maxParallel: w.maxParallel,
        bakeMs: w.bakeMs,
      })),
      failurePolicy: FAILURE_POLICY_JSON[this.policy],
      supersededReleaseId: this.context.supersededReleaseId ?? '',
    });
    // The spec is a Struct: its zeros and empty values are kept (not proto3 defaults). Fields
    // in proto order, as canonical JSON writes them.
    this.emit({ type: 'ReleaseStarted', data: { ...head, spec: spec as never, ...tail } });
  }

  tick(nowMs: number): void {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
      throw new AviaryError(
        ErrorCode.Validation,
        `Tick.nowMs must be epoch milliseconds, got ${nowMs}`,
      );
    }
    if (nowMs < this.state.lastTickMs) {
      throw new AviaryError(
        ErrorCode.Validation,
        `Tick.nowMs ${nowMs} is before the last tick ${this.state.lastTickMs}: time never goes back`,
      );
    }
    const before = this.state;
    this.emit({ type: 'TickRecorded', data: { now: formatTimestamp(nowMs) } });
    // Reverts not yet confirmed: re-sent verbatim, same id (the agent applies each id once).
    if (!before.finished) {
      for (const revert of before.reverts) {
        if (revert.status !== RevertStatus.Reverting || revert.refused !== undefined) continue;
        this.fleet({ type: 'ClusterRevertRequested', data: { command: revert.command } });
      }
    }
    const command: CanaryCommand = { type: 'Tick', data: { nowMs } };
    const ticked = new Set<string>();
    // Canaries started by this tick's fleet decisions (a wave start, a freed slot) decide on the
    // same tick: their state before it is `before`, as no event since concerns them.
    const limit = 2 * (before.waves.length + Object.keys(before.canaries).length) + 4;
    for (let round = 0; round < limit; round += 1) {
      const count = this.events.length;
      const haltedBefore = this.state.halted;
      for (const cluster of this.driven()) {
        const canary = before.canaries[cluster];
        if (ticked.has(cluster) || canary === undefined) continue;
        ticked.add(cluster);
        this.delegate(cluster, command, canary);
      }
      this.step(nowMs, true);
      // After a halt decided in this command, aborted canaries no longer have `before` states.
      if (this.events.length === count || (!haltedBefore && this.state.halted)) break;
    }
  }

  /** A command about one cluster goes to its canary; the fleet then applies its policy. */
  routed(command: CanaryCommand, cluster: string | undefined, input: CanaryInputEvent): void {
    const canary = this.state.canaries[cluster ?? ''];
    this.emit(input);
    if (canary !== undefined) this.delegate(cluster ?? '', command, canary);
    const heartbeat = command.type === 'Observe' ? command.data.observation.heartbeat : undefined;
    if (heartbeat !== undefined && canary === undefined) {
      this.join({ name: cluster ?? '', labels: heartbeat.labels ?? {} });
    }
    this.step(this.state.lastTickMs, false);
  }

  /**
   * The newer revision's release replaces this one: canaries at work route all traffic back to
   * their primary (the newer release restarts the analysis there, as Flagger does for a new
   * revision), no wave starts, and the release finishes SUPERSEDED. Clusters already promoted keep
   * this revision on their primary: it is the newer release's previous revision there.
   */
  supersede(releaseId: string, revisionId: string): void {
    const s = this.state;
    const refuse = (why: string) => {
      throw new AviaryError(
        ErrorCode.Validation,
        `release ${this.context.releaseId} cannot be superseded: ${why}`,
      );
    };
    if (releaseId === '' || releaseId === this.context.releaseId) refuse('no newer release named');
    if (!s.started) refuse('it has not started');
    if (s.finished) refuse('it has finished');
    if (s.halted) refuse('it is halted and ends by itself once its canaries have finished');
    this.emit({
      type: 'SupersessionRecorded',
      data: compact({ releaseId, revision: compact({ id: revisionId }) }),
    });
    for (const cluster of this.engaged()) {
      for (const event of this.canaryOf(cluster).supersede(this.canary(cluster))) this.emit(event);
    }
    this.fleet({
      type: 'ReleaseFinished',
      data: {
        outcome: 'RELEASE_OUTCOME_SUPERSEDED',
        reason: `superseded by release ${releaseId}${revisionId === '' ? '' : ` (revision ${revisionId})`}`,
        supersededByReleaseId: releaseId,
      },
    });
  }

  /**
   * A cluster registered after the release started (its first Heartbeat) and a wave's label
   * selector matches it: it joins the plan, so that it gets the revision in this release rather
   * than never (its agent reports the released revision as already released, so no later release
   * of this revision would come). Its own wave if that has not passed; else the running wave, or
   * the next one; after the last wave has run, the last wave (it bakes again).
   */
  private join(cluster: ClusterInfo): void {
    const s = this.state;
    if (!s.started || s.finished || s.halted || cluster.name === '') return;
    if (s.canaries[cluster.name] !== undefined) return;
    const own = resolveWaves(this.context.rollout.spec.fleet, [cluster]).findIndex((w) =>
      w.clusters.includes(cluster.name),
    );
    if (own < 0) return;
    const running = s.waveStatus === WaveStatus.Running;
    let waveIndex = own;
    const passed = own < s.currentWave || (own === s.currentWave && !running);
    if (passed) {
      if (running) waveIndex = s.currentWave;
      else if (s.currentWave + 1 < s.waves.length) waveIndex = s.currentWave + 1;
      else waveIndex = s.currentWave;
    }
    const ownName = s.waves[own]?.name ?? '';
    this.fleet({
      type: 'ClusterJoined',
      data: {
        cluster: cluster.name,
        waveIndex,
        selectedByWaveIndex: own,
        reason:
          `registered after the release started; selected by wave ${ownName}` +
          (waveIndex === own
            ? ''
            : `, which had passed: runs in wave ${s.waves[waveIndex]?.name ?? ''}`),
      },
    });
  }

  operator(command: Extract<CanaryCommand, { type: 'OperatorAction' }>): void {
    const { actor, action } = command.data;
    const reason = command.data.reason ?? '';
    const cluster = command.data.cluster ?? '';
    const s = this.state;
    const input: CanaryEvent = {
      type: 'OperatorActionRecorded',
      data: compact({ actor, action, reason, cluster }),
    };
    const refuse = (why: string) => {
      throw new AviaryError(ErrorCode.Validation, `${action} ${cluster}: ${why}`);
    };
    switch (action) {
      case 'OPERATOR_ACTION_SKIP_CLUSTER': {
        if (s.canaries[cluster] === undefined) refuse('not a cluster of this release');
        if (s.finished || s.halted) refuse('the release is no longer running');
        if (s.skipped.includes(cluster)) refuse('already skipped');
        if (this.succeeded(cluster)) refuse('already succeeded');
        this.emit(input);
        this.fleet({
          type: 'ClusterSkipped',
          data: { cluster, waveIndex: this.waveOf(cluster), reason },
        });
        return;
      }
      case 'OPERATOR_ACTION_REQUEUE_CLUSTER': {
        if (!s.skipped.includes(cluster)) refuse('not skipped');
        if (s.finished || s.halted) refuse('the release is no longer running');
        let waveIndex = this.waveOf(cluster);
        const passed =
          waveIndex < s.currentWave ||
          (waveIndex === s.currentWave && s.waveStatus !== WaveStatus.Running);
        if (passed) {
          waveIndex = s.waveStatus === WaveStatus.Running ? s.currentWave : s.currentWave + 1;
        }
        if (waveIndex >= s.waves.length) refuse('the last wave has already run');
        this.emit(input);
        this.fleet({ type: 'ClusterRequeued', data: { cluster, waveIndex, reason } });
        return;
      }
      case 'OPERATOR_ACTION_RETRY':
        // A halted fleet only winds down: a canary run started now would run (and could promote)
        // with no wave to belong to. The retry of a halted release is a new release.
        if (s.halted) {
          refuse(
            'the release is halted: retry it as a new release once it has ended (POST …/retry)',
          );
        }
        break;
      default:
        break;
    }
    this.emit(input);
    if (cluster === '' && !s.finished) {
      switch (action) {
        case 'OPERATOR_ACTION_PAUSE':
          if (!s.paused) this.emit({ type: 'ReleasePaused', data: compact({ reason, actor }) });
          return;
        case 'OPERATOR_ACTION_RESUME':
          if (s.paused) this.emit({ type: 'ReleaseResumed', data: compact({ actor }) });
          return;
        case 'OPERATOR_ACTION_ABORT':
        case 'OPERATOR_ACTION_ROLLBACK':
          if (s.started && !s.halted) {
            this.halt('', `Aborted by ${actor}${reason === '' ? '' : `: ${reason}`}`);
          }
          return;
        default:
          break;
      }
    }
    // Cluster-scoped actions (and release-wide promote / retry) are the canaries'.
    for (const target of cluster === '' ? this.planned() : [cluster]) {
      const canary = this.state.canaries[target];
      if (canary !== undefined) this.delegate(target, command, canary);
    }
    this.step(this.state.lastTickMs, false);
  }

  // -------------------------------------------------------------------------------------------
  // The fleet

  /** The fleet's decisions implied by the folded state. Wave transitions happen on ticks only. */
  private step(nowMs: number, isTick: boolean): void {
    if (!this.state.started || this.state.finished) return;
    if (!this.state.halted) {
      const failed = this.engaged().find((c) => this.canary(c).phase === CanaryPhase.Failed);
      if (failed !== undefined) this.halt(failed, `cluster canary ${failed} failed`);
    }
    if (this.state.halted) {
      this.revert();
      const reverting = this.state.toRevert.some(
        (c) =>
          this.revertOf(c)?.status !== RevertStatus.Reverted &&
          this.revertOf(c)?.status !== RevertStatus.Failed,
      );
      if (isTick && !reverting && !this.engaged().some((c) => this.active(c))) {
        this.finish(
          this.state.haltedByOperator ? 'RELEASE_OUTCOME_ABORTED' : 'RELEASE_OUTCOME_FAILED',
          this.state.haltedByOperator ? 'stopped by an operator' : 'halted by the failure policy',
        );
      }
      return;
    }
    if (!isTick || this.state.paused) return;
    if (this.state.currentWave < 0 || this.state.waveStatus === WaveStatus.Succeeded) {
      const next = this.state.currentWave + 1;
      if (next >= this.state.waves.length) {
        this.finish('RELEASE_OUTCOME_SUCCEEDED', 'every wave succeeded');
        return;
      }
      if (activeFreezeWindow(this.context.rollout.spec.fleet.freezeWindows, nowMs) !== undefined) {
        return;
      }
      this.fleet({
        type: 'WaveStarted',
        data: {
          waveIndex: next,
          waveName: this.state.waves[next]?.name ?? '',
          clusters: this.members(next).filter((c) => !this.state.skipped.includes(c)),
        },
      });
    }
    const index = this.state.currentWave;
    const wave = this.state.waves[index];
    if (wave === undefined) return;
    if (this.state.waveStatus === WaveStatus.Running) {
      const open = this.members(index).filter((c) => !this.state.skipped.includes(c));
      if (open.every((c) => this.succeeded(c))) {
        this.fleet({
          type: 'WaveBaking',
          data: { waveIndex: index, bakeUntil: formatTimestamp(nowMs + wave.bakeMs) },
        });
      }
    }
    if (this.state.waveStatus === WaveStatus.Baking && nowMs >= this.state.bakeUntilMs) {
      this.fleet({ type: 'WaveSucceeded', data: { waveIndex: index } });
      if (index + 1 >= this.state.waves.length) {
        this.finish('RELEASE_OUTCOME_SUCCEEDED', 'every wave succeeded');
      }
    }
  }

  /** Applies the failure policy: no further wave starts, running canaries roll back (an abort
   * through their own deciders), and with halt-and-revert the clusters this release promoted (or
   * began to promote) over a known revision are named for a revert to it. */
  private halt(cluster: string, reason: string): void {
    const revert =
      this.policy === FailurePolicy.HaltAndRevert
        ? this.planned()
            .filter((c) => (this.canary(c).previousPrimaryRevisionId ?? '') !== '')
            .sort(compareStrings)
        : [];
    this.fleet({
      type: 'FleetHalted',
      data: {
        waveIndex: Math.max(this.state.currentWave, 0),
        cluster,
        failurePolicy: FAILURE_POLICY_JSON[this.policy],
        reason,
        clustersToRevert: revert,
      },
    });
    for (const target of this.engaged()) {
      const canary = this.canary(target);
      if (!ABORTABLE.includes(canary.phase)) continue;
      this.delegate(
        target,
        {
          type: 'OperatorAction',
          data: { actor: FLEET_ACTOR, action: 'OPERATOR_ACTION_ABORT', reason, cluster: target },
        },
        canary,
      );
    }
  }

  /**
   * Halt-and-revert, after the halt: each cluster named is sent `RevertPrimary` once its canary
   * has stopped promoting (a promotion under way finishes first, so the agent has saved the
   * template it replaced); the revert is confirmed when the agent reports the primary ready on
   * the previous revision, and given up when the agent refuses it.
   */
  private revert(): void {
    for (const cluster of this.state.toRevert) {
      const canary = this.canary(cluster);
      const existing = this.revertOf(cluster);
      if (existing === undefined) {
        if (canary.phase === CanaryPhase.Promoting || canary.phase === CanaryPhase.Finalising) {
          continue;
        }
        this.fleet({
          type: 'ClusterRevertRequested',
          data: {
            command: {
              commandId: `${this.context.releaseId}:${cluster}:revert-primary`,
              cluster,
              releaseId: this.context.releaseId,
              workload: workloadOf(this.context),
              issuedAt: formatTimestamp(this.state.lastTickMs),
              revertPrimary: { revisionId: canary.previousPrimaryRevisionId },
            },
          },
        });
        continue;
      }
      if (existing.status !== RevertStatus.Reverting) continue;
      if (existing.refused !== undefined) {
        this.fleet({
          type: 'ClusterRevertFailed',
          data: {
            cluster,
            revisionId: existing.revisionId,
            reason: existing.refused,
            commandId: existing.command.commandId ?? '',
          },
        });
        continue;
      }
      const { analysis, progressDeadlineSeconds } = this.context.rollout.spec;
      const primary = readinessOf(canary.primaryReadiness, {
        readyThresholdPercent: analysis.primaryReadyThreshold,
        progressDeadlineMs: progressDeadlineSeconds * 1000,
        nowMs: this.state.lastTickMs,
        revisionId: existing.revisionId,
      });
      if (primary.kind === 'ready') {
        this.fleet({ type: 'ClusterReverted', data: { cluster, revisionId: existing.revisionId } });
      } else if (primary.kind === 'failed') {
        this.fleet({
          type: 'ClusterRevertFailed',
          data: {
            cluster,
            revisionId: existing.revisionId,
            reason: `primary not ready on revision ${existing.revisionId}: ${primary.reason}`,
            commandId: existing.command.commandId ?? '',
          },
        });
      }
    }
  }

  private revertOf(cluster: string): ClusterRevert | undefined {
    return this.state.reverts.find((r) => r.cluster === cluster);
  }

  private finish(outcome: ReleaseOutcomeJson, reason: string): void {
    this.fleet({ type: 'ReleaseFinished', data: { outcome, reason } });
  }

  // -------------------------------------------------------------------------------------------
  // Reading the state

  private canary(cluster: string): ClusterCanaryState {
    const canary = this.state.canaries[cluster];
    if (canary === undefined) throw new Error(`no canary for cluster ${cluster}`);
    return canary;
  }

  /** Every planned cluster, in plan order. */
  private planned(): string[] {
    return this.state.waves.flatMap((_, i) => this.members(i));
  }

  /** The wave a cluster runs in: its own, or the one it was requeued into. */
  private waveOf(cluster: string): number {
    const moved = this.state.moved.find((m) => m.cluster === cluster);
    if (moved !== undefined) return moved.waveIndex;
    return this.state.waves.findIndex((w) => w.clusters.includes(cluster));
  }

  /** The clusters of wave `index` in start order: its own, then those requeued into it. */
  private members(index: number): string[] {
    const own = (this.state.waves[index]?.clusters ?? []).filter((c) => this.waveOf(c) === index);
    const moved = this.state.moved
      .filter((m) => m.waveIndex === index && !own.includes(m.cluster))
      .map((m) => m.cluster);
    return [...own, ...moved];
  }

  /** Non-skipped clusters of the waves started so far, in plan order. */
  private engaged(): string[] {
    const out: string[] = [];
    for (let i = 0; i <= this.state.currentWave; i += 1) {
      out.push(...this.members(i).filter((c) => !this.state.skipped.includes(c)));
    }
    return out;
  }

  /** The primary runs the released revision. */
  private succeeded(cluster: string): boolean {
    const canary = this.canary(cluster);
    return (
      (canary.phase === CanaryPhase.Succeeded || canary.phase === CanaryPhase.Initialized) &&
      canary.primaryRevisionId === this.context.revisionId
    );
  }

  private active(cluster: string): boolean {
    const canary = this.canary(cluster);
    return (
      ACTIVE.includes(canary.phase) ||
      (canary.phase === CanaryPhase.Failed && canary.outstanding.length > 0)
    );
  }

  /** The canaries a tick is handed to, in plan order: the running ones of the current wave (at
   * most `maxParallel` not yet done), and every started one (for re-sends). After a halt, only
   * those finishing a promotion or re-sending their last commands. */
  private driven(): string[] {
    const s = this.state;
    if (!s.started || s.finished) return [];
    const engaged = this.engaged();
    if (s.halted) return engaged.filter((c) => DRIVEN_WHEN_HALTED.includes(this.canary(c).phase));
    const running = new Set<string>();
    const wave = s.waves[s.currentWave];
    if (wave !== undefined && s.waveStatus === WaveStatus.Running) {
      const pending = this.members(s.currentWave).filter(
        (c) =>
          !s.skipped.includes(c) &&
          !this.succeeded(c) &&
          this.canary(c).phase !== CanaryPhase.Failed,
      );
      const slots = wave.maxParallel === 0 ? pending.length : wave.maxParallel;
      for (const c of pending.slice(0, slots)) running.add(c);
    }
    return engaged.filter(
      (c) => running.has(c) || this.canary(c).phase !== CanaryPhase.Unspecified,
    );
  }
}

/** FNV-1a (32 bits) of a string's UTF-16 code units, as 8 hex digits. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
