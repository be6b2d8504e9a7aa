/**
 * The analysis service: `AnalysisRequest`s in from a durable JetStream pull consumer on the
 * analysis stream (filtered to `analysisRequestSubject`), gathered into rounds, judged by the
 * scheduler, one `AnalysisVerdict` out per request on `analysisResultSubject`.
 *
 * - **Rounds.** A request with a window is due when its window has closed plus its provider's
 *   ingestion delay; one without, at once. A round runs at the earliest due time (after a short
 *   gathering delay, so that a burst of requests shares one round) and on every tick
 *   (`roundIntervalMs`). Due requests with the same planning time (window end + delay) are planned
 *   together, so their checks fold into shared queries.
 * - **Ack after publish.** Each verdict is published with `Nats-Msg-Id` = `verdictMsgId(request
 *   id)`, and only then is the request message acknowledged. A crash in between re-delivers the
 *   request; its verdict is published again under the same id and JetStream stores it once.
 *   Held messages are kept alive with `working()` on every tick.
 * - **Malformed input.** A request that cannot be decoded but names a request id gets an `Error`
 *   verdict; one without an id is terminated (`term`) with a logged reason. Never a crash.
 * - **Counts.** Count checks are measured through `countSubChecks`; comparisons accumulate their
 *   counts per (release, cluster, check) in a `ComparisonCounts` store (in memory, or a
 *   JetStream KV bucket that survives restarts); every verdict records its raw samples.
 * - **Latency comparisons** (`request-duration` with `method: LATENCY_COMPARISON`) are measured
 *   through `latencySubCheck` (the grouped histogram query); each window's histograms are kept
 *   per (release, cluster, check) in a `LatencyHistories` store, the same way as the counts.
 * - **Stop** drains: no new messages, the running round finishes and publishes, held requests are
 *   released (`nak`) for re-delivery.
 * - **Transport** (`transport.ts`): JetStream by default (`nats`); `aviary dev` passes the
 *   in-process bus instead (`in-process-transport.ts`). Everything above holds for both.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import {
  CheckKind,
  type CountsSnapshot,
  judge,
  ObservationStatus,
  Outcome,
  RateMeasure,
  type ThresholdRange,
} from '@aviary/judge';
import { analysisResultSubject, type MessagingNamespace, type NatsClient } from '@aviary/messaging';
import type { Logger } from '@aviary/platform';
import {
  type ActiveCheck,
  type ActiveLatencyCheck,
  type AnalyzerVerdict,
  type CheckVerdict,
  type CountCheck,
  collectCounts,
  collectHistograms,
  countSubChecks,
  DEFAULT_INGESTION_DELAY_MS,
  latencySubCheck,
  type ProviderPlanning,
  type Scheduler,
} from '../scheduler/index.ts';
import { type ComparisonCounts, CountHistory } from './count-history.ts';
import { HistogramHistory, type LatencyHistories } from './histogram-history.ts';
import {
  type DecodedRequest,
  decodeAnalysisRequest,
  type RequestContext,
  type RequestIdentity,
} from './requests.ts';
import { publishVerdictTraced } from './telemetry.ts';
import { type AnalysisTransport, natsAnalysisTransport, type RequestMessage } from './transport.ts';
import {
  encodeVerdict,
  errorVerdict,
  internalErrorVerdict,
  toAnalysisVerdict,
  type VerdictDetails,
  verdictMsgId,
} from './verdicts.ts';

export interface AnalysisServiceOptions {
  /** Requests from JetStream (the durable consumer); unused when `transport` is given. */
  readonly nats?: NatsClient;
  /** Another transport instead of `nats` (`aviary dev`: `inProcessAnalysisTransport`). */
  readonly transport?: AnalysisTransport;
  readonly namespace: MessagingNamespace;
  readonly scheduler: Scheduler;
  /** The providers' planning (for their ingestion delays). */
  readonly providers: readonly ProviderPlanning[];
  readonly requests: RequestContext;
  readonly logger: Logger;
  /** Durable consumer name (with `nats`); default `analyzer`. */
  readonly consumerName?: string;
  /** Tick period: rounds for due requests, `working()` for held ones; default 15 s. */
  readonly roundIntervalMs?: number;
  /** How long requests arriving together are gathered before a due round; default 250 ms. */
  readonly gatherMs?: number;
  /** The consumer's ack wait; default 5 min (held messages are kept alive on every tick). */
  readonly ackWaitMs?: number;
  /** Unacknowledged requests the consumer hands out at once; default 10,000. */
  readonly maxAckPending?: number;
  readonly now?: () => number;
  /**
   * Where comparison counts are kept across rounds; default in memory. `KvCountHistory` keeps
   * them in a JetStream KV bucket, so that a restart continues the sequential test.
   */
  readonly comparisonCounts?: ComparisonCounts;
  /**
   * Where latency comparisons' histograms are kept across rounds; default in memory.
   * `KvHistogramHistory` keeps them in the same KV bucket as the counts.
   */
  readonly latencyHistograms?: LatencyHistories;
}

export interface AnalysisService {
  /** Stops consuming, finishes the running round, releases held requests. */
  stop(): Promise<void>;
  /** Requests held for a round. */
  readonly pending: number;
  /** Settles when the consume loop ends. */
  readonly done: Promise<void>;
}

interface Held {
  readonly request: DecodedRequest;
  readonly dueAtMs: number;
  readonly planAtMs: number;
  readonly messages: RequestMessage[];
}

interface Answer {
  readonly identity: RequestIdentity;
  readonly verdict: AnalyzerVerdict;
  readonly details: VerdictDetails;
}

/** Creates the durable consumer (or updates it) and starts consuming. */
export async function startAnalysisService(
  options: AnalysisServiceOptions,
  signal: AbortSignal,
): Promise<AnalysisService> {
  const { namespace, scheduler, logger } = options;
  const now = options.now ?? Date.now;
  const roundIntervalMs = options.roundIntervalMs ?? 15_000;
  const gatherMs = options.gatherMs ?? 250;
  const resultSubject = analysisResultSubject(namespace);
  const delays = new Map(
    options.providers.map((p) => [p.id, p.ingestionDelayMs ?? DEFAULT_INGESTION_DELAY_MS[p.kind]]),
  );

  const transport = options.transport ?? natsTransport(options);
  const messages = await transport.requests(signal);
  const { publisher } = transport;
  const history = options.comparisonCounts ?? new CountHistory();
  const histograms = options.latencyHistograms ?? new HistogramHistory();
  const held = new Map<string, Held>();
  const stopping = new AbortController();
  const roundSignal = stopping.signal;
  let closing = false;
  let wake: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let roundQueued = false;

  const publishAndAck = async (
    answer: Answer,
    msgs: readonly RequestMessage[],
  ): Promise<boolean> => {
    const message = toAnalysisVerdict(answer.identity, answer.verdict, answer.details);
    try {
      // In the request's trace, and counted (telemetry.ts).
      const ack = await publishVerdictTraced(msgs[0], answer.identity, answer.verdict.outcome, () =>
        publisher.publish(resultSubject, encodeVerdict(message), {
          msgId: verdictMsgId(answer.identity.requestId),
          signal: roundSignal,
        }),
      );
      logger.info(
        {
          requestId: answer.identity.requestId,
          releaseId: answer.identity.releaseId,
          cluster: answer.identity.cluster,
          check: answer.identity.checkName,
          outcome: answer.verdict.outcome,
          duplicate: ack.duplicate,
        },
        'verdict published',
      );
    } catch (err) {
      logger.warn(
        { err, requestId: answer.identity.requestId },
        'verdict not published; the request will be re-delivered',
      );
      for (const msg of msgs) msg.nak(5_000);
      return false;
    }
    for (const msg of msgs) {
      try {
        await msg.ackAck();
      } catch (err) {
        logger.warn({ err, requestId: answer.identity.requestId }, 'ack failed');
      }
    }
    return true;
  };

  const schedule = () => {
    if (closing) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const h of held.values()) earliest = Math.min(earliest, h.dueAtMs);
    if (earliest === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, earliest - now()) + gatherMs;
    if (wake !== undefined) clearTimeout(wake);
    wake = setTimeout(() => {
      wake = undefined;
      triggerRound();
    }, delay);
  };

  const triggerRound = () => {
    if (roundQueued || closing) return;
    roundQueued = true;
    running = running.then(async () => {
      roundQueued = false;
      try {
        await runRound();
      } catch (err) {
        logger.error({ err }, 'round failed; its requests stay held for the next round');
      }
      schedule();
    });
  };

  const runRound = async () => {
    const nowMs = now();
    const due = [...held.values()].filter((h) => h.dueAtMs <= nowMs);
    if (due.length === 0) return;
    const groups = new Map<number, Held[]>();
    for (const h of due) {
      const list = groups.get(h.planAtMs) ?? [];
      list.push(h);
      groups.set(h.planAtMs, list);
    }
    for (const [planAtMs, group] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
      if (roundSignal.aborted) return;
      const checks: ActiveCheck[] = group.flatMap((h) => {
        const { check } = h.request;
        if (check.kind === 'value') return [check.active];
        if (check.kind === 'latency') return [latencySubCheck(check.active)];
        return countSubChecks(check.active);
      });
      const { verdicts } = await scheduler.round(checks, planAtMs, roundSignal);
      const byId = new Map(verdicts.map((v) => [v.checkId, v]));
      logger.info({ planAtMs, requests: group.length, checks: checks.length }, 'round judged');
      for (const h of group) {
        const answer = await answerOf(h.request, byId, nowMs).catch((err: unknown): Answer => {
          logger.error({ err, requestId: h.request.identity.requestId }, 'judging failed');
          return {
            identity: h.request.identity,
            verdict: {
              outcome: Outcome.Error,
              evidence: { thresholdRange: {} },
              message: `comparison counts unavailable: ${err instanceof Error ? err.message : String(err)}`,
            },
            details: {},
          };
        });
        held.delete(h.request.identity.requestId);
        await publishAndAck(answer, h.messages);
      }
    }
    history.prune(nowMs - 24 * 3_600_000);
    histograms.prune(nowMs - 24 * 3_600_000);
  };

  const answerOf = async (
    request: DecodedRequest,
    verdicts: ReadonlyMap<string, CheckVerdict>,
    nowMs: number,
  ): Promise<Answer> => {
    const { identity, check } = request;
    if (check.kind === 'value') {
      const v = verdicts.get(check.active.id);
      if (v === undefined) {
        return { identity, verdict: internalErrorVerdict('no verdict'), details: {} };
      }
      const judged = check.active.check;
      const measured =
        v.verdict.outcome !== Outcome.Error || v.verdict.evidence.value !== undefined;
      return {
        identity,
        verdict: v.verdict,
        details: {
          query: v.query,
          ...(v.window === undefined ? {} : { window: v.window }),
          ...(measured
            ? {
                samples: {
                  method: CheckKind.ValueThreshold,
                  series: v.samples,
                  ...(v.verdict.evidence.value === undefined
                    ? {}
                    : { value: v.verdict.evidence.value }),
                  ...(judged.label === undefined ? {} : { label: judged.label }),
                  ...(judged.unit === undefined ? {} : { unit: judged.unit }),
                },
              }
            : {}),
        },
      };
    }
    if (check.kind === 'latency') return answerLatency(identity, check.active, verdicts, nowMs);
    const collected = collectCounts(check.active, verdicts);
    const window = collected.window;
    const details: VerdictDetails = {
      query: collected.query,
      ...(window === undefined ? {} : { window }),
    };
    if (!collected.ok) {
      const failed = collected.failed.verdict;
      return {
        identity,
        verdict: {
          ...failed,
          evidence: { thresholdRange: rangeOfCheck(check.active.check) },
          ...(collected.retryAfterMs === undefined ? {} : { retryAfterMs: collected.retryAfterMs }),
        },
        details,
      };
    }
    const judged = check.active.check;
    if (judged.kind === CheckKind.RateThreshold) {
      return {
        identity,
        verdict: judge(judged, {
          status: ObservationStatus.Ok,
          data: collected.canary,
          ...(window === undefined ? {} : { window }),
        }),
        details: {
          ...details,
          samples: {
            method: CheckKind.RateThreshold,
            measure: judged.measure ?? RateMeasure.Good,
            windows: window === undefined ? [] : [{ window, canary: collected.canary }],
            series: collected.samples,
          },
        },
      };
    }
    const snapshot: CountsSnapshot = {
      canary: collected.canary,
      primary: collected.primary ?? { totalCount: 0, badCount: 0 },
    };
    const recorded =
      window === undefined
        ? { windows: [], looks: [snapshot] }
        : await history.record(
            {
              releaseId: identity.releaseId,
              cluster: identity.cluster,
              checkName: identity.checkName,
            },
            window,
            snapshot,
            nowMs,
          );
    return {
      identity,
      verdict: judge(judged, {
        status: ObservationStatus.Ok,
        data: recorded.looks,
        ...(window === undefined ? {} : { window }),
      }),
      details: {
        ...details,
        samples: {
          method: CheckKind.RateComparison,
          windows: recorded.windows.map((w) => ({
            window: w.window,
            canary: w.counts.canary,
            primary: w.counts.primary,
          })),
          series: collected.samples,
        },
      },
    };
  };

  /** A latency comparison: this window's histograms recorded, the looks up to it judged. */
  const answerLatency = async (
    identity: RequestIdentity,
    active: ActiveLatencyCheck,
    verdicts: ReadonlyMap<string, CheckVerdict>,
    nowMs: number,
  ): Promise<Answer> => {
    const collected = collectHistograms(active, verdicts);
    const window = collected.window;
    const details: VerdictDetails = {
      query: collected.query,
      ...(window === undefined ? {} : { window }),
    };
    if (!collected.ok) {
      return {
        identity,
        verdict: { ...collected.failed.verdict, evidence: { thresholdRange: {} } },
        details,
      };
    }
    const judged = active.check;
    if (collected.histograms === undefined || window === undefined) {
      // No series for the canary or its primary in this window: nothing to add to the test.
      return {
        identity,
        verdict: judge(judged, {
          status: ObservationStatus.NoData,
          ...(window === undefined ? {} : { window }),
        }),
        details,
      };
    }
    const recorded = await histograms.record(
      { releaseId: identity.releaseId, cluster: identity.cluster, checkName: identity.checkName },
      window,
      collected.histograms,
      nowMs,
    );
    return {
      identity,
      verdict: judge(judged, { status: ObservationStatus.Ok, data: recorded.looks, window }),
      details: {
        ...details,
        samples: {
          method: CheckKind.LatencyComparison,
          sloMs: judged.sloMs,
          histograms: recorded.windows.map((w) => ({
            window: w.window,
            canary: w.histograms.canary,
            primary: w.histograms.primary,
          })),
          series: collected.samples,
        },
      },
    };
  };

  const receive = async (msg: RequestMessage) => {
    const decoded = decodeAnalysisRequest(msg.data, options.requests);
    if (!decoded.ok) {
      if (decoded.identity === undefined) {
        logger.warn({ seq: msg.seq, reason: decoded.reason }, 'malformed request dropped');
        msg.term();
        return;
      }
      logger.warn(
        { requestId: decoded.identity.requestId, reason: decoded.reason },
        'invalid request answered with an Error verdict',
      );
      await publishAndAck(
        { identity: decoded.identity, verdict: errorVerdict(decoded.reason), details: {} },
        [msg],
      );
      return;
    }
    const { request } = decoded;
    const id = request.identity.requestId;
    const existing = held.get(id);
    if (existing !== undefined) {
      existing.messages.push(msg);
      return;
    }
    // The check's own delay (its template's) if any, else its provider's: the window's data is
    // complete only then, and the planner aligns the window to the same delay.
    const delay =
      request.check.active.ingestionDelayMs ?? delays.get(request.check.active.providerId) ?? 0;
    const planAtMs = request.windowEndMs === undefined ? now() : request.windowEndMs + delay;
    held.set(id, { request, dueAtMs: planAtMs, planAtMs, messages: [msg] });
    schedule();
  };

  const tick = setInterval(() => {
    for (const h of held.values()) for (const msg of h.messages) msg.working();
    triggerRound();
  }, roundIntervalMs);

  const done = (async () => {
    try {
      for await (const msg of messages) {
        try {
          await receive(msg);
        } catch (err) {
          logger.error({ err, seq: msg.seq }, 'request handling failed; it will be re-delivered');
          msg.nak(5_000);
        }
      }
    } catch (err) {
      if (!closing) logger.error({ err }, 'consuming requests failed');
    }
  })();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      closing = true;
      clearInterval(tick);
      if (wake !== undefined) clearTimeout(wake);
      messages.stop();
      await done;
      // The running round finishes and publishes; then anything still in flight is cancelled.
      await running;
      stopping.abort(new Error('analysis service stopping'));
      for (const h of held.values()) for (const msg of h.messages) msg.nak();
      held.clear();
    })();
    return stopped;
  };
  signal.addEventListener('abort', () => void stop(), { once: true });

  return {
    stop,
    done,
    get pending() {
      return held.size;
    },
  };
}

function natsTransport(options: AnalysisServiceOptions): AnalysisTransport {
  if (options.nats === undefined) {
    throw new AviaryError(ErrorCode.Config, 'the analysis service needs `nats` or `transport`');
  }
  return natsAnalysisTransport({
    nats: options.nats,
    namespace: options.namespace,
    ...(options.consumerName === undefined ? {} : { consumerName: options.consumerName }),
    ...(options.ackWaitMs === undefined ? {} : { ackWaitMs: options.ackWaitMs }),
    ...(options.maxAckPending === undefined ? {} : { maxAckPending: options.maxAckPending }),
  });
}

function rangeOfCheck(check: CountCheck): ThresholdRange {
  return check.kind === CheckKind.RateThreshold ? check.thresholdRange : {};
}
