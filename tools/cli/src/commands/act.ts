/**
 * Acting: `apply`, the operator actions on a release, `skip-cluster`, the fleet's `halt` and
 * `resume --fleet`, and manual gates. Every action is recorded by the orchestrator with the
 * token's name as its actor; the CLI prints what was asked, and the effect shows in `get`,
 * `describe` and `watch`.
 */
import type { ReleaseView } from '@aviary/orchestrator/src/ports.ts';
import {
  applicationArg,
  type Context,
  enc,
  noMorePositionals,
  type Outcome,
  positional,
  readInput,
  stringOption,
} from '../context.ts';
import { CliError, ExitCode, usage } from '../exit-codes.ts';
import { table } from '../output.ts';
import { listReleases } from './read.ts';

// ---- apply

const APPLY_USAGE =
  'aviary apply -f FILE|-   (a Rollout, or a Flagger Canary with its MetricTemplates)';

export async function apply(ctx: Context): Promise<Outcome> {
  noMorePositionals(ctx, 0, APPLY_USAGE);
  const document = await readInput(ctx, stringOption(ctx.values, 'filename'), APPLY_USAGE);
  if (document.trim() === '')
    throw usage('the document is empty: give a Rollout or a Flagger Canary');
  const json = /^\s*[{[]/.test(document);
  const result = await ctx.client().request<{
    application: { namespace: string; name: string };
    specHash: string;
    changed: boolean;
    notes: string[];
  }>('POST', '/api/v1/applications', {
    body: document,
    contentType: json ? 'application/json' : 'application/yaml',
  });
  const app = `${result.application.namespace}/${result.application.name}`;
  const text = [
    `rollout.aviary.dev/${app} ${result.changed ? 'configured' : 'unchanged'} (${result.specHash.slice(0, 19)})`,
    ...result.notes.map((n) => `note: ${n}`),
  ].join('\n');
  return { result: { data: result, text } };
}

// ---- actions on a release

/** CLI verb → the API's action. */
const ACTIONS = {
  promote: 'promote',
  pause: 'pause',
  resume: 'resume',
  abort: 'abort',
  rollback: 'rollback',
  retry: 'retry',
} as const;
export type ActionVerb = keyof typeof ACTIONS;
export const ACTION_VERBS = Object.keys(ACTIONS) as ActionVerb[];

async function act(
  ctx: Context,
  releaseId: string,
  action: string,
  cluster: string | undefined,
): Promise<{ releaseId: string }> {
  const reason = stringOption(ctx.values, 'reason');
  return ctx
    .client()
    .postJson<{ releaseId: string }>(`/api/v1/releases/${enc(releaseId)}/actions`, {
      action,
      ...(cluster ? { cluster } : {}),
      ...(reason ? { reason } : {}),
    });
}

export async function releaseAction(ctx: Context, verb: ActionVerb): Promise<Outcome> {
  const usageLine = `aviary ${verb} RELEASE [--cluster CLUSTER] [--reason TEXT]`;
  const releaseId = positional(ctx, 0, 'the release', usageLine);
  noMorePositionals(ctx, 1, usageLine);
  const cluster = stringOption(ctx.values, 'cluster');
  const about = cluster ? `${releaseId} in ${cluster}` : releaseId;
  if (verb === 'retry' && cluster === undefined) {
    // A finished release is retried as a new release; a running one per cluster.
    const release = await ctx.client().get<ReleaseView>(`/api/v1/releases/${enc(releaseId)}`);
    if (release.status === 'finished') {
      const reason = stringOption(ctx.values, 'reason');
      const created = await ctx
        .client()
        .postJson<{ releaseId: string }>(
          `/api/v1/releases/${enc(releaseId)}/retry`,
          reason ? { reason } : {},
        );
      return {
        result: {
          data: { releaseId, action: 'retry', newReleaseId: created.releaseId },
          text: `release ${created.releaseId} started: a retry of ${releaseId} (aviary watch ${created.releaseId})`,
        },
      };
    }
  }
  await act(ctx, releaseId, ACTIONS[verb], cluster);
  return {
    result: {
      data: { releaseId, action: verb, ...(cluster ? { cluster } : {}), accepted: true },
      text: `${verb} of ${about} recorded (aviary describe release ${releaseId} shows its effect)`,
    },
  };
}

const SKIP_USAGE = 'aviary skip-cluster RELEASE CLUSTER [--reason TEXT]';

export async function skipCluster(ctx: Context, requeue = false): Promise<Outcome> {
  const usageLine = requeue ? 'aviary requeue-cluster RELEASE CLUSTER [--reason TEXT]' : SKIP_USAGE;
  const releaseId = positional(ctx, 0, 'the release', usageLine);
  const cluster = positional(ctx, 1, 'the cluster', usageLine);
  noMorePositionals(ctx, 2, usageLine);
  const action = requeue ? 'requeue' : 'skip';
  await act(ctx, releaseId, action, cluster);
  return {
    result: {
      data: { releaseId, action, cluster, accepted: true },
      text: `${requeue ? 'requeue' : 'skip'} of ${cluster} in ${releaseId} recorded`,
    },
  };
}

// ---- the fleet: halt and resume

/**
 * What "halting the fleet" means on top of the API: every release of the scope that is running
 * now is paused (the `pause` action without a cluster: no wave starts, no canary steps). It is
 * not a standing flag: a release that starts after the halt is not paused. `resume --fleet`
 * resumes every paused release of the scope, whoever paused it.
 */
export async function fleet(ctx: Context, change: 'halt' | 'resume'): Promise<Outcome> {
  const usageLine =
    change === 'halt'
      ? 'aviary halt (-A | --application NS/NAME) [--reason TEXT]'
      : 'aviary resume --fleet (-A | --application NS/NAME) [--reason TEXT]';
  noMorePositionals(ctx, 0, usageLine);
  const application = stringOption(ctx.values, 'application');
  if (application === undefined && !ctx.values['all-applications']) {
    throw usage(
      `say which releases to ${change}: every application (-A) or one (--application NS/NAME): ${usageLine}`,
    );
  }
  if (application !== undefined) applicationArg(application);
  const active = await listReleases(ctx.client(), {
    ...(application ? { application } : {}),
    active: true,
    limit: 1000,
  });
  const wanted = change === 'halt' ? 'running' : 'paused';
  const targets = active.filter((r) => r.status === wanted);
  const results: { releaseId: string; result: string }[] = [];
  let failed: CliError | undefined;
  for (const release of targets) {
    try {
      await act(ctx, release.releaseId, change === 'halt' ? 'pause' : 'resume', undefined);
      results.push({
        releaseId: release.releaseId,
        result: change === 'halt' ? 'paused' : 'resumed',
      });
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      if (error.code === ExitCode.Unauthorized || error.code === ExitCode.Unavailable) throw error;
      failed ??= error;
      results.push({
        releaseId: release.releaseId,
        result: `not ${change === 'halt' ? 'paused' : 'resumed'}: ${error.message}`,
      });
    }
  }
  const scope = application ?? 'every application';
  const text =
    results.length === 0
      ? `no ${wanted} release in ${scope}: nothing to ${change}`
      : table(
          ['release', 'result'],
          results.map((r) => [r.releaseId, r.result]),
        );
  return {
    result: { data: { change, scope, releases: results }, text },
    ...(failed ? { exit: failed.code } : {}),
  };
}

// ---- gates

const GATE_USAGE = 'aviary gate open|close|get NAMESPACE/NAME GATE [--reason TEXT]';

export async function gate(ctx: Context): Promise<Outcome> {
  const change = positional(ctx, 0, 'open, close or get', GATE_USAGE);
  const app = applicationArg(positional(ctx, 1, 'the application', GATE_USAGE));
  const name = positional(ctx, 2, 'the gate', GATE_USAGE);
  noMorePositionals(ctx, 3, GATE_USAGE);
  const path = `/api/v1/applications/${enc(app.namespace)}/${enc(app.name)}/gates/${enc(name)}`;
  if (change === 'get') {
    // The application's view, not the gate check route: that one answers a closed gate with
    // 403, which would read as a role problem.
    const view = await ctx
      .client()
      .get<{ gates: Record<string, boolean> }>(
        `/api/v1/applications/${enc(app.namespace)}/${enc(app.name)}`,
      );
    const open = view.gates[name] === true;
    return {
      result: {
        data: { namespace: app.namespace, name: app.name, gate: name, open },
        text: `gate ${name} of ${app.namespace}/${app.name} is ${open ? 'open' : 'closed'}`,
      },
    };
  }
  if (change !== 'open' && change !== 'close') {
    throw usage(`gate ${JSON.stringify(change)}: ${GATE_USAGE}`);
  }
  const reason = stringOption(ctx.values, 'reason');
  const result = await ctx
    .client()
    .postJson<{ open: boolean }>(`${path}/${change}`, reason ? { reason } : {});
  return {
    result: {
      data: result,
      text: `gate ${name} of ${app.namespace}/${app.name} ${result.open ? 'opened' : 'closed'}`,
    },
  };
}
