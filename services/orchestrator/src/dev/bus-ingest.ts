/**
 * The orchestrator's ingest on the in-process bus of `aviary dev`: what `engine/ingest.ts` does
 * with JetStream consumers, for observations (every cluster's `obs.*` subjects) and analysis
 * verdicts. Each message is decoded and handed to the engine at once, in arrival order (the engine
 * serializes everything about one application in that order); the publisher does not wait for the
 * engine, as a JetStream publisher does not wait for consumers.
 *
 * - Not JSON, or refused by the engine (validation, refusal, unknown): logged and dropped, as
 *   `ingest.ts` terminates such messages.
 * - Anything else (the log busy or unreachable): tried again after a growing delay, until stop.
 *
 * Each attempt continues the sender's trace from the message's headers, as `ingest.ts` does
 * (`consumeWithSpan`): the decisions it makes are children of the agent's or analyzer's publish.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  analysisResultSubject,
  type BusMessage,
  consumeWithSpan,
  type MessagingNamespace,
  subjectFilters,
} from '@aviary/messaging';
import type { Logger } from '@aviary/platform';
import type { AnalysisVerdictJson, ObservationJson } from '@aviary/proto';
import type { Engine } from '../engine/engine.ts';

export interface BusIngestOptions {
  readonly bus: {
    subscribe(filter: string, handler: (message: BusMessage) => unknown): () => void;
  };
  readonly namespace: MessagingNamespace;
  readonly engine: Pick<Engine, 'ingestObservation' | 'recordVerdict'>;
  readonly logger: Logger;
}

export interface BusIngest {
  readonly stats: { received: number; recorded: number; dropped: number; retried: number };
  stop(): Promise<void>;
}

const decoder = new TextDecoder();

export function startBusIngest(options: BusIngestOptions): BusIngest {
  const { bus, engine, logger } = options;
  const stats = { received: 0, recorded: 0, dropped: 0, retried: 0 };
  const inFlight = new Set<Promise<void>>();
  const controller = new AbortController();
  const { signal } = controller;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });

  async function handle(message: BusMessage, work: (json: unknown) => Promise<void>, what: string) {
    stats.received += 1;
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(message.payload));
    } catch (error) {
      stats.dropped += 1;
      logger.warn({ err: error, subject: message.subject }, `${what} is not JSON; dropped`);
      return;
    }
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await consumeWithSpan(message.subject, message.headers, {}, () => work(json));
        stats.recorded += 1;
        return;
      } catch (error) {
        if (isPermanent(error)) {
          stats.dropped += 1;
          logger.warn({ err: error, subject: message.subject }, `${what} refused; dropped`);
          return;
        }
        if (signal.aborted) return;
        stats.retried += 1;
        const delayMs = Math.min(500 * 2 ** (attempt - 1), 30_000);
        logger.warn(
          { err: error, subject: message.subject, retryInMs: delayMs },
          `${what} not recorded; retrying`,
        );
        await pause(delayMs);
      }
    }
  }

  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const unsubscribes = [
    bus.subscribe(subjectFilters.observations(options.namespace), (message) => {
      if (signal.aborted) return;
      track(
        handle(message, (json) => engine.ingestObservation(json as ObservationJson), 'observation'),
      );
    }),
    bus.subscribe(analysisResultSubject(options.namespace), (message) => {
      if (signal.aborted) return;
      track(
        handle(
          message,
          (json) => engine.recordVerdict(json as AnalysisVerdictJson),
          'analysis verdict',
        ),
      );
    }),
  ];

  return {
    stats,
    async stop() {
      for (const unsubscribe of unsubscribes) unsubscribe();
      controller.abort(new Error('ingest stopped'));
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
