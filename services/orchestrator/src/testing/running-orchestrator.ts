/**
 * A real orchestrator in the test's process, for tests that talk to it from outside (the CLI's,
 * the dashboard's browser tests): the engine and the projections on an embedded PGlite log (a
 * fresh temporary directory, removed on stop, or in memory), the outbox relay onto an in-process
 * bus, the webhook dispatcher (for `aviary-gate:` gates), the HTTP API (`createApiServer`, with
 * the dashboard) on a free port, and a `SimulatedFleet` answering commands and analysis requests
 * at the message level, wired the way `dev.ts` and the engine's tests wire them. Revisions in
 * `faulty` fail every check.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutboxRelay } from '@aviary/event-store';
import { InProcessBus, messagingNamespace } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import type { AnalysisOutcomeJson, AnalysisVerdictJson } from '@aviary/proto';
import type { ApiToken } from '../api/auth.ts';
import { createApiServer } from '../api/server.ts';
import { Engine } from '../engine/engine.ts';
import { type EventLog, openEventLog } from '../event-log.ts';
import { jetStreamOutboxPublisher } from '../outbox-publisher.ts';
import type { ReadModel } from '../ports.ts';
import { createReadModel, Projector } from '../projections/index.ts';
import { SimulatedFleet } from '../simulation/simulated-fleet.ts';
import { HttpWebhookCaller } from '../webhooks/caller.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';

export interface RunningOrchestrator {
  /** The HTTP API's (and dashboard's) base URL. */
  readonly url: string;
  readonly log: EventLog;
  readonly engine: Engine;
  readonly fleet: SimulatedFleet;
  readonly readModel: ReadModel;
  readonly projector: Projector;
  /** Revisions whose checks fail (may be added to while it runs). */
  readonly faulty: Set<string>;
  /** What the simulated fleet failed to answer, unless `onFleetError` was given (a test expects none). */
  readonly errors: readonly unknown[];
  stop(): Promise<void>;
}

export interface RunningOrchestratorOptions {
  readonly tokens: readonly ApiToken[];
  readonly clusters: readonly { readonly name: string; readonly labels: Record<string, string> }[];
  /** Where the log lives: a fresh temporary directory removed on stop (default), or memory. */
  readonly storage?: 'temp-dir' | 'memory';
  /** The outbox relay's and the webhook dispatcher's poll interval; default 20 ms. */
  readonly pollIntervalMs?: number;
  /**
   * What the simulated analyzer's verdicts become before the engine records them (e.g. given
   * evidence); default unchanged.
   */
  readonly mapVerdict?: (verdict: AnalysisVerdictJson) => AnalysisVerdictJson;
  /**
   * Called with what the simulated fleet failed to answer before `stop` (e.g. to throw it);
   * default: collected in `errors`.
   */
  readonly onFleetError?: (error: unknown) => void;
}

export async function startRunningOrchestrator(
  options: RunningOrchestratorOptions,
): Promise<RunningOrchestrator> {
  const logger = createLogger({ service: 'test-orchestrator', level: 'silent' });
  const pollIntervalMs = options.pollIntervalMs ?? 20;
  const tempDir =
    options.storage === 'memory' ? undefined : await mkdtemp(join(tmpdir(), 'aviary-test-'));
  const log = await openEventLog({ dataDir: tempDir ?? 'memory://', pgPoolSize: 1 }, logger);
  const { store } = log;
  const projector = new Projector({ store, db: log.projections, logger });
  projector.start();

  const faulty = new Set<string>();
  const errors: unknown[] = [];
  const onFleetError = options.onFleetError ?? ((error: unknown) => errors.push(error));
  const mapVerdict = options.mapVerdict ?? ((verdict: AnalysisVerdictJson) => verdict);
  const namespace = messagingNamespace();
  const bus = new InProcessBus();
  let engine: Engine | undefined;
  let stopping = false;
  const fleet = new SimulatedFleet({
    namespace,
    clusters: options.clusters,
    observe: (observation) => engine?.ingestObservation(observation) ?? Promise.resolve(),
    verdict: (verdict) => engine?.recordVerdict(mapVerdict(verdict)) ?? Promise.resolve(),
    behaviour: (revision): AnalysisOutcomeJson =>
      faulty.has(revision) ? 'ANALYSIS_OUTCOME_FAILED' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
  });
  bus.subscribe(`${namespace.subjectRoot}.>`, (message) => {
    // Answers arrive asynchronously, as over NATS.
    setImmediate(() => {
      fleet.deliver(message).catch((error: unknown) => {
        if (!stopping) onFleetError(error);
      });
    });
  });
  const running = new Engine({
    store,
    namespace,
    logger,
    publishCommand: async (subject, payload, msgId) => {
      await bus.publish(subject, payload, { msgId });
    },
  });
  engine = running;
  await running.recover();
  const relay = new OutboxRelay({
    outbox: store.outbox,
    publisher: jetStreamOutboxPublisher(bus),
    logger,
    pollIntervalMs,
  });
  relay.start();
  running.start();
  const dispatcher = new WebhookDispatcher({
    store,
    caller: new HttpWebhookCaller({ gateOpen: (app, gate) => running.gateOpen(app, gate) }),
    recordWebhookResult: (releaseId, result) => running.recordWebhookResult(releaseId, result),
    pollIntervalMs,
  });
  dispatcher.start();
  const readModel = createReadModel(log.projections);
  const api = createApiServer({
    operations: running,
    readModel,
    store,
    tokens: options.tokens,
    logger,
    ready: () => projector.caughtUp,
  });
  const { url } = await api.listen(0);
  return {
    url,
    log,
    engine: running,
    fleet,
    readModel,
    projector,
    faulty,
    errors,
    async stop() {
      stopping = true;
      await api.close();
      await dispatcher.stop();
      await relay.stop();
      await running.stop();
      await projector.stop();
      await log.close();
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    },
  };
}
