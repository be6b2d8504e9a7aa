/**
 * The orchestrator's own Prometheus metrics (docs/observability.md), served by the platform's
 * `/metrics` listener (`AVIARY_METRICS_PORT`).
 *
 * - Counted as they happen, through decorators wired in `main.ts`: events appended by type (the
 *   decisions; `instrumentEventStore`) and webhook calls by type and outcome
 *   (`instrumentWebhookCaller`).
 * - Read at each scrape (`watchOrchestrator`): active releases by status and their canaries by
 *   phase (the projections), the outbox depth (the event log), and the pending and unacknowledged
 *   messages of the ingest's durable NATS consumers (JetStream's `num_pending`: its lag). A source
 *   that cannot be read at a scrape leaves its gauge empty and is logged at debug; the scrape
 *   still answers.
 */
import type { EventStore } from '@aviary/event-store';
import { type MessagingNamespace, type NatsClient, streamNames } from '@aviary/messaging';
import {
  Counter,
  Gauge,
  type Logger,
  metricsOf,
  metricsRegistry,
  type Registry,
} from '@aviary/platform';
import { sql } from 'kysely';
import type { WebhookCaller } from './ports.ts';
import type { ProjectionDb } from './projections/schema.ts';

/** What the scrape-time gauges read; set by `watchOrchestrator`. */
export interface OrchestratorSources {
  readonly projections?: ProjectionDb;
  readonly store?: Pick<EventStore, 'outbox'>;
  readonly nats?: Pick<NatsClient, 'jetstreamManager'>;
  readonly namespace?: MessagingNamespace;
  /** The ingest's durable consumer prefix; `orchestrator` by default (see `ingest.ts`). */
  readonly durablePrefix?: string;
  readonly logger?: Pick<Logger, 'debug'>;
}

export function orchestratorMetrics(registry: Registry = metricsRegistry) {
  return metricsOf(registry, 'aviary_orchestrator', (r) => {
    const state: { sources: OrchestratorSources } = { sources: {} };
    const failed = (what: string, error: unknown) =>
      state.sources.logger?.debug({ err: error, what }, 'a metric could not be read');
    return {
      state,
      eventsAppended: new Counter({
        name: 'aviary_orchestrator_events_appended_total',
        help: 'Events the orchestrator appended to the log (its decisions and recorded inputs), by type.',
        labelNames: ['type'] as const,
        registers: [r],
      }),
      webhookCalls: new Counter({
        name: 'aviary_orchestrator_webhook_calls_total',
        help: 'Webhook calls made, by webhook type and outcome.',
        labelNames: ['type', 'outcome'] as const,
        registers: [r],
      }),
      releases: new Gauge({
        name: 'aviary_orchestrator_releases',
        help: 'Releases not finished, by status (running, paused, halted).',
        labelNames: ['status'] as const,
        registers: [r],
        async collect() {
          this.reset();
          const db = state.sources.projections;
          if (db === undefined) return;
          try {
            const rows = await db
              .selectFrom('proj_releases')
              .select(['status', sql<string>`count(*)`.as('n')])
              .where('status', '<>', 'finished')
              .groupBy('status')
              .execute();
            for (const row of rows) this.labels(row.status).set(Number(row.n));
          } catch (error) {
            failed('releases', error);
          }
        },
      }),
      canaries: new Gauge({
        name: 'aviary_orchestrator_canaries',
        help: 'Cluster canaries of the releases not finished, by phase.',
        labelNames: ['phase'] as const,
        registers: [r],
        async collect() {
          this.reset();
          const db = state.sources.projections;
          if (db === undefined) return;
          try {
            const rows = await db
              .selectFrom('proj_canaries as c')
              .innerJoin('proj_releases as r', 'r.release_id', 'c.release_id')
              .select(['c.phase', sql<string>`count(*)`.as('n')])
              .where('r.status', '<>', 'finished')
              .groupBy('c.phase')
              .execute();
            for (const row of rows) this.labels(row.phase).set(Number(row.n));
          } catch (error) {
            failed('canaries', error);
          }
        },
      }),
      outboxDepth: new Gauge({
        name: 'aviary_orchestrator_outbox_depth',
        help: 'Outbox messages decided but not yet published to NATS.',
        registers: [r],
        async collect() {
          this.reset();
          const store = state.sources.store;
          if (store === undefined) return;
          try {
            this.set(await store.outbox.depth());
          } catch (error) {
            failed('outbox depth', error);
          }
        },
      }),
      consumerPending: new Gauge({
        name: 'aviary_orchestrator_nats_consumer_pending',
        help: 'Messages of its durable NATS consumers not yet delivered to the orchestrator (lag).',
        labelNames: ['stream', 'consumer'] as const,
        registers: [r],
        async collect() {
          await collectConsumers(state.sources, failed, (stream, consumer, info) =>
            this.labels(stream, consumer).set(info.num_pending),
          ).then((ok) => ok || this.reset());
        },
      }),
      consumerAckPending: new Gauge({
        name: 'aviary_orchestrator_nats_consumer_ack_pending',
        help: 'Messages delivered to the orchestrator and not yet acknowledged (being decided).',
        labelNames: ['stream', 'consumer'] as const,
        registers: [r],
        async collect() {
          await collectConsumers(state.sources, failed, (stream, consumer, info) =>
            this.labels(stream, consumer).set(info.num_ack_pending),
          ).then((ok) => ok || this.reset());
        },
      }),
    };
  });
}

/** Reads the ingest consumers' info; false when there is nothing to read or it failed. */
async function collectConsumers(
  sources: OrchestratorSources,
  failed: (what: string, error: unknown) => void,
  set: (
    stream: string,
    consumer: string,
    info: { num_pending: number; num_ack_pending: number },
  ) => void,
): Promise<boolean> {
  const { nats, namespace } = sources;
  if (nats === undefined || namespace === undefined) return false;
  const prefix = sources.durablePrefix ?? 'orchestrator';
  const names = streamNames(namespace);
  try {
    const jsm = await nats.jetstreamManager();
    for (const [stream, consumer] of [
      [names.observations, `${prefix}-observations`],
      [names.analysis, `${prefix}-verdicts`],
    ] as const) {
      const info = await jsm.consumers.info(stream, consumer);
      set(stream, consumer, info);
    }
    return true;
  } catch (error) {
    failed('nats consumers', error);
    return false;
  }
}

/** Points the scrape-time gauges at this orchestrator's log, projections and NATS. */
export function watchOrchestrator(
  sources: OrchestratorSources,
  registry: Registry = metricsRegistry,
): void {
  orchestratorMetrics(registry).state.sources = sources;
}

/** `store`, counting every event it appends (duplicates of an earlier append excluded). */
export function instrumentEventStore<S extends Pick<EventStore, 'append'>>(
  store: S,
  registry: Registry = metricsRegistry,
): S {
  const counter = orchestratorMetrics(registry).eventsAppended;
  const append: EventStore['append'] = async (streamId, events, options) => {
    const result = await store.append(streamId, events, options);
    if (!result.duplicate) for (const event of events) counter.labels(event.type).inc();
    return result;
  };
  return new Proxy(store, {
    get: (target, property) => {
      if (property === 'append') return append;
      const value: unknown = Reflect.get(target, property);
      // Methods run on the store itself (its private fields are not the proxy's).
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** `caller`, counting every call by its webhook type and outcome. */
export function instrumentWebhookCaller(
  caller: WebhookCaller,
  registry: Registry = metricsRegistry,
): WebhookCaller {
  const counter = orchestratorMetrics(registry).webhookCalls;
  return {
    async call(call, application, signal) {
      const result = await caller.call(call, application, signal);
      counter
        .labels(label(call.type, 'WEBHOOK_TYPE_'), label(result.outcome, 'WEBHOOK_OUTCOME_'))
        .inc();
      return result;
    },
  };
}

function label(value: string | undefined, prefix: string): string {
  return (value ?? 'unspecified').replace(prefix, '').toLowerCase();
}
