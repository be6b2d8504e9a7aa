/**
 * The notifier: a durable subscription to the event log (consumer `notifications`) that turns
 * release events into notifications (see `notification.ts`) and sends each to its providers.
 *
 * Routing is Flagger's `spec.analysis.alerts`: every alert of the release's spec whose severity
 * threshold the notification meets (info < warn < error: an alert of severity `warn` receives warn
 * and error) sends it through the provider its `providerRef` names. `defaultProviders` receive
 * every error of every release as well (for fleets without per-rollout alerts). A provider gets a
 * notification once even when several alerts name it. An unknown provider is logged once, then
 * skipped.
 *
 * Delivery never holds up the subscription for long and never throws: a failed delivery is
 * retried a few times (`deliver.ts`), then logged, and the batch goes on. Notifications of one
 * provider go out in log order; different providers are served concurrently. A crash before the
 * checkpoint re-sends that batch's notifications (at least once; the generic payload's `id`, and
 * the `X-Aviary-Notification-Id` header, let receivers drop copies).
 *
 * Events older than `maxAgeMs` (default one hour) when read are not notified: a notifier started
 * on an existing log does not replay its history into chat.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { EventStore, GlobalPosition, RecordedEvent, Subscription } from '@aviary/event-store';
import { forEachBounded } from '../webhooks/bounded.ts';
import { followLog } from '../webhooks/log-follower.ts';
import { errorText, type ServiceLogger, silentLogger } from '../webhooks/logger.ts';
import { LruMap } from '../webhooks/lru.ts';
import {
  DEFAULT_DELIVERY,
  type DeliveryOptions,
  deliverNotification,
  scrubAddress,
} from './deliver.ts';
import {
  CONTEXT_EVENT_TYPES,
  meetsThreshold,
  NOTIFIED_EVENT_TYPES,
  type Notification,
  ReleaseTracker,
  Severity,
} from './notification.ts';
import { type AlertProvider, AlertProviderRegistry, providerKey } from './providers.ts';

export const NOTIFICATIONS_CONSUMER_ID = 'notifications';
export const DEFAULT_MAX_AGE_MS = 60 * 60_000;
const DEFAULT_REMEMBERED_RELEASES = 10_000;
const RELEASE_STREAM_PREFIX = 'release-';

export interface NotifierOptions {
  readonly store: Pick<EventStore, 'subscribe' | 'readStream'>;
  /** The configured providers (`parseAlertProviders(AVIARY_ALERT_PROVIDERS)`). */
  readonly providers: readonly AlertProvider[];
  /**
   * Providers that receive every error of every release: `name` (a provider without namespace)
   * or `namespace/name`. The constructor throws `CONFIG` for one that is not configured.
   */
  readonly defaultProviders?: readonly string[];
  readonly logger?: ServiceLogger;
  /** Durable consumer id (default `notifications`). */
  readonly consumerId?: string;
  /** Where to start without a stored checkpoint (default: the start of the log). */
  readonly from?: GlobalPosition;
  /** Events recorded longer ago than this are not notified (default 1 h; 0: no limit). */
  readonly maxAgeMs?: number;
  readonly delivery?: Partial<DeliveryOptions>;
  /** Releases whose context is kept in memory (default 10 000). */
  readonly rememberedReleases?: number;
  /** Clock in epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
}

interface Delivery {
  readonly provider: AlertProvider;
  readonly notification: Notification;
}

export class Notifier {
  readonly #options: NotifierOptions;
  readonly #logger: ServiceLogger;
  readonly #registry: AlertProviderRegistry;
  readonly #defaults: readonly AlertProvider[];
  readonly #delivery: DeliveryOptions;
  readonly #releases: LruMap<string, ReleaseTracker>;
  readonly #reported = new Set<string>();
  readonly #now: () => number;
  #subscription: Subscription | undefined;

  constructor(options: NotifierOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#registry = new AlertProviderRegistry(options.providers);
    this.#defaults = (options.defaultProviders ?? []).map((key) => {
      const provider = this.#registry.byKey(key);
      if (provider === undefined) {
        throw new AviaryError(
          ErrorCode.Config,
          `default notification provider ${JSON.stringify(key)} is not among the configured alert providers (${options.providers.map(providerKey).join(', ') || 'none'})`,
        );
      }
      return provider;
    });
    this.#delivery = { ...DEFAULT_DELIVERY, ...options.delivery };
    this.#releases = new LruMap(options.rememberedReleases ?? DEFAULT_REMEMBERED_RELEASES);
    this.#now = options.now ?? Date.now;
  }

  /** Starts the subscription (once); returns it, e.g. to `waitFor` a position in tests. */
  start(): Subscription {
    if (this.#subscription !== undefined) return this.#subscription;
    const { store, from, batchSize, pollIntervalMs } = this.#options;
    this.#subscription = followLog({
      store,
      consumerId: this.#options.consumerId ?? NOTIFICATIONS_CONSUMER_ID,
      from,
      batchSize,
      pollIntervalMs,
      logger: this.#logger,
      what: 'notification batch',
      handler: (events, signal) => this.handle(events, signal),
    });
    return this.#subscription;
  }

  /** Stops the subscription, aborting deliveries in flight. */
  async stop(): Promise<void> {
    await this.#subscription?.stop();
  }

  /**
   * Handles one batch of the log. Throws only when a release's context cannot be read (before
   * anything of the batch is sent), so that the subscription retries it.
   */
  async handle(events: readonly RecordedEvent[], signal: AbortSignal): Promise<void> {
    await this.#loadContexts(events, signal);
    const deliveries: Delivery[] = [];
    for (const event of events) {
      const releaseId = releaseIdOf(event);
      if (releaseId === undefined || !isRelevant(event)) continue;
      const tracker = this.#releases.get(releaseId);
      if (tracker === undefined) continue; // no ReleaseStarted in the stream: reported on load
      tracker.fold(event);
      this.#reportAlertIssues(tracker);
      const notification = tracker.notificationOf(event);
      if (notification === undefined) continue;
      const maxAgeMs = this.#options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
      const ageMs = this.#now() - event.recordedAt.getTime();
      if (maxAgeMs > 0 && ageMs > maxAgeMs) {
        this.#logger.debug(
          { releaseId, event: event.type, eventId: event.id, ageMs },
          'event too old to notify',
        );
        continue;
      }
      for (const provider of this.#route(notification, tracker)) {
        deliveries.push({ provider, notification });
      }
    }
    await this.#deliver(deliveries, signal);
  }

  /** Reads the context of releases whose `ReleaseStarted` is neither known nor in the batch. */
  async #loadContexts(events: readonly RecordedEvent[], signal: AbortSignal): Promise<void> {
    const firstSeen = new Map<string, RecordedEvent>();
    for (const event of events) {
      const releaseId = releaseIdOf(event);
      if (releaseId === undefined || !isRelevant(event)) continue;
      if (!this.#releases.has(releaseId) && !firstSeen.has(releaseId)) {
        firstSeen.set(releaseId, event);
      }
    }
    for (const [releaseId, event] of firstSeen) {
      const tracker = new ReleaseTracker(releaseId);
      if (event.type !== 'ReleaseStarted' && event.streamVersion > 1n) {
        const history = await this.#options.store.readStream(event.streamId, {
          toVersion: event.streamVersion - 1n,
          signal,
        });
        for (const past of history) tracker.fold(past);
      }
      if (tracker.application === undefined && event.type !== 'ReleaseStarted') {
        this.#logger.error(
          { releaseId, streamId: event.streamId },
          'release stream has no ReleaseStarted event: its events are not notified',
        );
        continue;
      }
      this.#releases.set(releaseId, tracker);
    }
  }

  #route(notification: Notification, tracker: ReleaseTracker): AlertProvider[] {
    const targets = new Map<string, AlertProvider>();
    for (const alert of tracker.alerts) {
      if (!meetsThreshold(notification.severity, alert.severity)) continue;
      const provider = this.#registry.find(alert.providerRef);
      if (provider === undefined) {
        const key = providerKey(alert.providerRef);
        if (!this.#reported.has(`provider:${key}`)) {
          this.#reported.add(`provider:${key}`);
          this.#logger.warn(
            { provider: key, alert: alert.name, releaseId: tracker.releaseId },
            'alert names an unknown provider; its notifications are skipped',
          );
        }
        continue;
      }
      targets.set(providerKey(provider), provider);
    }
    if (notification.severity === Severity.Error) {
      for (const provider of this.#defaults) targets.set(providerKey(provider), provider);
    }
    return [...targets.values()];
  }

  /** Per provider in log order, providers side by side; failures are logged, never thrown. */
  async #deliver(deliveries: readonly Delivery[], signal: AbortSignal): Promise<void> {
    if (deliveries.length === 0) return;
    const byProvider = new Map<string, Delivery[]>();
    for (const d of deliveries) {
      const key = providerKey(d.provider);
      byProvider.set(key, [...(byProvider.get(key) ?? []), d]);
    }
    const errors = await forEachBounded(
      [...byProvider.values()],
      byProvider.size,
      async (queue) => {
        for (const d of queue) await this.#deliverOne(d, signal);
      },
    );
    // Only an abort gets here (#deliverOne logs everything else): let the subscription stop.
    if (errors.length > 0) throw errors[0];
  }

  async #deliverOne({ provider, notification }: Delivery, signal: AbortSignal): Promise<void> {
    const fields = {
      provider: providerKey(provider),
      providerType: provider.type,
      releaseId: notification.releaseId,
      event: notification.event,
      eventId: notification.id,
      severity: notification.severity,
    };
    let result: Awaited<ReturnType<typeof deliverNotification>>;
    try {
      result = await deliverNotification(notification, provider, this.#delivery, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      this.#logger.error(
        { ...fields, err: scrubAddress(errorText(error), provider.address) },
        'notification delivery broke',
      );
      return;
    }
    if (result.ok) {
      this.#logger.info({ ...fields, attempts: result.attempts }, 'notification delivered');
    } else {
      this.#logger.warn(
        { ...fields, attempts: result.attempts, status: result.status, reason: result.reason },
        'notification not delivered; given up',
      );
    }
  }

  #reportAlertIssues(tracker: ReleaseTracker): void {
    if (tracker.alertIssues.length === 0 || this.#reported.has(`release:${tracker.releaseId}`)) {
      return;
    }
    this.#reported.add(`release:${tracker.releaseId}`);
    this.#logger.warn(
      { releaseId: tracker.releaseId, issues: tracker.alertIssues },
      'release spec has alerts that cannot be used',
    );
  }
}

function releaseIdOf(event: RecordedEvent): string | undefined {
  return event.streamId.startsWith(RELEASE_STREAM_PREFIX)
    ? event.streamId.slice(RELEASE_STREAM_PREFIX.length)
    : undefined;
}

function isRelevant(event: RecordedEvent): boolean {
  return CONTEXT_EVENT_TYPES.has(event.type) || NOTIFIED_EVENT_TYPES.has(event.type);
}
