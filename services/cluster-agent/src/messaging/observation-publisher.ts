/**
 * Publishing observations to JetStream: the envelope as canonical proto JSON, `Nats-Msg-Id` = the
 * observation id (so a re-published observation is stored once), on
 * `<root>.v1.cluster.<cluster>.obs.<kind>`.
 */
import { ErrorCode, isAviaryError } from '@aviary/core';
import {
  type JetStreamPublisher,
  type MessagingNamespace,
  observationSubject,
} from '@aviary/messaging';
import { type Observation, ObservationSchema } from '@aviary/proto';
import { fromJsonString, toJsonString } from '@bufbuild/protobuf';
import { observationPublished } from './command-telemetry.ts';
import { observationKindOf } from './observations.ts';

/** Publishes one observation and resolves once it is stored; throws when it could not be. */
export type PublishObservation = (
  subject: string,
  observation: Observation,
  signal: AbortSignal,
) => Promise<void>;

export function encodeObservation(observation: Observation): Uint8Array {
  return new TextEncoder().encode(toJsonString(ObservationSchema, observation));
}

export function decodeObservation(data: Uint8Array | string): Observation {
  const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
  return fromJsonString(ObservationSchema, text);
}

/** The subject `observation` is published on. */
export function subjectOfObservation(
  cluster: string,
  observation: Observation,
  namespace: MessagingNamespace,
): string {
  return observationSubject(cluster, observationKindOf(observation), namespace);
}

export function createObservationPublisher(publisher: JetStreamPublisher): PublishObservation {
  return async (subject, observation, signal) => {
    await publisher.publish(subject, encodeObservation(observation), {
      msgId: observation.observationId,
      signal,
    });
    observationPublished(observation, observationKindOf(observation));
  };
}

export interface RetryOptions {
  /** First pause after a failure; doubles up to `maxDelayMs`. Default 250 ms. */
  readonly minDelayMs?: number;
  /** Default 5 s. */
  readonly maxDelayMs?: number;
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Retries `publish` until it succeeds or `signal` aborts (then throws ABORTED). Safe because the
 * observation id is the message id: a publish that was stored but not acknowledged is stored once.
 */
export function retryingPublisher(
  publish: PublishObservation,
  options: RetryOptions = {},
): PublishObservation {
  const minDelayMs = options.minDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  return async (subject, observation, signal) => {
    let delayMs = minDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await publish(subject, observation, signal);
        return;
      } catch (error) {
        if (signal.aborted || isAviaryError(error, ErrorCode.Aborted)) throw error;
        if (isAviaryError(error, ErrorCode.Validation)) throw error;
        options.onRetry?.(error, attempt);
        await sleep(delayMs, signal);
        delayMs = Math.min(delayMs * 2, maxDelayMs);
      }
    }
  };
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
