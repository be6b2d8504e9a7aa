/**
 * The engine: the orchestrator's event-sourced process (ARCHITECTURE.md, "orchestrator").
 *
 * Inputs arrive from the agents (observations), the analyzer (verdicts), the webhook dispatcher
 * (results), operators (actions) and time (ticks). Each is routed to its application, and
 * everything about one application runs one at a time (a promise queue per application), while
 * applications run in parallel. A release's inputs go through its `ReleaseActor`: decided by the
 * pure decider, appended with the expected version, effects in the outbox.
 *
 * - **Applications** (`rollout-<ns>.<name>`): the spec in force, the releases created, the gates.
 * - **Releases**: one active release per application. An agent's `RevisionSeen` of a revision the
 *   cluster's primary does not run, and that the application's latest release is not about,
 *   creates one (`ReleaseCreated` on the application stream first, so two orchestrators cannot
 *   both create it). A newer revision seen while another release runs **supersedes** it: the
 *   running release is stopped first (`Supersede`: its canaries at work route all traffic back to
 *   their primary, it finishes SUPERSEDED naming the new release), then the new release starts
 *   with `supersededReleaseId` and plans the whole fleet from the first wave. A halted release is
 *   not superseded: it only winds down (promotions finishing, reverts), and the newer revision
 *   waits until it ends (docs/orchestrator.md).
 * - **Late clusters**: a heartbeat that registers a cluster (or changes its labels) is handed to
 *   every active release, whose decider lets a cluster a wave selects join (`ClusterJoined`);
 *   what its agent reported before is then handed to the release too.
 * - **Clusters** (`cluster-<name>`): heartbeats (when something changed, or every
 *   `heartbeatRecordIntervalMs`), revisions seen and readiness are recorded there, so a release
 *   created later, or after a restart, starts from the latest of each.
 * - **Ticks**: each active release gets a tick every analysis interval (the spec's `intervalMs`),
 *   the first one at once, then on the interval's grid; a tick carries `now` and is an event.
 * - **Lease**: every cluster with a canary at work gets a `RenewLease` command more often than the
 *   lease its agent announced, so a canary waiting on a gate keeps its traffic.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AviaryError, ConcurrencyError, ErrorCode, ValidationError } from '@aviary/core';
import {
  canonicalJson,
  importFlaggerCanary,
  parseRollout,
  type ReleaseCommand,
  type ReleaseContext,
  type Rollout,
  withCurrentDefaults,
} from '@aviary/decider';
import {
  type EventMetadata,
  type EventStore,
  type RecordedEvent,
  START,
} from '@aviary/event-store';
import { commandSubject, type MessagingNamespace } from '@aviary/messaging';
import type { Logger } from '@aviary/platform';
import {
  type AnalysisVerdictJson,
  AnalysisVerdictSchema,
  type GateChangedJson,
  type ObservationJson,
  ObservationSchema,
  type ReleaseCreatedJson,
  type RolloutSpecAppliedJson,
  type WebhookResultRecordedJson,
  WebhookResultRecordedSchema,
} from '@aviary/proto';
import { type DescMessage, fromJson, type JsonValue, toJson } from '@bufbuild/protobuf';
import type {
  Actor,
  ApplicationRef,
  ApplySpecResult,
  Operations,
  OperatorActionInput,
} from '../ports.ts';
import {
  appKey,
  applicationOfRelease,
  applicationStreamId,
  clusterStreamId,
  ORCHESTRATOR_ACTOR,
  releaseIdOf,
  releaseIdOfRequest,
  releaseStreamId,
} from './ids.ts';
import { ReleaseActor } from './release-actor.ts';
import type { SnapshotStore } from './snapshots.ts';

/** Publishes one agent command outside the log (lease renewals). */
export type PublishCommand = (subject: string, payload: Uint8Array, msgId: string) => Promise<void>;

export interface EngineOptions {
  readonly store: EventStore;
  readonly namespace: MessagingNamespace;
  readonly logger: Logger;
  readonly publishCommand: PublishCommand;
  readonly nowMs?: () => number;
  /** An unchanged heartbeat is recorded at most this often. Default 60 s. */
  readonly heartbeatRecordIntervalMs?: number;
  /** Lease assumed for an agent whose heartbeat did not say. Default 5 min. */
  readonly defaultLeaseMs?: number;
  /** How often lease renewals are considered. Default 1 s. */
  readonly leaseCheckIntervalMs?: number;
  /** Release snapshots (load = snapshot + tail); none: releases load their whole stream. */
  readonly snapshots?: SnapshotStore;
  /** Events between a release's snapshots. Default 500. */
  readonly snapshotEvery?: number;
  /** Called after every committed tick with how late its decision was committed (ms). */
  readonly onTick?: (delayMs: number, releaseId: string) => void;
}

interface ReleaseRecord {
  readonly releaseId: string;
  readonly revisionId: string;
  finished: boolean;
}

interface AppState {
  readonly ref: ApplicationRef;
  readonly key: string;
  rollout?: Rollout;
  specHash?: string;
  version: bigint;
  readonly releases: ReleaseRecord[];
  readonly gates: Map<string, boolean>;
  queue: Promise<unknown>;
  /** A revision seen while another release ran, started when that one ends. */
  pending?: { readonly revisionId: string; readonly cluster: string };
}

interface ClusterState {
  heartbeat?: ObservationJson;
  recordedAtMs: number;
  leaseMs: number;
  lastRenewalMs: number;
  queue: Promise<unknown>;
}

interface FleetEntry {
  revisionSeen?: ObservationJson;
  canary?: ObservationJson;
  primary?: ObservationJson;
}

const DECIDER_REFUSAL = new Set<string>([ErrorCode.Validation]);

export class Engine implements Operations {
  private readonly options: EngineOptions;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly apps = new Map<string, AppState>();
  /** `<namespace>/<target name>` → application key. */
  private readonly targets = new Map<string, string>();
  private readonly actors = new Map<string, ReleaseActor>();
  private readonly clusters = new Map<string, ClusterState>();
  private readonly fleet = new Map<string, FleetEntry>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; dueMs: number }>();
  private leaseTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(options: EngineOptions) {
    this.options = options;
    this.log = options.logger;
    this.nowMs = options.nowMs ?? Date.now;
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  /**
   * Rebuilds the engine's view from the log (applications, clusters, the fleet view, releases)
   * and loads every active release. Reads the whole log once; see docs/orchestrator.md.
   */
  async recover(signal?: AbortSignal): Promise<{ events: number; activeReleases: number }> {
    let after = START;
    let events = 0;
    const finished = new Set<string>();
    for (;;) {
      const page = await this.options.store.readAll({
        after,
        limit: 5000,
        ...(signal ? { signal } : {}),
      });
      for (const event of page.events) {
        events += 1;
        this.recoverEvent(event, finished);
      }
      after = page.position;
      if (!page.hasMore) break;
    }
    let active = 0;
    for (const app of this.apps.values()) {
      for (const record of app.releases) {
        if (finished.has(record.releaseId)) record.finished = true;
        if (record.finished) continue;
        const actor = await this.loadOrCreate(app, record);
        if (actor.finished) record.finished = true;
        else active += 1;
      }
    }
    return { events, activeReleases: active };
  }

  private recoverEvent(event: RecordedEvent, finished: Set<string>): void {
    const { streamId, type, data } = event;
    if (streamId.startsWith('rollout-')) {
      if (type === 'RolloutSpecApplied') {
        const d = data as RolloutSpecAppliedJson;
        const app = this.app({
          namespace: d.rollout?.namespace ?? '',
          name: d.rollout?.name ?? '',
        });
        this.setSpec(app, d.spec as unknown as Rollout, d.specHash ?? '');
      } else if (type === 'ReleaseCreated') {
        const d = data as ReleaseCreatedJson;
        const ref = applicationOfRelease(d.releaseId ?? '');
        if (ref !== undefined) {
          this.app(ref).releases.push({
            releaseId: d.releaseId ?? '',
            revisionId: d.revision?.id ?? '',
            finished: false,
          });
        }
      } else if (type === 'GateChanged') {
        const app = this.appOfStream(streamId);
        const d = data as GateChangedJson;
        app?.gates.set(d.gate ?? '', d.open === true);
      }
      const app = this.appOfStream(streamId);
      if (app !== undefined) app.version = event.streamVersion;
    } else if (streamId.startsWith('cluster-') && type === 'ObservationRecorded') {
      const observation = (data as { observation?: ObservationJson }).observation;
      if (observation !== undefined) this.remember(observation, this.nowMs());
    } else if (streamId.startsWith('release-') && type === 'ReleaseFinished') {
      finished.add(streamId.slice('release-'.length));
    }
  }

  /** Starts ticks for every active release and the lease renewals. */
  start(): void {
    this.running = true;
    for (const actor of this.actors.values()) {
      if (!actor.finished) this.schedule(actor, this.nowMs());
    }
    const every = this.options.leaseCheckIntervalMs ?? 1000;
    this.leaseTimer = setInterval(() => this.renewLeases(), every);
    this.leaseTimer.unref();
  }

  /** Stops ticks and renewals; resolves once every queued input is done. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.apps.values()].map((a) => a.queue));
    await Promise.allSettled([...this.clusters.values()].map((c) => c.queue));
  }

  /** Active releases, for metrics and tests. */
  activeReleases(): ReleaseActor[] {
    return [...this.actors.values()].filter((a) => !a.finished);
  }

  release(releaseId: string): ReleaseActor | undefined {
    return this.actors.get(releaseId);
  }

  // -------------------------------------------------------------------------------------------
  // Inputs from agents and the analyzer

  /**
   * One agent observation: checked against its proto schema and brought to its canonical JSON
   * (what the log stores, so that the state decided live equals the state folded from the log).
   */
  async ingestObservation(input: ObservationJson): Promise<void> {
    const observation = canonical<ObservationJson>(ObservationSchema, input, 'observation');
    const cluster = observation.cluster ?? '';
    if (cluster === '' || !observation.observationId) {
      throw new ValidationError('invalid observation', [
        { path: cluster === '' ? 'cluster' : 'observationId', message: 'is required' },
      ]);
    }
    if (observation.heartbeat !== undefined) {
      await this.recordHeartbeat(observation);
      return;
    }
    const workload =
      observation.revisionSeen?.workload ??
      observation.workloadReadiness?.workload ??
      observation.routesApplied?.workload ??
      observation.commandResult?.workload;
    const lasting =
      observation.revisionSeen !== undefined || observation.workloadReadiness !== undefined;
    const commandId = observation.commandResult?.commandId ?? observation.routesApplied?.commandId;
    const fromCommand = commandId ? releaseIdOfRequest(commandId) : undefined;
    const appOf = () =>
      fromCommand !== undefined
        ? this.appOfRelease(fromCommand)
        : workload
          ? this.apps.get(this.targets.get(`${workload.namespace}/${workload.name}`) ?? '')
          : undefined;
    const app = appOf();
    if (app === undefined) {
      if (!lasting) return;
      await this.recordForCluster(observation);
      // A Rollout applied while this was being recorded looked for revisions already seen before
      // this one was remembered: hand it over now (onRevisionSeen is idempotent), or its revision
      // would wait for the agent's next report, which may never come.
      const applied = appOf();
      if (applied !== undefined && observation.revisionSeen !== undefined) {
        await this.enqueue(applied, () => this.onRevisionSeen(applied, observation));
      }
      return;
    }
    // Queued before any await: an application's observations are decided in arrival order.
    await this.enqueue(app, async () => {
      if (lasting) await this.recordForCluster(observation);
      if (observation.revisionSeen !== undefined) {
        await this.onRevisionSeen(app, observation);
        return;
      }
      const actor =
        fromCommand !== undefined ? this.actors.get(fromCommand) : this.activeActor(app);
      if (actor === undefined || actor.finished) return;
      await this.observeIn(app, actor, observation);
    });
  }

  async recordVerdict(input: AnalysisVerdictJson): Promise<void> {
    const verdict = canonical<AnalysisVerdictJson>(
      AnalysisVerdictSchema,
      input,
      'analysis verdict',
    );
    const requestId = verdict.requestId ?? '';
    const releaseId = verdict.releaseId || releaseIdOfRequest(requestId);
    if (!requestId || releaseId === undefined) {
      throw new ValidationError('invalid analysis verdict', [
        { path: 'requestId', message: 'must name a request of a release' },
      ]);
    }
    const app = this.appOfRelease(releaseId);
    if (app === undefined) return;
    await this.enqueue(app, async () => {
      const actor = this.actors.get(releaseId);
      if (actor === undefined || actor.finished) return;
      await this.decide(
        app,
        actor,
        { type: 'RecordVerdict', data: { verdict } },
        `${releaseId}/verdict/${requestId}`,
        'analyzer',
      );
    });
  }

  async recordWebhookResult(releaseId: string, input: WebhookResultRecordedJson): Promise<void> {
    const result = canonical<WebhookResultRecordedJson>(
      WebhookResultRecordedSchema,
      input,
      'webhook result',
    );
    const app = this.requireAppOfRelease(releaseId);
    await this.enqueue(app, async () => {
      const actor = this.actors.get(releaseId);
      if (actor === undefined || actor.finished) return;
      await this.decide(
        app,
        actor,
        { type: 'RecordWebhookResult', data: result },
        `${releaseId}/webhook/${result.requestId ?? ''}`,
        'webhooks',
      );
    });
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  async applySpec(document: string, actor: Actor): Promise<ApplySpecResult> {
    const { rollout, notes } = parseSpec(document);
    const ref = { namespace: rollout.metadata.namespace, name: rollout.metadata.name };
    const specHash = `sha256:${createHash('sha256').update(canonicalJson(rollout)).digest('hex')}`;
    const app = this.app(ref);
    return this.enqueue(app, async () => {
      if (app.specHash === specHash) {
        return { application: ref, specHash, changed: false, notes };
      }
      const other = this.targets.get(`${ref.namespace}/${rollout.spec.targetRef.name}`);
      if (other !== undefined && other !== app.key) {
        throw new AviaryError(
          ErrorCode.Refused,
          `Deployment ${ref.namespace}/${rollout.spec.targetRef.name} is already the target of Rollout ${other}`,
        );
      }
      const data: RolloutSpecAppliedJson = {
        rollout: ref,
        spec: JSON.parse(JSON.stringify(rollout)),
        specHash,
        actor: actor.name,
      };
      await this.appendToApp(
        app,
        [
          {
            id: `${applicationStreamId(ref)}/spec/${specHash}/${app.version}`,
            type: 'RolloutSpecApplied',
            data,
          },
        ],
        actor.name,
      );
      this.setSpec(app, rollout, specHash);
      this.log.info({ application: app.key, specHash, actor: actor.name }, 'rollout spec applied');
      // A revision already seen in the fleet may be released at once.
      for (const entry of this.fleetEntriesOf(app)) {
        if (entry.revisionSeen !== undefined) await this.onRevisionSeen(app, entry.revisionSeen);
      }
      return { application: ref, specHash, changed: true, notes };
    });
  }

  async operatorAction(input: OperatorActionInput, actor: Actor): Promise<{ releaseId: string }> {
    const app = this.requireAppOfRelease(input.releaseId);
    return this.enqueue(app, async () => {
      const release = this.actors.get(input.releaseId);
      if (release === undefined) {
        throw new AviaryError(ErrorCode.NotFound, `release ${input.releaseId} not found`);
      }
      if (release.finished) {
        throw new AviaryError(
          ErrorCode.Refused,
          `release ${input.releaseId} has finished${input.action === 'OPERATOR_ACTION_RETRY' ? ': retry starts a new release (POST …/retry)' : ''}`,
        );
      }
      const cluster = input.cluster ?? '';
      if (cluster !== '' && release.state.canaries[cluster] === undefined) {
        throw new AviaryError(
          ErrorCode.NotFound,
          `cluster ${cluster} is not in release ${input.releaseId}`,
        );
      }
      await this.decide(
        app,
        release,
        {
          type: 'OperatorAction',
          data: {
            actor: actor.name,
            action: input.action,
            ...(input.reason ? { reason: input.reason } : {}),
            ...(cluster ? { cluster } : {}),
          },
        },
        `${input.releaseId}/op/${randomUUID()}`,
        actor.name,
      );
      return { releaseId: input.releaseId };
    });
  }

  async retryRelease(
    releaseId: string,
    actor: Actor,
    reason?: string,
  ): Promise<{ releaseId: string }> {
    const app = this.requireAppOfRelease(releaseId);
    return this.enqueue(app, async () => {
      const record = app.releases.find((r) => r.releaseId === releaseId);
      if (record === undefined)
        throw new AviaryError(ErrorCode.NotFound, `release ${releaseId} not found`);
      if (!record.finished) {
        throw new AviaryError(
          ErrorCode.Refused,
          `release ${releaseId} is still running: retry its failed clusters with the retry action`,
        );
      }
      const past =
        this.actors.get(releaseId) ??
        (await ReleaseActor.load(
          { store: this.options.store, namespace: this.options.namespace },
          releaseId,
        ));
      if (past !== undefined && !past.state.halted) {
        throw new AviaryError(
          ErrorCode.Refused,
          `release ${releaseId} succeeded: there is nothing to retry`,
        );
      }
      const active = this.activeActor(app);
      if (active !== undefined) {
        throw new AviaryError(
          ErrorCode.Refused,
          `release ${active.releaseId} of ${app.key} is running: one release at a time`,
        );
      }
      const created = await this.createRelease(app, record.revisionId, {
        reason: 'retry',
        actor: actor.name,
        cluster: '',
        retryOf: releaseId,
        ...(reason ? { note: reason } : {}),
      });
      return { releaseId: created.releaseId };
    });
  }

  async setGate(
    application: ApplicationRef,
    gate: string,
    open: boolean,
    actor: Actor,
    reason?: string,
  ): Promise<void> {
    const app = this.apps.get(appKey(application));
    if (app?.rollout === undefined) {
      throw new AviaryError(ErrorCode.NotFound, `application ${appKey(application)} not found`);
    }
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(gate)) {
      throw new ValidationError('invalid gate', [
        { path: 'gate', message: 'must be a DNS label (lower-case letters, digits, -)' },
      ]);
    }
    await this.enqueue(app, async () => {
      const data: GateChangedJson = {
        gate,
        open,
        actor: actor.name,
        ...(reason ? { reason } : {}),
      };
      await this.appendToApp(
        app,
        [
          {
            id: `${applicationStreamId(application)}/gate/${randomUUID()}`,
            type: 'GateChanged',
            data,
          },
        ],
        actor.name,
      );
      app.gates.set(gate, open);
    });
  }

  gateOpen(application: ApplicationRef, gate: string): boolean {
    return this.apps.get(appKey(application))?.gates.get(gate) === true;
  }

  // -------------------------------------------------------------------------------------------
  // Releases

  private async onRevisionSeen(app: AppState, observation: ObservationJson): Promise<void> {
    const seen = observation.revisionSeen;
    const revisionId = seen?.revision?.id ?? '';
    const cluster = observation.cluster ?? '';
    if (revisionId === '' || app.rollout === undefined) return;
    const active = this.activeActor(app);
    if (active !== undefined) {
      if (active.context.revisionId === revisionId) {
        await this.observeIn(app, active, observation);
      } else if (!this.primaryRuns(cluster, app, revisionId)) {
        if (active.state.halted) {
          app.pending = { revisionId, cluster };
          this.log.info(
            { application: app.key, releaseId: active.releaseId, revision: revisionId, cluster },
            'a newer revision waits for the halted release to end',
          );
          return;
        }
        // Supersession: `loadOrCreate` stops the running release before the new one starts.
        await this.releaseRevisionSeen(app, revisionId, cluster, observation);
      }
      return;
    }
    const latest = app.releases.at(-1);
    if (latest?.revisionId === revisionId) return;
    if (this.primaryRuns(cluster, app, revisionId)) return;
    await this.releaseRevisionSeen(app, revisionId, cluster, observation);
  }

  /** Creates the release of a revision an agent saw, and decides that observation in it. */
  private async releaseRevisionSeen(
    app: AppState,
    revisionId: string,
    cluster: string,
    observation: ObservationJson,
  ): Promise<void> {
    const created = await this.createRelease(app, revisionId, {
      reason: 'revision-seen',
      actor: ORCHESTRATOR_ACTOR,
      cluster,
    });
    await this.observeIn(app, created, observation);
  }

  /** Decides an agent's observation in a release (idempotent by the observation's id). */
  private async observeIn(
    app: AppState,
    actor: ReleaseActor,
    observation: ObservationJson,
  ): Promise<void> {
    await this.decide(
      app,
      actor,
      { type: 'Observe', data: { observation } },
      observationId(actor, observation),
      `agent:${observation.cluster ?? ''}`,
    );
  }

  private primaryRuns(cluster: string, app: AppState, revisionId: string): boolean {
    const entry = this.fleet.get(fleetKey(cluster, app));
    return entry?.primary?.workloadReadiness?.revisionId === revisionId;
  }

  private async createRelease(
    app: AppState,
    revisionId: string,
    why: { reason: string; actor: string; cluster: string; retryOf?: string; note?: string },
  ): Promise<ReleaseActor> {
    const rollout = app.rollout;
    if (rollout === undefined) {
      throw new AviaryError(ErrorCode.NotFound, `application ${app.key} has no spec`);
    }
    const releaseId = releaseIdOf(app.ref, app.releases.length + 1);
    const created: ReleaseCreatedJson = {
      releaseId,
      revision: { id: revisionId },
      // The operator's own words follow the kind of reason: `retry: fixed the threshold`.
      reason: why.note ? `${why.reason}: ${why.note}` : why.reason,
      actor: why.actor,
      ...(why.cluster ? { cluster: why.cluster } : {}),
      ...(why.retryOf ? { retryOfReleaseId: why.retryOf } : {}),
      ...(app.specHash ? { specHash: app.specHash } : {}),
    };
    await this.appendToApp(
      app,
      [{ id: `${releaseStreamId(releaseId)}/created`, type: 'ReleaseCreated', data: created }],
      why.actor,
    );
    const record = { releaseId, revisionId, finished: false };
    app.releases.push(record);
    if (app.pending?.revisionId === revisionId) delete app.pending;
    this.log.info(
      {
        application: app.key,
        releaseId,
        revision: revisionId,
        reason: why.reason,
        cluster: why.cluster || undefined,
      },
      'release created',
    );
    return this.loadOrCreate(app, record);
  }

  /** The release's actor: loaded from its stream, or its stream created (after `ReleaseCreated`). */
  private async loadOrCreate(app: AppState, record: ReleaseRecord): Promise<ReleaseActor> {
    const deps = {
      store: this.options.store,
      namespace: this.options.namespace,
      ...(this.options.snapshots ? { snapshots: this.options.snapshots } : {}),
      ...(this.options.snapshotEvery ? { snapshotEvery: this.options.snapshotEvery } : {}),
      onSnapshotError: (error: unknown, releaseId: string) =>
        this.log.warn({ err: error, releaseId }, 'saving a release snapshot failed'),
    };
    let actor = await ReleaseActor.load(deps, record.releaseId);
    let created = false;
    if (actor === undefined) {
      const rollout = app.rollout;
      if (rollout === undefined)
        throw new AviaryError(ErrorCode.NotFound, `application ${app.key} has no spec`);
      const superseded = await this.supersedeRunning(app, record);
      const context: ReleaseContext = {
        releaseId: record.releaseId,
        // A spec applied before a field existed gets its default (e.g. resultTimeout) for a new
        // release; running releases keep the spec their ReleaseStarted recorded.
        rollout: withCurrentDefaults(rollout),
        revisionId: record.revisionId,
        ...(superseded !== undefined ? { supersededReleaseId: superseded } : {}),
      };
      const heartbeats = [...this.clusters.values()]
        .flatMap((c) => (c.heartbeat ? [c.heartbeat] : []))
        .sort((a, b) => (a.cluster ?? '').localeCompare(b.cluster ?? ''));
      actor = await ReleaseActor.create(deps, context, heartbeats, {
        correlationId: record.releaseId,
        actor: ORCHESTRATOR_ACTOR,
      });
      created = true;
    }
    this.actors.set(record.releaseId, actor);
    if (created) {
      // What the agents reported before the release existed: its canaries start from it.
      for (const cluster of Object.keys(actor.state.canaries)) {
        await this.replayStored(app, actor, cluster);
      }
    }
    if (this.running && !actor.finished) this.schedule(actor, this.nowMs());
    return actor;
  }

  /**
   * Before a new release's stream is created: the application's running release (another one)
   * is superseded by it, unless it is halted (it winds down by itself). Also after a restart
   * between `ReleaseCreated` and the new stream. Returns the superseded release's id.
   */
  private async supersedeRunning(
    app: AppState,
    record: ReleaseRecord,
  ): Promise<string | undefined> {
    const running = this.activeActor(app);
    if (running === undefined || running.releaseId === record.releaseId) return undefined;
    if (running.state.halted) return undefined;
    await this.decide(
      app,
      running,
      { type: 'Supersede', data: { releaseId: record.releaseId, revisionId: record.revisionId } },
      `${running.releaseId}/superseded-by/${record.releaseId}`,
      ORCHESTRATOR_ACTOR,
    );
    this.log.info(
      { application: app.key, releaseId: running.releaseId, by: record.releaseId },
      'release superseded by a newer revision',
    );
    return running.releaseId;
  }

  /** The latest primary and canary readiness and revision seen of `cluster`, handed to `actor`. */
  private async replayStored(app: AppState, actor: ReleaseActor, cluster: string): Promise<void> {
    const entry = this.fleet.get(fleetKey(cluster, app));
    for (const observation of [entry?.primary, entry?.canary, entry?.revisionSeen]) {
      if (observation === undefined || actor.finished) continue;
      if (
        observation.revisionSeen &&
        observation.revisionSeen.revision?.id !== actor.context.revisionId
      )
        continue;
      await this.observeIn(app, actor, observation);
    }
  }

  /**
   * A heartbeat that registered a cluster or changed it goes to every active release: a release
   * whose wave selects a cluster it has not planned lets it join (the decider decides), and the
   * cluster's stored observations follow.
   */
  private async offerCluster(observation: ObservationJson): Promise<void> {
    const cluster = observation.cluster ?? '';
    for (const app of this.apps.values()) {
      const actor = this.activeActor(app);
      if (actor === undefined || actor.state.canaries[cluster] !== undefined) continue;
      await this.enqueue(app, async () => {
        if (actor.finished || actor.state.canaries[cluster] !== undefined) return;
        await this.observeIn(app, actor, observation);
        if (actor.state.canaries[cluster] !== undefined) {
          this.log.info(
            { application: app.key, releaseId: actor.releaseId, cluster },
            'cluster joined',
          );
          await this.replayStored(app, actor, cluster);
        }
      });
    }
  }

  /** Decides one command for a release; refusals of the decider become REFUSED. */
  private async decide(
    app: AppState,
    actor: ReleaseActor,
    command: ReleaseCommand,
    inputId: string,
    who: string,
  ): Promise<void> {
    const metadata: EventMetadata = {
      correlationId: actor.releaseId,
      causationId: inputId,
      actor: who,
    };
    try {
      await actor.handle(command, inputId, metadata);
    } catch (error) {
      if (
        error instanceof AviaryError &&
        DECIDER_REFUSAL.has(error.code) &&
        !(error instanceof ValidationError)
      ) {
        throw new AviaryError(ErrorCode.Refused, error.message, { cause: error });
      }
      throw error;
    }
    if (actor.finished) this.onFinished(app, actor);
  }

  private onFinished(app: AppState, actor: ReleaseActor): void {
    const record = app.releases.find((r) => r.releaseId === actor.releaseId);
    if (record === undefined || record.finished) return;
    record.finished = true;
    this.unschedule(actor.releaseId);
    this.log.info({ application: app.key, releaseId: actor.releaseId }, 'release finished');
    const pending = app.pending;
    if (pending !== undefined && pending.revisionId !== actor.context.revisionId) {
      delete app.pending;
      void this.enqueue(app, async () => {
        if (this.activeActor(app) !== undefined) return;
        const next = await this.createRelease(app, pending.revisionId, {
          reason: 'revision-seen',
          actor: ORCHESTRATOR_ACTOR,
          cluster: pending.cluster,
        });
        const seen = this.fleet.get(fleetKey(pending.cluster, app))?.revisionSeen;
        if (seen !== undefined && seen.revisionSeen?.revision?.id === pending.revisionId) {
          await this.observeIn(app, next, seen);
        }
      }).catch((error) =>
        this.log.error(
          { err: error, application: app.key },
          'starting the waiting revision failed',
        ),
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Time

  private schedule(actor: ReleaseActor, dueMs: number): void {
    this.unschedule(actor.releaseId);
    if (!this.running) return;
    const delay = Math.max(0, dueMs - this.nowMs());
    const timer = setTimeout(() => this.tick(actor.releaseId, dueMs), delay);
    this.timers.set(actor.releaseId, { timer, dueMs });
  }

  private unschedule(releaseId: string): void {
    const entry = this.timers.get(releaseId);
    if (entry !== undefined) clearTimeout(entry.timer);
    this.timers.delete(releaseId);
  }

  private tick(releaseId: string, dueMs: number): void {
    this.timers.delete(releaseId);
    const actor = this.actors.get(releaseId);
    const app = this.appOfRelease(releaseId);
    if (actor === undefined || app === undefined || actor.finished || !this.running) return;
    const intervalMs = actor.context.rollout.spec.analysis.intervalMs;
    void this.enqueue(app, async () => {
      if (actor.finished) return;
      // The tick carries the time it was due, not the moment its timer fired: the decider's
      // next check is due at `now + interval`, so a tick stamped with timer jitter could find
      // the next one "not due yet" by a millisecond and lose a whole interval.
      const nowMs = Math.max(dueMs, actor.state.lastTickMs);
      await this.decide(
        app,
        actor,
        { type: 'Tick', data: { nowMs } },
        `${releaseId}/tick/${nowMs}`,
        ORCHESTRATOR_ACTOR,
      );
      this.options.onTick?.(this.nowMs() - dueMs, releaseId);
    })
      .catch((error) => {
        this.log.error({ err: error, releaseId }, 'tick failed; trying again at the next one');
      })
      .finally(() => {
        if (actor.finished || !this.running) return;
        this.schedule(actor, nextGridTick(Math.max(dueMs, this.nowMs()), intervalMs));
      });
  }

  private renewLeases(): void {
    const now = this.nowMs();
    const working = new Set<string>();
    for (const actor of this.actors.values()) {
      if (actor.finished) continue;
      for (const cluster of actor.activeClusters()) working.add(cluster);
    }
    for (const cluster of working) {
      const state = this.cluster(cluster);
      const every = Math.max(500, Math.floor(state.leaseMs / 3));
      if (now - state.lastRenewalMs < every) continue;
      state.lastRenewalMs = now;
      const commandId = `${cluster}:renew-lease:${now}`;
      const payload = new TextEncoder().encode(
        JSON.stringify({ commandId, cluster, renewLease: {} }),
      );
      this.options
        .publishCommand(commandSubject(cluster, this.options.namespace), payload, commandId)
        .catch((error) => {
          state.lastRenewalMs = 0;
          this.log.warn({ err: error, cluster }, 'renewing an agent’s lease failed; trying again');
        });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Clusters

  private cluster(name: string): ClusterState {
    let state = this.clusters.get(name);
    if (state === undefined) {
      state = {
        recordedAtMs: 0,
        leaseMs: this.options.defaultLeaseMs ?? 300_000,
        lastRenewalMs: 0,
        queue: Promise.resolve(),
      };
      this.clusters.set(name, state);
    }
    return state;
  }

  /** Keeps the latest heartbeat, revision seen and readiness per cluster (and workload). */
  private remember(observation: ObservationJson, nowMs: number): void {
    const cluster = observation.cluster ?? '';
    if (observation.heartbeat !== undefined) {
      const state = this.cluster(cluster);
      state.heartbeat = observation;
      state.recordedAtMs = nowMs;
      if (observation.heartbeat.leaseMs) state.leaseMs = observation.heartbeat.leaseMs;
      return;
    }
    const workload = observation.revisionSeen?.workload ?? observation.workloadReadiness?.workload;
    if (workload === undefined) return;
    const key = `${cluster}|${workload.namespace ?? ''}|${workload.name ?? ''}`;
    const entry = this.fleet.get(key) ?? {};
    if (observation.revisionSeen !== undefined) entry.revisionSeen = observation;
    else if (observation.workloadReadiness?.role === 'DEPLOYMENT_ROLE_PRIMARY')
      entry.primary = observation;
    else if (observation.workloadReadiness?.role === 'DEPLOYMENT_ROLE_CANARY')
      entry.canary = observation;
    this.fleet.set(key, entry);
  }

  private async recordHeartbeat(observation: ObservationJson): Promise<void> {
    const cluster = observation.cluster ?? '';
    const state = this.cluster(cluster);
    const now = this.nowMs();
    const before = state.heartbeat?.heartbeat;
    const changed =
      before === undefined || canonicalJson(before) !== canonicalJson(observation.heartbeat ?? {});
    const stale = now - state.recordedAtMs >= (this.options.heartbeatRecordIntervalMs ?? 60_000);
    if (!changed && !stale) {
      state.heartbeat = observation;
      return;
    }
    await this.recordForCluster(observation);
    if (changed) {
      this.log.info({ cluster, labels: observation.heartbeat?.labels }, 'cluster registered');
      await this.offerCluster(observation);
    }
  }

  private async recordForCluster(observation: ObservationJson): Promise<void> {
    const cluster = observation.cluster ?? '';
    const state = this.cluster(cluster);
    const run = state.queue.then(async () => {
      await this.options.store.append(
        clusterStreamId(cluster),
        [
          {
            id: `${clusterStreamId(cluster)}/${observation.observationId ?? ''}`,
            type: 'ObservationRecorded',
            data: { observation },
            metadata: { actor: `agent:${cluster}` },
          },
        ],
        { expectedVersion: 'any' },
      );
      this.remember(observation, this.nowMs());
    });
    state.queue = run.catch(() => undefined);
    await run;
  }

  private fleetEntriesOf(app: AppState): FleetEntry[] {
    const target = app.rollout?.spec.targetRef.name ?? '';
    const suffix = `|${app.ref.namespace}|${target}`;
    return [...this.fleet.entries()].filter(([k]) => k.endsWith(suffix)).map(([, v]) => v);
  }

  // -------------------------------------------------------------------------------------------
  // Applications

  private app(ref: ApplicationRef): AppState {
    const key = appKey(ref);
    let app = this.apps.get(key);
    if (app === undefined) {
      app = {
        ref: { namespace: ref.namespace, name: ref.name },
        key,
        version: 0n,
        releases: [],
        gates: new Map(),
        queue: Promise.resolve(),
      };
      this.apps.set(key, app);
    }
    return app;
  }

  private appOfStream(streamId: string): AppState | undefined {
    const rest = streamId.slice('rollout-'.length);
    const dot = rest.indexOf('.');
    if (dot < 0) return undefined;
    return this.apps.get(`${rest.slice(0, dot)}/${rest.slice(dot + 1)}`);
  }

  private appOfRelease(releaseId: string): AppState | undefined {
    const ref = applicationOfRelease(releaseId);
    return ref === undefined ? undefined : this.apps.get(appKey(ref));
  }

  private requireAppOfRelease(releaseId: string): AppState {
    const app = this.appOfRelease(releaseId);
    if (app === undefined || !app.releases.some((r) => r.releaseId === releaseId)) {
      throw new AviaryError(ErrorCode.NotFound, `release ${releaseId} not found`);
    }
    return app;
  }

  private activeActor(app: AppState): ReleaseActor | undefined {
    for (const record of app.releases) {
      if (record.finished) continue;
      const actor = this.actors.get(record.releaseId);
      if (actor !== undefined && !actor.finished) return actor;
    }
    return undefined;
  }

  private setSpec(app: AppState, rollout: Rollout, specHash: string): void {
    if (app.rollout !== undefined) {
      this.targets.delete(`${app.ref.namespace}/${app.rollout.spec.targetRef.name}`);
    }
    app.rollout = rollout;
    app.specHash = specHash;
    this.targets.set(`${app.ref.namespace}/${rollout.spec.targetRef.name}`, app.key);
  }

  private async appendToApp(
    app: AppState,
    events: { id: string; type: string; data: unknown }[],
    actor: string,
  ): Promise<void> {
    try {
      const result = await this.options.store.append(
        applicationStreamId(app.ref),
        events.map((e) => ({ ...e, metadata: { actor } })),
        { expectedVersion: app.version === 0n ? 'no_stream' : app.version },
      );
      app.version = result.nextVersion;
    } catch (error) {
      if (error instanceof ConcurrencyError) {
        throw new AviaryError(
          ErrorCode.Unavailable,
          `application ${app.key} was changed by another orchestrator: this one no longer leads`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Runs `work` after everything queued for the application. */
  private enqueue<T>(app: AppState, work: () => Promise<T>): Promise<T> {
    const run = app.queue.then(work);
    app.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Ticks fall on the interval's grid (multiples of `intervalMs` since the epoch), a few
 * milliseconds after it: the analysis window `[now − interval, now)` a tick asks for then ends just
 * after the grid point the analyzer aligns windows to, so the window judged is the one that just
 * closed (docs/orchestrator.md, "Time").
 */
export const TICK_GRID_OFFSET_MS = 5;

export function nextGridTick(afterMs: number, intervalMs: number): number {
  return (
    (Math.floor((afterMs - TICK_GRID_OFFSET_MS) / intervalMs) + 1) * intervalMs +
    TICK_GRID_OFFSET_MS
  );
}

/** Parses proto JSON strictly and returns its canonical JSON; VALIDATION when it does not parse. */
function canonical<T>(schema: DescMessage, json: unknown, what: string): T {
  try {
    return toJson(schema, fromJson(schema, json as JsonValue)) as T;
  } catch (error) {
    throw new ValidationError(`invalid ${what}`, [{ path: '', message: (error as Error).message }]);
  }
}

function fleetKey(cluster: string, app: AppState): string {
  return `${cluster}|${app.ref.namespace}|${app.rollout?.spec.targetRef.name ?? ''}`;
}

function observationId(actor: ReleaseActor, observation: ObservationJson): string {
  return `${actor.releaseId}/obs/${observation.observationId ?? ''}`;
}

/** A Rollout, or a Flagger Canary (with its MetricTemplates) imported into one. */
function parseSpec(document: string): { rollout: Rollout; notes: string[] } {
  if (
    /^\s*kind:\s*["']?Canary["']?\s*$/m.test(document) ||
    /"kind"\s*:\s*"Canary"/.test(document)
  ) {
    const imported = importFlaggerCanary(document);
    return {
      rollout: imported.rollout,
      notes: imported.notes.map((n) => `${n.path}: ${n.message}`),
    };
  }
  return { rollout: parseRollout(document), notes: [] };
}
