/**
 * The webhook dispatcher: a durable subscription to the event log (consumer `webhooks`) that
 * makes every `WebhookRequested` call of every release and hands each result to the engine
 * (`Operations.recordWebhookResult`, idempotent by request id), which appends it as
 * `WebhookResultRecorded` and lets the decider act on it.
 *
 * - Calls of one batch run concurrently (at most `concurrency`, default 16); the batch, and so the
 *   subscription's checkpoint, is done only when all of them are. A crash re-delivers the batch:
 *   calls are at least once, and receivers dedupe by `X-Aviary-Request-Id`.
 * - A request id this process already called is not called again: its result is kept (in an LRU
 *   of `rememberedRequests`, default 10 000) until it is recorded, so a retried batch records
 *   without calling twice.
 * - The application (for `aviary-gate:` webhooks) comes from the release's `ReleaseStarted`
 *   (stream version 1), seen in the log or read with `readStream(…, { toVersion: 1n })`.
 * - A failed `recordWebhookResult` fails the batch, which the subscription retries with backoff;
 *   a `REFUSED` or `VALIDATION` error (the release no longer wants it, or it is malformed) is
 *   logged and skipped instead, since retrying cannot change it.
 */
import { isAviaryError } from '@aviary/core';
import type { EventStore, GlobalPosition, RecordedEvent, Subscription } from '@aviary/event-store';
import type {
  ReleaseStartedJson,
  WebhookCallJson,
  WebhookRequestedJson,
  WebhookResultRecordedJson,
} from '@aviary/proto';
import type { ApplicationRef, Operations, WebhookCaller } from '../ports.ts';
import { forEachBounded } from './bounded.ts';
import { followLog } from './log-follower.ts';
import { errorText, type ServiceLogger, silentLogger } from './logger.ts';
import { LruMap } from './lru.ts';

export const WEBHOOKS_CONSUMER_ID = 'webhooks';
export const DEFAULT_WEBHOOK_CONCURRENCY = 16;
export const DEFAULT_REMEMBERED_REQUESTS = 10_000;
const RELEASE_STREAM_PREFIX = 'release-';

export interface WebhookDispatcherOptions {
  readonly store: Pick<EventStore, 'subscribe' | 'readStream'>;
  readonly caller: WebhookCaller;
  /** The engine's `Operations.recordWebhookResult`. */
  readonly recordWebhookResult: Operations['recordWebhookResult'];
  readonly logger?: ServiceLogger;
  /** Durable consumer id (default `webhooks`). */
  readonly consumerId?: string;
  /** Where to start without a stored checkpoint (default: the start of the log). */
  readonly from?: GlobalPosition;
  /** Calls in flight at once (default 16). */
  readonly concurrency?: number;
  /** Request ids (and their results) remembered by this process (default 10 000). */
  readonly rememberedRequests?: number;
  /** Applications of releases remembered (default 10 000). */
  readonly rememberedReleases?: number;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
}

interface Job {
  readonly releaseId: string;
  readonly streamId: string;
  readonly call: WebhookCallJson;
  readonly requestId: string;
}

interface Remembered {
  readonly result: WebhookResultRecordedJson;
  recorded: boolean;
}

export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #logger: ServiceLogger;
  readonly #requests: LruMap<string, Remembered>;
  readonly #applications: LruMap<string, ApplicationRef>;
  readonly #inFlight = new Map<string, Promise<void>>();
  #subscription: Subscription | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#requests = new LruMap(options.rememberedRequests ?? DEFAULT_REMEMBERED_REQUESTS);
    this.#applications = new LruMap(options.rememberedReleases ?? DEFAULT_REMEMBERED_REQUESTS);
  }

  /** Starts the subscription (once); returns it, e.g. to `waitFor` a position in tests. */
  start(): Subscription {
    if (this.#subscription !== undefined) return this.#subscription;
    const { store, from, batchSize, pollIntervalMs } = this.#options;
    this.#subscription = followLog({
      store,
      consumerId: this.#options.consumerId ?? WEBHOOKS_CONSUMER_ID,
      from,
      batchSize,
      pollIntervalMs,
      logger: this.#logger,
      what: 'webhook batch',
      handler: (events, signal) => this.handle(events, signal),
    });
    return this.#subscription;
  }

  /** Stops the subscription, aborting calls in flight. */
  async stop(): Promise<void> {
    await this.#subscription?.stop();
  }

  /**
   * Handles one batch of the log: every `WebhookRequested` in it is called and recorded before
   * this resolves. Throws (for the subscription to retry the batch) when a result could not be
   * recorded for a reason that may pass.
   */
  async handle(events: readonly RecordedEvent[], signal: AbortSignal): Promise<void> {
    const jobs: Job[] = [];
    for (const event of events) {
      if (!event.streamId.startsWith(RELEASE_STREAM_PREFIX)) continue;
      const releaseId = event.streamId.slice(RELEASE_STREAM_PREFIX.length);
      if (event.type === 'ReleaseStarted') {
        const application = applicationOf(event.data as ReleaseStartedJson);
        if (application !== undefined) this.#applications.set(releaseId, application);
      } else if (event.type === 'WebhookRequested') {
        const call = (event.data as WebhookRequestedJson).call ?? {};
        if (!call.requestId) {
          this.#logger.error(
            { releaseId, eventId: event.id, webhook: call.name },
            'WebhookRequested without a request id: not called',
          );
          continue;
        }
        jobs.push({ releaseId, streamId: event.streamId, call, requestId: call.requestId });
      }
    }
    if (jobs.length === 0) return;
    const errors = await forEachBounded(
      jobs,
      this.#options.concurrency ?? DEFAULT_WEBHOOK_CONCURRENCY,
      (job) => this.#once(job, signal),
    );
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(
        errors,
        `${errors.length} of ${jobs.length} webhook results not recorded: ${errors.map(errorText).join('; ')}`,
      );
    }
  }

  /** One request id at a time: a duplicate in flight waits for the first. */
  async #once(job: Job, signal: AbortSignal): Promise<void> {
    const running = this.#inFlight.get(job.requestId);
    if (running !== undefined) return running;
    const work = this.#dispatch(job, signal).finally(() => this.#inFlight.delete(job.requestId));
    this.#inFlight.set(job.requestId, work);
    return work;
  }

  async #dispatch(job: Job, signal: AbortSignal): Promise<void> {
    let remembered = this.#requests.get(job.requestId);
    if (remembered?.recorded === true) return;
    if (remembered === undefined) {
      const application = await this.#application(job, signal);
      if (application === undefined) {
        this.#logger.error(
          { releaseId: job.releaseId, requestId: job.requestId },
          'release has no ReleaseStarted event: webhook not called',
        );
        return;
      }
      const result = await this.#options.caller.call(job.call, application, signal);
      remembered = { result, recorded: false };
      this.#requests.set(job.requestId, remembered);
    }
    const fields = {
      releaseId: job.releaseId,
      requestId: job.requestId,
      cluster: job.call.cluster,
      webhook: job.call.name,
      outcome: remembered.result.outcome,
      statusCode: remembered.result.statusCode ?? 0,
      durationMs: remembered.result.durationMs ?? 0,
    };
    try {
      await this.#options.recordWebhookResult(job.releaseId, remembered.result);
    } catch (error) {
      if (isAviaryError(error, 'REFUSED') || isAviaryError(error, 'VALIDATION')) {
        remembered.recorded = true;
        this.#logger.warn(
          { ...fields, code: error.code, err: errorText(error) },
          'webhook result refused by the engine; skipped',
        );
        return;
      }
      throw error;
    }
    remembered.recorded = true;
    this.#logger.info(fields, 'webhook result recorded');
  }

  async #application(job: Job, signal: AbortSignal): Promise<ApplicationRef | undefined> {
    const known = this.#applications.get(job.releaseId);
    if (known !== undefined) return known;
    const [first] = await this.#options.store.readStream(job.streamId, {
      toVersion: 1n,
      signal,
    });
    if (first?.type !== 'ReleaseStarted') return undefined;
    const application = applicationOf(first.data as ReleaseStartedJson);
    if (application !== undefined) this.#applications.set(job.releaseId, application);
    return application;
  }
}

function applicationOf(started: ReleaseStartedJson): ApplicationRef | undefined {
  const { namespace, name } = started.rollout ?? {};
  return namespace && name ? { namespace, name } : undefined;
}
