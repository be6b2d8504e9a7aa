/**
 * The timeline `aviary dev` prints: a subscription to the event log from its head, a line per
 * event that tells the story, in the projections' words (`summarize`). It is read from the log as
 * it is recorded, never written by the story itself.
 *
 * Revisions are the agents' ids (a hash of the pod template and tracked configs, the Flagger
 * way), which mean little to a person: the story says which version it rolled out (`expect`), and
 * the next release created for an unknown revision is shown under that name.
 */
import type { EventStore, RecordedEvent, Subscription } from '@aviary/event-store';
import type { ReleaseCreatedJson, ReleaseFinishedJson, ReleaseStartedJson } from '@aviary/proto';
import { findLogHead } from '../api/index.ts';
import { clusterOf, summarize } from '../projections/summary.ts';

export type Say = (fields: Readonly<Record<string, unknown>>, text: string, at?: Date) => void;

/** Release-stream events worth a line (the rest are inputs and effects: see the API's timeline). */
const SHOWN = new Set([
  'ReleaseStarted',
  'WaveStarted',
  'WaveBaking',
  'WaveSucceeded',
  'ClusterCanaryInitialized',
  'CanaryWeightApplied',
  'CanaryCheckFailed',
  'CanaryCheckHeld',
  'CanaryPromoted',
  'CanaryRolledBack',
  'ClusterSkipped',
  'ClusterRequeued',
  'FleetHalted',
  'OperatorActionRecorded',
  'ReleasePaused',
  'ReleaseResumed',
  'ReleaseFinished',
]);

export interface ReleaseSeen {
  readonly releaseId: string;
  /** The agents' revision id. */
  readonly revision: string;
  /** The version the story rolled out (`v2`), or the revision id when it was not expected. */
  readonly version: string;
  readonly waves: string[];
  outcome?: string;
  reason?: string;
  finishedAt?: RecordedEvent['position'];
}

export class Timeline {
  readonly releases = new Map<string, ReleaseSeen>();
  readonly #say: Say;
  readonly #names = new Map<string, string>();
  readonly #expected: string[] = [];
  #subscription: Subscription | undefined;
  #waiters: { version: string; resolve: (release: ReleaseSeen) => void }[] = [];

  constructor(say: Say) {
    this.#say = say;
  }

  start(store: EventStore, from: RecordedEvent['position'], onError: Say): void {
    this.#subscription = store.subscribe({
      from,
      handler: async (events) => {
        for (const event of events) this.#print(event);
      },
      onError: (error, attempt) => onError({ err: error, attempt }, 'timeline: retrying'),
    });
  }

  async stop(): Promise<void> {
    await this.#subscription?.stop();
  }

  /** Resolves once everything recorded so far is printed (so that the story's lines follow it). */
  async settled(store: EventStore, signal: AbortSignal): Promise<void> {
    await this.#subscription?.waitFor(await findLogHead(store, signal), signal);
  }

  /** The next release created for a revision not seen before is `version`'s. */
  expect(version: string): void {
    this.#expected.push(version);
  }

  /** Resolves once the release of `version` has finished (as recorded in the log). */
  finished(version: string, signal: AbortSignal): Promise<ReleaseSeen> {
    const done = [...this.releases.values()].find(
      (r) => r.version === version && r.outcome !== undefined,
    );
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const waiter = { version, resolve };
      this.#waiters.push(waiter);
      signal.addEventListener(
        'abort',
        () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  #versionOf(revision: string): string {
    let name = this.#names.get(revision);
    if (name === undefined) {
      name = this.#expected.shift() ?? revision;
      this.#names.set(revision, name);
    }
    return name;
  }

  /** `primary runs fcec1aa13bdeceba` → `primary runs v1`. */
  #named(text: string): string {
    let named = text;
    for (const [revision, version] of this.#names) {
      if (revision !== version) named = named.replaceAll(revision, version);
    }
    return named;
  }

  #print(event: RecordedEvent): void {
    const say = this.#say;
    const { streamId, type, data } = event;
    if (streamId.startsWith('cluster-')) {
      const heartbeat = (data as { observation?: { heartbeat?: { labels?: object } } }).observation
        ?.heartbeat;
      // Recorded when something changed (or a minute passed): the first one registers the cluster.
      if (heartbeat !== undefined && event.streamVersion === 1n) {
        const cluster = streamId.slice('cluster-'.length);
        const labels = Object.entries(heartbeat.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
        say(
          { timeline: true, cluster, type: 'ClusterRegistered', labels: heartbeat.labels },
          `cluster ${cluster} registered (${labels || 'no labels'})`,
          event.recordedAt,
        );
      }
      return;
    }
    if (streamId.startsWith('rollout-')) {
      if (type === 'RolloutSpecApplied') {
        const application = streamId.slice('rollout-'.length).replace('.', '/');
        say(
          { timeline: true, application, type, actor: event.metadata.actor },
          `Rollout ${application} applied by ${event.metadata.actor ?? 'someone'}`,
          event.recordedAt,
        );
      } else if (type === 'ReleaseCreated') {
        const d = data as ReleaseCreatedJson;
        const releaseId = d.releaseId ?? '?';
        const revision = d.revision?.id ?? '?';
        const version = this.#versionOf(revision);
        this.releases.set(releaseId, { releaseId, revision, version, waves: [] });
        const seen = d.cluster ? `seen in ${d.cluster}` : (d.reason ?? '');
        const why = version === revision ? seen : `revision ${revision}${seen ? `, ${seen}` : ''}`;
        say(
          { timeline: true, release: releaseId, type, revision, version },
          `${releaseId}  release created for ${version}${why ? ` (${why})` : ''}`,
          event.recordedAt,
        );
      }
      return;
    }
    if (!streamId.startsWith('release-') || !SHOWN.has(type)) return;
    const releaseId = streamId.slice('release-'.length);
    const release = this.releases.get(releaseId);
    if (type === 'ReleaseStarted' && release !== undefined) {
      release.waves.splice(
        0,
        release.waves.length,
        ...((data as ReleaseStartedJson).waves ?? []).map((w) => w.name ?? '?'),
      );
    }
    const summary = this.#named(
      summarize(type, data, event.metadata.actor, {
        waveName: (index) => release?.waves[index],
      }),
    );
    const fields: Record<string, unknown> = { timeline: true, release: releaseId, type };
    const cluster = clusterOf(data);
    if (cluster !== undefined) fields.cluster = cluster;
    if (type === 'ReleaseFinished') {
      const d = data as ReleaseFinishedJson;
      fields.outcome = d.outcome;
      fields.version = release?.version;
    }
    say(fields, `${releaseId}  ${summary}`, event.recordedAt);
    if (type === 'ReleaseFinished' && release !== undefined) {
      const d = data as ReleaseFinishedJson;
      release.outcome = d.outcome ?? 'RELEASE_OUTCOME_UNSPECIFIED';
      if (d.reason) release.reason = d.reason;
      release.finishedAt = event.position;
      for (const waiter of this.#waiters.filter((w) => w.version === release.version)) {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        waiter.resolve(release);
      }
    }
  }
}

/** `RELEASE_OUTCOME_SUCCEEDED` → `succeeded`. */
export const outcomeWord = (outcome: string | undefined): string =>
  (outcome ?? 'unknown').replace(/^RELEASE_OUTCOME_/, '').toLowerCase();
