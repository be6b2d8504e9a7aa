/**
 * Reading: `get releases|clusters|canaries|applications`, `describe release`, `history`. Tables
 * in the style of `kubectl get canaries -A`; `-o json|yaml` prints the API's views as they are.
 */
import type {
  ApplicationView,
  CanaryView,
  ClusterView,
  ReleaseView,
  TimelineEntry,
} from '@aviary/orchestrator/src/ports.ts';
import type { ApiClient } from '../client.ts';
import {
  applicationArg,
  type Context,
  enc,
  noMorePositionals,
  type Outcome,
  positional,
  stringOption,
} from '../context.ts';
import { usage } from '../exit-codes.ts';
import { duration, enumWord, outcomeWord, phaseWord, table, time } from '../output.ts';

/** The phase of a release in one word: Running, Paused, Halted, or its outcome once finished. */
export function releasePhase(release: ReleaseView): string {
  if (release.status === 'finished') return outcomeWord(release.outcome) || 'Finished';
  return enumWord(release.status, '');
}

function waveText(release: ReleaseView): string {
  const wave = release.waves[release.currentWave];
  if (wave === undefined) return release.currentWave < 0 ? '-' : String(release.currentWave);
  return `${release.currentWave + 1}/${release.waves.length} ${wave.name}`;
}

function limitOf(ctx: Context): number {
  const text = stringOption(ctx.values, 'limit') ?? '100';
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw usage(`--limit ${text}: must be a whole number from 1 to 1000`);
  }
  return limit;
}

export async function listReleases(
  client: ApiClient,
  filter: { application?: string; active?: boolean; limit?: number },
): Promise<ReleaseView[]> {
  const query = new URLSearchParams();
  if (filter.application) query.set('application', filter.application);
  if (filter.active !== undefined) query.set('active', String(filter.active));
  if (filter.limit !== undefined) query.set('limit', String(filter.limit));
  const q = query.toString();
  const { releases } = await client.get<{ releases: ReleaseView[] }>(
    `/api/v1/releases${q ? `?${q}` : ''}`,
  );
  return releases;
}

function applicationFilter(ctx: Context): string | undefined {
  const value = stringOption(ctx.values, 'application');
  if (value === undefined) return undefined;
  applicationArg(value);
  return value;
}

const GET_USAGE = 'aviary get releases|clusters|canaries|applications [-A | --application NS/NAME]';

export async function get(ctx: Context): Promise<Outcome> {
  const what = positional(ctx, 0, 'what to get', GET_USAGE);
  noMorePositionals(ctx, 1, GET_USAGE);
  const client = ctx.client();
  const application = applicationFilter(ctx);
  switch (what) {
    case 'release':
    case 'releases':
    case 'rel': {
      const releases = await listReleases(client, {
        ...(application ? { application } : {}),
        ...(ctx.values.active ? { active: true } : {}),
        limit: limitOf(ctx),
      });
      return { result: { data: { releases }, text: releasesTable(releases) } };
    }
    case 'cluster':
    case 'clusters': {
      const { clusters } = await client.get<{ clusters: ClusterView[] }>('/api/v1/clusters');
      return { result: { data: { clusters }, text: clustersTable(clusters) } };
    }
    case 'canary':
    case 'canaries': {
      const releaseId = stringOption(ctx.values, 'release');
      const releases = releaseId
        ? [await client.get<ReleaseView>(`/api/v1/releases/${enc(releaseId)}`)]
        : await latestReleases(client, application);
      const canaries: (CanaryView & { application: ReleaseView['application'] })[] = [];
      for (const release of releases) {
        const { canaries: list } = await client.get<{ canaries: CanaryView[] }>(
          `/api/v1/releases/${enc(release.releaseId)}/canaries`,
        );
        canaries.push(...list.map((c) => ({ ...c, application: release.application })));
      }
      return { result: { data: { canaries }, text: canariesTable(canaries) } };
    }
    case 'application':
    case 'applications':
    case 'app':
    case 'apps': {
      let { applications } = await client.get<{ applications: ApplicationView[] }>(
        '/api/v1/applications',
      );
      if (application) {
        applications = applications.filter((a) => `${a.namespace}/${a.name}` === application);
      }
      return { result: { data: { applications }, text: applicationsTable(applications) } };
    }
    default:
      throw usage(`cannot get ${JSON.stringify(what)}: ${GET_USAGE}`);
  }
}

/** Each application's latest release (running or not): its canaries are "the" canaries now. */
async function latestReleases(client: ApiClient, application: string | undefined) {
  const apps = application
    ? [application]
    : (
        await client.get<{ applications: ApplicationView[] }>('/api/v1/applications')
      ).applications.map((a) => `${a.namespace}/${a.name}`);
  const out: ReleaseView[] = [];
  for (const app of apps) {
    const [latest] = await listReleases(client, { application: app, limit: 1 });
    if (latest !== undefined) out.push(latest);
  }
  return out;
}

const none = (what: string) => `No ${what} found.\n`;

export function releasesTable(releases: readonly ReleaseView[]): string {
  if (releases.length === 0) return none('releases');
  return table(
    ['namespace', 'name', 'release', 'revision', 'phase', 'wave', 'started', 'lastTransitionTime'],
    releases.map((r) => [
      r.application.namespace,
      r.application.name,
      r.releaseId,
      r.revisionId,
      releasePhase(r),
      waveText(r),
      time(r.startedAt),
      time(r.updatedAt),
    ]),
  );
}

function clustersTable(clusters: readonly ClusterView[]): string {
  if (clusters.length === 0) return none('clusters');
  return table(
    ['name', 'labels', 'agent', 'lease', 'lastHeartbeat'],
    clusters.map((c) => [
      c.name,
      Object.entries(c.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '<none>',
      c.agentVersion,
      duration(c.leaseMs),
      time(c.lastHeartbeatAt),
    ]),
  );
}

export function canariesTable(
  canaries: readonly (CanaryView & { application?: ReleaseView['application'] })[],
): string {
  if (canaries.length === 0) return none('canaries');
  return table(
    ['namespace', 'name', 'cluster', 'release', 'phase', 'weight', 'failed', 'lastTransitionTime'],
    canaries.map((c) => [
      c.application?.namespace ?? '',
      c.application?.name ?? '',
      c.cluster,
      c.releaseId,
      canaryPhase(c),
      String(c.canaryWeightPercent),
      String(c.failedChecks),
      time(c.updatedAt),
    ]),
  );
}

export function canaryPhase(c: CanaryView): string {
  const phase = phaseWord(c.phase) || 'Pending';
  // Halt-and-revert outlives the phase (the canary is Succeeded, its primary put back).
  if (c.revert !== undefined) {
    return `${phase} (${c.revert.status === 'failed' ? 'revert failed' : c.revert.status})`;
  }
  if (c.skipped) return `${phase} (skipped)`;
  if (c.paused) return `${phase} (paused)`;
  return phase;
}

function applicationsTable(applications: readonly ApplicationView[]): string {
  if (applications.length === 0) return none('applications');
  return table(
    ['namespace', 'name', 'activeRelease', 'appliedBy', 'appliedAt', 'gates'],
    applications.map((a) => [
      a.namespace,
      a.name,
      a.activeReleaseId ?? '-',
      a.appliedBy,
      time(a.appliedAt),
      Object.entries(a.gates)
        .map(([g, open]) => `${g}=${open ? 'open' : 'closed'}`)
        .join(',') || '-',
    ]),
  );
}

// ---- describe

const DESCRIBE_USAGE = 'aviary describe release RELEASE [--ticks]';

/** Every timeline entry of a release, page by page. */
export async function fullTimeline(client: ApiClient, releaseId: string): Promise<TimelineEntry[]> {
  const entries: TimelineEntry[] = [];
  for (;;) {
    const after = entries.at(-1)?.streamVersion ?? 0;
    const page = await client.get<{ entries: TimelineEntry[] }>(
      `/api/v1/releases/${enc(releaseId)}/timeline?after=${after}&limit=1000`,
    );
    if (page.entries.length === 0) return entries;
    entries.push(...page.entries);
  }
}

export async function describe(ctx: Context): Promise<Outcome> {
  const kind = positional(ctx, 0, 'what to describe', DESCRIBE_USAGE);
  if (kind !== 'release' && kind !== 'releases' && kind !== 'rel') {
    throw usage(`cannot describe ${JSON.stringify(kind)}: ${DESCRIBE_USAGE}`);
  }
  const releaseId = positional(ctx, 1, 'the release', DESCRIBE_USAGE);
  noMorePositionals(ctx, 2, DESCRIBE_USAGE);
  const client = ctx.client();
  const release = await client.get<ReleaseView>(`/api/v1/releases/${enc(releaseId)}`);
  const { canaries } = await client.get<{ canaries: CanaryView[] }>(
    `/api/v1/releases/${enc(releaseId)}/canaries`,
  );
  const timeline = await fullTimeline(client, releaseId);
  const shown = ctx.values.ticks ? timeline : timeline.filter((e) => e.type !== 'TickRecorded');
  const lines = [
    `Release:       ${release.releaseId}`,
    `Application:   ${release.application.namespace}/${release.application.name}`,
    `Revision:      ${release.revisionId}`,
    `Phase:         ${releasePhase(release)}`,
    ...(release.reason ? [`Reason:        ${release.reason}`] : []),
    `Started:       ${time(release.startedAt)}`,
    ...(release.finishedAt
      ? [
          `Finished:      ${time(release.finishedAt)} (after ${duration(Date.parse(release.finishedAt) - Date.parse(release.startedAt))})`,
        ]
      : []),
    'Waves:',
    ...release.waves.map(
      (w, i) =>
        `  ${i + 1}. ${w.name.padEnd(12)} ${w.status.padEnd(10)} ${w.clusters.join(', ') || '(no cluster)'}`,
    ),
    'Canaries:',
    indent(
      canaries.length === 0
        ? 'none yet\n'
        : table(
            ['cluster', 'phase', 'weight', 'failed', 'iterations', 'lastTransitionTime', 'reason'],
            canaries.map((c) => [
              c.cluster,
              canaryPhase(c),
              String(c.canaryWeightPercent),
              String(c.failedChecks),
              String(c.iterations),
              time(c.updatedAt),
              c.lastReason ?? '',
            ]),
          ),
    ),
    `Events (${shown.length}${shown.length === timeline.length ? '' : ` of ${timeline.length}; --ticks shows the ticks`}):`,
    indent(
      shown.length === 0
        ? 'none\n'
        : table(
            ['version', 'time', 'cluster', 'actor', 'event'],
            shown.map((e) => [
              String(e.streamVersion),
              time(e.recordedAt),
              e.cluster ?? '',
              e.actor ?? '',
              [e.summary, ...evidenceLines(e)].join('\n'),
            ]),
          ),
    ),
  ];
  return {
    result: { data: { release, canaries, timeline: shown }, text: `${lines.join('\n')}\n` },
  };
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

interface Evidence {
  value?: number;
  thresholdRange?: { min?: number; max?: number };
  lowerBound?: number;
  upperBound?: number;
  canary?: { totalCount?: string | number; badCount?: string | number };
  primary?: { totalCount?: string | number; badCount?: string | number };
  windowStart?: string;
  windowEnd?: string;
}

/** The metric evidence of a verdict, one line (empty for other events). */
export function evidenceLines(entry: Pick<TimelineEntry, 'type' | 'data'>): string[] {
  if (entry.type !== 'AnalysisVerdictRecorded') return [];
  const evidence = (entry.data as { verdict?: { evidence?: Evidence } }).verdict?.evidence;
  if (evidence === undefined) return [];
  const parts: string[] = [];
  if (evidence.value !== undefined) parts.push(`value ${round(evidence.value)}`);
  const range = evidence.thresholdRange;
  if (range && (range.min !== undefined || range.max !== undefined)) {
    parts.push(
      `threshold ${[range.min === undefined ? '' : `min ${range.min}`, range.max === undefined ? '' : `max ${range.max}`].filter(Boolean).join(' ')}`,
    );
  }
  if (evidence.lowerBound !== undefined || evidence.upperBound !== undefined) {
    parts.push(`bounds [${round(evidence.lowerBound)}, ${round(evidence.upperBound)}]`);
  }
  for (const side of ['canary', 'primary'] as const) {
    const counts = evidence[side];
    if (counts) parts.push(`${side} ${counts.badCount ?? 0}/${counts.totalCount ?? 0} bad`);
  }
  if (evidence.windowStart && evidence.windowEnd) {
    parts.push(`window ${time(evidence.windowStart)}..${time(evidence.windowEnd)}`);
  }
  return parts.length === 0 ? [] : [`  evidence: ${parts.join(', ')}`];
}

const round = (n: number | undefined) =>
  n === undefined ? '?' : String(Math.round(n * 1000) / 1000);

// ---- history

const HISTORY_USAGE = 'aviary history NAMESPACE/NAME [--limit N]';

export async function history(ctx: Context): Promise<Outcome> {
  const application = positional(ctx, 0, 'the application', HISTORY_USAGE);
  noMorePositionals(ctx, 1, HISTORY_USAGE);
  applicationArg(application);
  const client = ctx.client();
  // The application itself first: an unknown one is "not found", not an empty history.
  await client.get(`/api/v1/applications/${application.split('/').map(enc).join('/')}`);
  const releases = await listReleases(client, { application, limit: limitOf(ctx) });
  const text =
    releases.length === 0
      ? none('releases')
      : table(
          ['release', 'revision', 'phase', 'started', 'finished', 'took', 'reason'],
          releases.map((r) => [
            r.releaseId,
            r.revisionId,
            releasePhase(r),
            time(r.startedAt),
            time(r.finishedAt),
            r.finishedAt ? duration(Date.parse(r.finishedAt) - Date.parse(r.startedAt)) : '-',
            r.reason ?? '',
          ]),
        );
  return { result: { data: { releases }, text } };
}
