/**
 * A real orchestrator in the test's process, for the CLI to talk to: the engine and the
 * projections on an embedded PGlite log, the HTTP API (`createApiServer`) on a free port, the
 * webhook dispatcher (for `aviary-gate:` gates), and a `SimulatedFleet` answering the outbox on
 * an in-process bus, wired as `services/orchestrator/src/dev.ts` and the engine's tests wire
 * them. Revisions in `faulty` fail every check.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutboxRelay } from '@aviary/event-store';
import { InProcessBus, messagingNamespace } from '@aviary/messaging';
import { createApiServer } from '@aviary/orchestrator/src/api/index.ts';
import { Engine } from '@aviary/orchestrator/src/engine/engine.ts';
import { openEventLog } from '@aviary/orchestrator/src/event-log.ts';
import { jetStreamOutboxPublisher } from '@aviary/orchestrator/src/outbox-publisher.ts';
import { createReadModel, Projector } from '@aviary/orchestrator/src/projections/index.ts';
import { SimulatedFleet } from '@aviary/orchestrator/src/simulation/simulated-fleet.ts';
import { HttpWebhookCaller } from '@aviary/orchestrator/src/webhooks/caller.ts';
import { WebhookDispatcher } from '@aviary/orchestrator/src/webhooks/dispatcher.ts';
import { createLogger } from '@aviary/platform';
import type { AnalysisOutcomeJson } from '@aviary/proto';

export const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
} as const;

export const CLUSTERS = [
  { name: 'eu-1', labels: { region: 'eu' } },
  { name: 'eu-2', labels: { region: 'eu' } },
  { name: 'us-1', labels: { region: 'us' } },
];

export interface RunningOrchestrator {
  readonly url: string;
  readonly engine: Engine;
  readonly fleet: SimulatedFleet;
  /** Revisions whose checks fail. */
  readonly faulty: Set<string>;
  /** What the simulated fleet failed to answer (a test expects none). */
  readonly errors: readonly unknown[];
  stop(): Promise<void>;
}

export async function startOrchestrator(): Promise<RunningOrchestrator> {
  const logger = createLogger({ service: 'cli-test', level: 'silent' });
  const dataDir = await mkdtemp(join(tmpdir(), 'aviary-cli-test-'));
  const log = await openEventLog({ dataDir, pgPoolSize: 1 }, logger);
  const { store } = log;
  const projector = new Projector({ store, db: log.projections, logger });
  projector.start();

  const faulty = new Set<string>();
  const errors: unknown[] = [];
  const namespace = messagingNamespace();
  const bus = new InProcessBus();
  let engine: Engine | undefined;
  let stopping = false;
  const fleet = new SimulatedFleet({
    namespace,
    clusters: CLUSTERS,
    observe: (o) => engine?.ingestObservation(o) ?? Promise.resolve(),
    verdict: (v) => engine?.recordVerdict(v) ?? Promise.resolve(),
    behaviour: (revision): AnalysisOutcomeJson =>
      faulty.has(revision) ? 'ANALYSIS_OUTCOME_FAILED' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
  });
  // Answers arrive asynchronously, as over NATS.
  bus.subscribe(`${namespace.subjectRoot}.>`, (message) => {
    setImmediate(() => {
      fleet.deliver(message).catch((error: unknown) => {
        if (!stopping) errors.push(error);
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
    pollIntervalMs: 20,
  });
  relay.start();
  running.start();
  const dispatcher = new WebhookDispatcher({
    store,
    caller: new HttpWebhookCaller({ gateOpen: (app, gate) => running.gateOpen(app, gate) }),
    recordWebhookResult: (releaseId, result) => running.recordWebhookResult(releaseId, result),
    pollIntervalMs: 20,
  });
  dispatcher.start();
  const api = createApiServer({
    operations: running,
    readModel: createReadModel(log.projections),
    store,
    tokens: [
      { name: 'vera', role: 'viewer', token: TOKENS.viewer },
      { name: 'otto', role: 'operator', token: TOKENS.operator },
    ],
    logger,
    ready: () => projector.caughtUp,
  });
  const { url } = await api.listen(0);
  await fleet.heartbeats();
  return {
    url,
    engine: running,
    fleet,
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
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
