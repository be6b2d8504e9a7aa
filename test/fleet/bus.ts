/**
 * The fleet's messages as the orchestrator sees them: every observation the agents stored on the
 * observation stream and every verdict the analyzer stored on the analysis stream (read with
 * ordered consumers from the start of each stream, so nothing published before the bus opened is
 * missed), and the two things the orchestrator sends, agent commands and analysis requests,
 * published to JetStream with `Nats-Msg-Id` = their id exactly as its outbox does.
 *
 * Tests drive clusters by hand with it today; the orchestrator's end-to-end tests use it to watch
 * what the orchestrator makes the fleet do.
 */
import { decodeObservation } from '@aviary/cluster-agent/src/messaging/observation-publisher.ts';
import {
  analysisRequestSubject,
  analysisResultSubject,
  commandSubject,
  createJetStreamPublisher,
  type MessagingNamespace,
  type NatsClient,
  type PublishAck,
  parseSubject,
  SubjectType,
  streamNames,
} from '@aviary/messaging';
import {
  type AgentCommandJson,
  type AnalysisRequestJson,
  type AnalysisVerdict,
  analysisVerdictSchema,
  type CommandResult,
  type Observation,
} from '@aviary/proto';
import { fromJsonString } from '@bufbuild/protobuf';
import type { ConsumerMessages } from '@nats-io/jetstream';

/** One observation as stored on the stream, with the cluster and kind its subject names. */
export interface ReceivedObservation {
  readonly subject: string;
  /** The cluster token of the subject: the publishing agent's identity. */
  readonly cluster: string;
  /** The subject's kind token: `heartbeat`, `revision-seen`, `command-result`, … */
  readonly kind: string;
  readonly observation: Observation;
  /** Stream sequence. */
  readonly seq: number;
}

export interface FleetBus {
  /** Every observation received so far, in stream order. */
  observations(): readonly ReceivedObservation[];
  /**
   * The first observation, already received or arriving within `timeoutMs` (10 s), that
   * `match` accepts; rejects naming `what` otherwise.
   */
  waitForObservation(
    what: string,
    match: (o: ReceivedObservation) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedObservation>;
  /**
   * Publishes `command` on its cluster's command subject with `Nats-Msg-Id` = its `commandId`
   * (or `msgId`, to re-send it as another message), as the orchestrator's outbox does.
   */
  sendCommand(
    command: AgentCommandJson,
    options?: { readonly msgId?: string },
  ): Promise<PublishAck>;
  /** The agent's `CommandResult` for `commandId`, already received or within `timeoutMs` (15 s). */
  commandResult(commandId: string, timeoutMs?: number): Promise<CommandResult>;
  /** `sendCommand`, then `commandResult`: what the orchestrator waits for before a canary's next command. */
  runCommand(command: AgentCommandJson, timeoutMs?: number): Promise<CommandResult>;
  /** Publishes an `AnalysisRequest` with `Nats-Msg-Id` = its `requestId`. */
  requestAnalysis(request: AnalysisRequestJson): Promise<PublishAck>;
  /** Every verdict received so far, in stream order. */
  verdicts(): readonly AnalysisVerdict[];
  /** The verdict for `requestId`, already received or within `timeoutMs` (30 s). */
  verdict(requestId: string, timeoutMs?: number): Promise<AnalysisVerdict>;
  /** Stops reading (the NATS connection is the caller's). Idempotent. */
  close(): Promise<void>;
}

interface Waiter<T> {
  readonly match: (item: T) => boolean;
  readonly resolve: (item: T) => void;
}

/** An append-only list whose items can be awaited. */
class Collector<T> {
  readonly items: T[] = [];
  readonly #waiters = new Set<Waiter<T>>();

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(item)) {
        this.#waiters.delete(waiter);
        waiter.resolve(item);
      }
    }
  }

  waitFor(
    what: string,
    match: (item: T) => boolean,
    timeoutMs: number,
    describe: () => string,
  ): Promise<T> {
    const seen = this.items.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        match,
        resolve: (item) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describe()}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}

/** Opens a bus on `nats` for the fleet's messaging namespace. */
export async function openFleetBus(
  nats: NatsClient,
  namespace: MessagingNamespace,
): Promise<FleetBus> {
  const streams = streamNames(namespace);
  const publisher = createJetStreamPublisher(nats.jetstream);
  const observations = new Collector<ReceivedObservation>();
  const verdicts = new Collector<AnalysisVerdict>();
  const decoder = new TextDecoder();

  const observationReader = await nats.jetstream.consumers.get(streams.observations);
  const observationMessages: ConsumerMessages = await observationReader.consume();
  // Requests and verdicts share the stream; consumer filters need nats-server 2.10, so the
  // requests are skipped here instead.
  const verdictReader = await nats.jetstream.consumers.get(streams.analysis);
  const resultSubject = analysisResultSubject(namespace);
  const verdictMessages: ConsumerMessages = await verdictReader.consume();

  const reading = Promise.all([
    (async () => {
      for await (const message of observationMessages) {
        const parsed = parseSubject(message.subject, namespace);
        if (parsed?.type !== SubjectType.Observation) continue;
        observations.push({
          subject: message.subject,
          cluster: parsed.cluster,
          kind: parsed.kind,
          observation: decodeObservation(message.data),
          seq: message.seq,
        });
      }
    })(),
    (async () => {
      for await (const message of verdictMessages) {
        if (message.subject !== resultSubject) continue;
        verdicts.push(fromJsonString(analysisVerdictSchema, decoder.decode(message.data)));
      }
    })(),
  ]);

  const summary = () => {
    const kinds = new Map<string, number>();
    for (const o of observations.items) {
      const key = `${o.cluster}/${o.kind}`;
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
    }
    return `observations so far: ${JSON.stringify(Object.fromEntries(kinds))}`;
  };

  const sendCommand: FleetBus['sendCommand'] = (command, options = {}) => {
    const id = options.msgId ?? command.commandId ?? '';
    return publisher.publish(
      commandSubject(command.cluster ?? '', namespace),
      new TextEncoder().encode(JSON.stringify(command)),
      { msgId: id },
    );
  };

  const commandResult: FleetBus['commandResult'] = async (commandId, timeoutMs = 15_000) => {
    const found = await observations.waitFor(
      `the result of command ${commandId}`,
      (o) =>
        o.observation.kind.case === 'commandResult' &&
        o.observation.kind.value.commandId === commandId,
      timeoutMs,
      summary,
    );
    if (found.observation.kind.case !== 'commandResult') throw new Error('unreachable');
    return found.observation.kind.value;
  };

  let closed: Promise<void> | undefined;
  return {
    observations: () => observations.items,
    waitForObservation: (what, match, timeoutMs = 10_000) =>
      observations.waitFor(what, match, timeoutMs, summary),
    sendCommand,
    commandResult,
    async runCommand(command, timeoutMs) {
      await sendCommand(command);
      return commandResult(command.commandId ?? '', timeoutMs);
    },
    requestAnalysis: (request) =>
      publisher.publish(
        analysisRequestSubject(namespace),
        new TextEncoder().encode(JSON.stringify(request)),
        { msgId: request.requestId ?? '' },
      ),
    verdicts: () => verdicts.items,
    verdict: (requestId, timeoutMs = 30_000) =>
      verdicts.waitFor(
        `the verdict on request ${requestId}`,
        (v) => v.requestId === requestId,
        timeoutMs,
        () => `verdicts so far: ${verdicts.items.map((v) => v.requestId).join(', ') || 'none'}`,
      ),
    close() {
      closed ??= (async () => {
        await observationMessages.close();
        await verdictMessages.close();
        await reading;
      })();
      return closed;
    },
  };
}
