/**
 * Ingest: durable JetStream consumers for agent observations (`AVIARY_OBS`, every cluster) and
 * analysis verdicts (`AVIARY_ANALYSIS`, the result subject). Each message is decoded against its
 * proto schema and handed to the engine; it is acknowledged only once the engine has committed
 * its event (or found it already recorded: a duplicate is a no-op).
 *
 * - Malformed messages (not JSON; schema violations, which the engine finds) and inputs the engine
 *   refuses are logged and terminated: they can never succeed, and they must not block the stream.
 * - Anything else (the log unreachable, a lost leadership) is nak'ed with a growing delay and
 *   delivered again.
 * - Messages are handled concurrently up to `maxInFlight`; the engine serializes everything about
 *   one application, in the order the messages arrived.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  analysisResultSubject,
  consumeWithSpan,
  type MessagingNamespace,
  type NatsClient,
  streamNames,
  subjectFilters,
} from '@aviary/messaging';
import type { Logger } from '@aviary/platform';
import type { AnalysisVerdictJson, ObservationJson } from '@aviary/proto';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Engine } from './engine.ts';

export interface IngestOptions {
  readonly nats: NatsClient;
  readonly namespace: MessagingNamespace;
  readonly engine: Pick<Engine, 'ingestObservation' | 'recordVerdict'>;
  readonly logger: Logger;
  /** Durable consumer names' prefix. Default `orchestrator`. */
  readonly durablePrefix?: string;
  /** Messages handled at once per consumer. Default 256. */
  readonly maxInFlight?: number;
  /** Redelivery of an unacked message. Default 60 s. */
  readonly ackWaitMs?: number;
}

export interface Ingest {
  readonly stats: { received: number; acked: number; terminated: number; retried: number };
  stop(): Promise<void>;
}

const NS_PER_MS = 1_000_000;
const decoder = new TextDecoder();

export async function startIngest(options: IngestOptions): Promise<Ingest> {
  const { nats, namespace, engine, logger } = options;
  const prefix = options.durablePrefix ?? 'orchestrator';
  const maxInFlight = options.maxInFlight ?? 256;
  const names = streamNames(namespace);
  const stats = { received: 0, acked: 0, terminated: 0, retried: 0 };
  const jsm = await nats.jetstreamManager();

  async function consumer(stream: string, durable: string, filter: string) {
    const config = {
      durable_name: durable,
      filter_subject: filter,
      ack_policy: 'explicit',
      deliver_policy: 'all',
      ack_wait: (options.ackWaitMs ?? 60_000) * NS_PER_MS,
      max_deliver: -1,
      max_ack_pending: maxInFlight * 4,
    } as const;
    try {
      await jsm.consumers.add(stream, config);
    } catch (error) {
      try {
        await jsm.consumers.update(stream, durable, {
          filter_subject: filter,
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending,
        });
      } catch {
        throw error;
      }
    }
    return nats.jetstream.consumers.get(stream, durable);
  }

  const inFlight = new Set<Promise<void>>();
  async function handle(message: JsMsg, work: (json: unknown) => Promise<void>, what: string) {
    stats.received += 1;
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(message.data));
    } catch (error) {
      stats.terminated += 1;
      logger.warn(
        { err: error, subject: message.subject, seq: message.seq },
        `${what} is not JSON; dropped`,
      );
      message.term();
      return;
    }
    try {
      // Continues the sender's trace (docs/observability.md): decisions made now are its children.
      await consumeWithSpan(message.subject, message.headers, {}, () => work(json));
      stats.acked += 1;
      message.ack();
    } catch (error) {
      if (isPermanent(error)) {
        stats.terminated += 1;
        logger.warn(
          { err: error, subject: message.subject, seq: message.seq },
          `${what} refused; dropped`,
        );
        message.term();
        return;
      }
      stats.retried += 1;
      const delayMs = Math.min(500 * 2 ** Math.max(0, message.info.deliveryCount - 1), 30_000);
      logger.warn(
        { err: error, subject: message.subject, seq: message.seq, retryInMs: delayMs },
        `${what} not recorded; retrying`,
      );
      message.nak(delayMs);
    }
  }

  async function run(
    messages: ConsumerMessages,
    work: (json: unknown) => Promise<void>,
    what: string,
  ) {
    for await (const message of messages) {
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      const p = handle(message, work, what).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }

  const observations = await (
    await consumer(
      names.observations,
      `${prefix}-observations`,
      subjectFilters.observations(namespace),
    )
  ).consume({ max_messages: maxInFlight });
  const verdicts = await (
    await consumer(names.analysis, `${prefix}-verdicts`, analysisResultSubject(namespace))
  ).consume({ max_messages: maxInFlight });

  const loops = [
    run(observations, (json) => engine.ingestObservation(json as ObservationJson), 'observation'),
    run(verdicts, (json) => engine.recordVerdict(json as AnalysisVerdictJson), 'analysis verdict'),
  ].map((p) => p.catch((error) => logger.error({ err: error }, 'an ingest consumer stopped')));

  return {
    stats,
    async stop() {
      await observations.close();
      await verdicts.close();
      await Promise.allSettled(loops);
      await Promise.allSettled([...inFlight]);
    },
  };
}

function isPermanent(error: unknown): boolean {
  return (
    error instanceof AviaryError &&
    (error.code === ErrorCode.Validation ||
      error.code === ErrorCode.Refused ||
      error.code === ErrorCode.NotFound)
  );
}
