/**
 * `watch [RELEASE]`: live progress of a release, a bar per cluster under its wave, until the
 * release finishes; the exit code says how it ended (0 succeeded, 10 failed, 11 aborted or
 * superseded). The release's event stream (server-sent events) says when something happened;
 * the picture is then read from the API's views, so it is what `get` and `describe` show. A slow
 * poll backs the stream up (the views may trail the log by a moment), and a stream the server
 * ends (overflow, restart) is followed again from the last event received.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApplicationView, CanaryView, ReleaseView } from '@aviary/orchestrator/src/ports.ts';
import { stringify } from 'yaml';
import type { ApiClient } from '../client.ts';
import { type Context, enc, noMorePositionals, type Outcome, stringOption } from '../context.ts';
import { CliError, ExitCode, usage } from '../exit-codes.ts';
import { bar, time } from '../output.ts';
import { canaryPhase, listReleases, releasePhase } from './read.ts';

const WATCH_USAGE = 'aviary watch [RELEASE] [--application NS/NAME]';
/** At most one redraw this often; and one at least this often without events. */
const MIN_REDRAW_MS = 200;
const POLL_MS = 2000;

interface Snapshot {
  readonly release: ReleaseView;
  readonly canaries: readonly CanaryView[];
}

async function pickRelease(ctx: Context, client: ApiClient): Promise<string> {
  const given = ctx.positionals[0];
  if (given) return given;
  const application = stringOption(ctx.values, 'application');
  const active = await listReleases(client, {
    ...(application ? { application } : {}),
    active: true,
    limit: 1000,
  });
  const [only] = active;
  if (only === undefined) {
    throw new CliError(
      ExitCode.NotFound,
      `no release is running${application ? ` in ${application}` : ''}: name one (aviary get releases lists them)`,
    );
  }
  if (active.length > 1) {
    throw usage(
      `${active.length} releases are running (${active.map((r) => r.releaseId).join(', ')}): name one, or pass --application`,
    );
  }
  return only.releaseId;
}

export async function watch(ctx: Context): Promise<Outcome> {
  noMorePositionals(ctx, 1, WATCH_USAGE);
  const client = ctx.client();
  const releaseId = await pickRelease(ctx, client);
  const first = await client.get<ReleaseView>(`/api/v1/releases/${enc(releaseId)}`);
  const maxWeight = await maxWeightOf(client, first);

  const stop = new AbortController();
  let wake: (() => void) | undefined;
  let streamError: unknown;
  const changed = () => {
    wake?.();
    wake = undefined;
  };
  const follow = (async () => {
    let lastId: string | undefined;
    while (!stop.signal.aborted) {
      try {
        for await (const message of client.events(
          `/api/v1/releases/${enc(releaseId)}/events`,
          stop.signal,
          lastId,
        )) {
          if (message.id !== undefined) lastId = message.id;
          if (message.event === 'error') {
            throw new CliError(ExitCode.Unavailable, `the event stream failed: ${message.data}`);
          }
          changed();
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        streamError = error;
        changed();
        return;
      }
      // The server ended the stream (overflow, shutdown): follow it again from where it was.
      if (!stop.signal.aborted)
        await sleep(200, undefined, { signal: stop.signal }).catch(() => {});
    }
  })();

  let previous = '';
  let drawnLines = 0;
  let snapshot: Snapshot | undefined;
  try {
    for (;;) {
      const drawStarted = Date.now();
      snapshot = {
        release: await client.get<ReleaseView>(`/api/v1/releases/${enc(releaseId)}`),
        canaries: (
          await client.get<{ canaries: CanaryView[] }>(
            `/api/v1/releases/${enc(releaseId)}/canaries`,
          )
        ).canaries,
      };
      const text = picture(snapshot, maxWeight);
      if (text !== previous) {
        previous = text;
        if (ctx.format === 'json') ctx.io.out(`${JSON.stringify(snapshot)}\n`);
        else if (ctx.format === 'yaml') ctx.io.out(`---\n${stringify(snapshot, { lineWidth: 0 })}`);
        else if (ctx.io.isTTY) {
          // Redraw in place: back to the first line of the last picture, clear below.
          ctx.io.out(`${drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[0J` : ''}${text}`);
          drawnLines = text.split('\n').length - 1;
        } else ctx.io.out(`${text}\n`);
      }
      if (snapshot.release.status === 'finished') break;
      if (streamError !== undefined) throw streamError;
      const wait = new Promise<void>((resolve) => {
        wake = resolve;
      });
      await Promise.race([wait, sleep(POLL_MS, undefined, { ref: false })]);
      const spent = Date.now() - drawStarted;
      if (spent < MIN_REDRAW_MS) await sleep(MIN_REDRAW_MS - spent);
    }
  } finally {
    stop.abort();
    await follow;
  }
  if (snapshot === undefined) throw new Error('watch ended without a picture');
  const { release } = snapshot;
  const outcome = release.outcome ?? '';
  const exit =
    outcome === 'RELEASE_OUTCOME_SUCCEEDED'
      ? ExitCode.Ok
      : outcome === 'RELEASE_OUTCOME_FAILED'
        ? ExitCode.ReleaseFailed
        : ExitCode.ReleaseAborted;
  if (ctx.format === 'table') {
    ctx.io.out(
      `release ${release.releaseId} ${releasePhase(release).toLowerCase()}${release.reason ? `: ${release.reason}` : ''}\n`,
    );
  }
  return { exit };
}

/** The weight at which a canary has gone all the way (for its bar): the spec's top step. */
async function maxWeightOf(client: ApiClient, release: ReleaseView): Promise<number> {
  try {
    const app = await client.get<ApplicationView>(
      `/api/v1/applications/${enc(release.application.namespace)}/${enc(release.application.name)}`,
    );
    const analysis = (
      app.spec.spec as { analysis?: { maxWeight?: number; stepWeights?: number[] } }
    )?.analysis;
    const steps = analysis?.stepWeights ?? [];
    const top = steps.length > 0 ? Math.max(...steps) : (analysis?.maxWeight ?? 100);
    return top > 0 ? top : 100;
  } catch {
    return 100;
  }
}

/** The picture: the release's line, then each wave with a bar per cluster. */
export function picture({ release, canaries }: Snapshot, maxWeight: number): string {
  const byCluster = new Map(canaries.map((c) => [c.cluster, c]));
  const lines = [
    `release ${release.releaseId}  revision ${release.revisionId}  ${releasePhase(release)}  (updated ${time(release.updatedAt)})`,
  ];
  const width = Math.max(4, ...release.waves.flatMap((w) => w.clusters.map((c) => c.length)));
  release.waves.forEach((wave, i) => {
    lines.push(`  wave ${i + 1}/${release.waves.length} ${wave.name}: ${wave.status}`);
    for (const cluster of wave.clusters) {
      const canary = byCluster.get(cluster);
      if (canary === undefined) {
        lines.push(`    ${cluster.padEnd(width)}  ${bar(0)}    -  pending`);
        continue;
      }
      const done = canary.phase === 'CANARY_PHASE_SUCCEEDED';
      const fraction = done ? 1 : canary.canaryWeightPercent / maxWeight;
      const shown = done ? 'done' : `${String(canary.canaryWeightPercent).padStart(3)}%`;
      const failed = canary.failedChecks > 0 ? `  failed checks ${canary.failedChecks}` : '';
      lines.push(
        `    ${cluster.padEnd(width)}  ${bar(fraction)} ${shown.padStart(4)}  ${canaryPhase(canary)}${failed}`,
      );
    }
  });
  return lines.join('\n');
}
