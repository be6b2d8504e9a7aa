/**
 * A real orchestrator in the test's process, for the dashboard's browser tests: the engine and
 * the projections on an embedded PGlite log, the outbox relay onto an in-process bus, the webhook
 * dispatcher (manual gates), the HTTP API with the dashboard, and a `SimulatedFleet` answering
 * commands and analysis requests at the message level (wired the way `dev.ts` wires them).
 *
 * The simulated analyzer only chooses outcomes; this fixture gives each verdict the evidence the
 * real analyzer records (`Evidence` of `aviary.analysis.v1`): for `request-success-rate` the
 * canary's and the primary's request counts, the success rate and its 95 % Wilson bounds; for
 * `request-duration` a p99 in ms with the counts of slow requests. The values are made up but
 * consistent with the outcome, and recorded in the log like any verdict: they are what the
 * dashboard's charts must draw.
 */
import { OutboxRelay } from '@aviary/event-store';
import { InProcessBus, messagingNamespace } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import type { AnalysisOutcomeJson, AnalysisVerdictJson, EvidenceJson } from '@aviary/proto';
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

export interface TestOrchestrator {
  /** The HTTP API's (and dashboard's) base URL. */
  readonly url: string;
  readonly log: EventLog;
  readonly engine: Engine;
  readonly fleet: SimulatedFleet;
  readonly readModel: ReadModel;
  readonly projector: Projector;
  /** Revisions whose checks fail (may be added to while it runs). */
  readonly faulty: Set<string>;
  stop(): Promise<void>;
}

export interface TestOrchestratorOptions {
  readonly tokens: readonly ApiToken[];
  readonly clusters: readonly { readonly name: string; readonly labels: Record<string, string> }[];
}

/** z for a 95 % two-sided interval. */
const Z = 1.959964;

/** Wilson score interval of k successes out of n, in percent. */
function wilson(k: number, n: number): { lower: number; upper: number } {
  const p = k / n;
  const denominator = 1 + (Z * Z) / n;
  const center = (p + (Z * Z) / (2 * n)) / denominator;
  const half = (Z * Math.sqrt((p * (1 - p)) / n + (Z * Z) / (4 * n * n))) / denominator;
  return { lower: 100 * Math.max(0, center - half), upper: 100 * Math.min(1, center + half) };
}

/** Evidence consistent with `outcome`, varying with `n` (the how-many-th verdict). */
function evidenceFor(check: string, outcome: string | undefined, n: number): EvidenceJson {
  const end = Date.now();
  const window = {
    windowStart: new Date(end - 1000).toISOString(),
    windowEnd: new Date(end).toISOString(),
  };
  const failed = outcome === 'ANALYSIS_OUTCOME_FAILED';
  if (check === 'request-duration') {
    const total = 400 + 10 * (n % 7);
    return {
      value: failed ? 640 + (n % 5) * 10 : 180 + (n % 5) * 7,
      thresholdRange: { max: 500 },
      canary: { totalCount: String(total), badCount: String(failed ? 60 : n % 2) },
      primary: { totalCount: '4000', badCount: '6' },
      query: 'histogram_quantile(0.99, …)',
      ...window,
    };
  }
  const total = 400 + 10 * (n % 7);
  const bad = failed ? 40 + (n % 3) : n % 2;
  const bounds = wilson(total - bad, total);
  return {
    value: (100 * (total - bad)) / total,
    thresholdRange: { min: 99 },
    lowerBound: bounds.lower,
    upperBound: bounds.upper,
    canary: { totalCount: String(total), badCount: String(bad) },
    primary: { totalCount: '4000', badCount: String(4 + (n % 3)) },
    query: 'sum(rate(istio_requests_total{…}))',
    ...window,
  };
}

export async function startTestOrchestrator(
  options: TestOrchestratorOptions,
): Promise<TestOrchestrator> {
  const logger = createLogger({ service: 'dashboard-test', level: 'silent' });
  const faulty = new Set<string>();
  const log = await openEventLog({ pgPoolSize: 1, dataDir: 'memory://' }, logger);
  const projector = new Projector({ store: log.store, db: log.projections, logger });
  projector.start();
  const namespace = messagingNamespace();
  const bus = new InProcessBus();
  let engine: Engine | undefined;
  let verdicts = 0;
  let stopping = false;
  const fleet = new SimulatedFleet({
    namespace,
    clusters: options.clusters,
    observe: (observation) => engine?.ingestObservation(observation) ?? Promise.resolve(),
    verdict: (verdict: AnalysisVerdictJson) => {
      verdicts += 1;
      const evidence = evidenceFor(verdict.checkName ?? '', verdict.outcome, verdicts);
      return engine?.recordVerdict({ ...verdict, evidence }) ?? Promise.resolve();
    },
    behaviour: (revision): AnalysisOutcomeJson =>
      faulty.has(revision) ? 'ANALYSIS_OUTCOME_FAILED' : 'ANALYSIS_OUTCOME_SUCCESSFUL',
  });
  bus.subscribe(`${namespace.subjectRoot}.>`, (message) => {
    // Answers arrive asynchronously, as over NATS.
    setImmediate(() => {
      fleet.deliver(message).catch((error: unknown) => {
        if (!stopping) throw error;
      });
    });
  });
  const running = new Engine({
    store: log.store,
    namespace,
    logger,
    publishCommand: async (subject, payload, msgId) => {
      await bus.publish(subject, payload, { msgId });
    },
  });
  engine = running;
  await running.recover();
  const relay = new OutboxRelay({
    outbox: log.store.outbox,
    publisher: jetStreamOutboxPublisher(bus),
    logger,
    pollIntervalMs: 50,
  });
  relay.start();
  running.start();
  const dispatcher = new WebhookDispatcher({
    store: log.store,
    caller: new HttpWebhookCaller({ gateOpen: (app, gate) => running.gateOpen(app, gate) }),
    recordWebhookResult: (releaseId, result) => running.recordWebhookResult(releaseId, result),
    pollIntervalMs: 50,
  });
  dispatcher.start();
  const readModel = createReadModel(log.projections);
  const api = createApiServer({
    operations: running,
    readModel,
    store: log.store,
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
    async stop() {
      stopping = true;
      await api.close();
      await dispatcher.stop();
      await relay.stop();
      await running.stop();
      await projector.stop();
      await log.close();
    },
  };
}
