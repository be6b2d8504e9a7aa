/**
 * `replay` and `what-if`: the decider's own replay of a recorded release, and a re-run of its
 * recorded inputs with another analysis block, both computed by the orchestrator from its log
 * (`GET …/replay`, `POST …/what-if`).
 */
import { parse } from 'yaml';
import {
  type Context,
  enc,
  noMorePositionals,
  type Outcome,
  positional,
  readInput,
  stringOption,
} from '../context.ts';
import { ExitCode, usage } from '../exit-codes.ts';
import { duration, table, time } from '../output.ts';

interface ReplayAnswer {
  readonly releaseId: string;
  readonly events: number;
  readonly ok: boolean;
  readonly divergence?: {
    readonly index: number;
    readonly streamVersion: number;
    readonly message: string;
    readonly recorded?: { readonly type: string; readonly data: unknown };
    readonly rederived?: { readonly type: string; readonly data: unknown };
  };
}

const REPLAY_USAGE = 'aviary replay RELEASE';

export async function replayCommand(ctx: Context): Promise<Outcome> {
  const releaseId = positional(ctx, 0, 'the release', REPLAY_USAGE);
  noMorePositionals(ctx, 1, REPLAY_USAGE);
  const answer = await ctx.client().get<ReplayAnswer>(`/api/v1/releases/${enc(releaseId)}/replay`);
  if (answer.ok) {
    return {
      result: {
        data: answer,
        text: `replay of ${releaseId}: OK, the decider re-derived all ${answer.events} recorded events identically`,
      },
    };
  }
  const d = answer.divergence;
  const lines = [
    `replay of ${releaseId}: DIVERGED at event ${d?.streamVersion ?? '?'} of ${answer.events}`,
    `  ${d?.message ?? ''}`,
    `  recorded:    ${d?.recorded ? `${d.recorded.type} ${JSON.stringify(d.recorded.data)}` : '(nothing)'}`,
    `  re-derived:  ${d?.rederived ? `${d.rederived.type} ${JSON.stringify(d.rederived.data)}` : '(nothing)'}`,
  ];
  return { result: { data: answer, text: lines.join('\n') }, exit: ExitCode.ReplayDiverged };
}

// ---- what-if

interface Outcome_ {
  readonly kind: string;
  readonly atMs: number;
  readonly at?: string;
  readonly afterDivergence: boolean;
}
interface WhatIfAnswer {
  readonly releaseId: string;
  readonly change: string;
  readonly lines: readonly string[];
  readonly skippedInputs: number;
  readonly clusters: readonly {
    readonly cluster: string;
    readonly divergence?: {
      readonly at?: string;
      readonly recorded?: { readonly index: number; readonly type: string };
      readonly changed?: { readonly index: number; readonly type: string };
    };
    readonly recorded: { readonly outcome?: Outcome_; readonly weights: readonly number[] };
    readonly changed: { readonly outcome?: Outcome_; readonly weights: readonly number[] };
  }[];
}

const WHAT_IF_USAGE = 'aviary what-if RELEASE -f analysis.yaml';

/**
 * The analysis block of the file: its top level (`threshold: 1`), an `analysis:` key, or a whole
 * Rollout (its `spec.analysis`).
 */
export function analysisOf(document: unknown): Record<string, unknown> {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(document)) {
    throw usage(
      'the what-if file must hold an analysis block (e.g. "threshold: 1"), an "analysis:" key, or a Rollout',
    );
  }
  const spec = document.spec;
  if (isObject(spec) && isObject(spec.analysis)) return spec.analysis;
  if (isObject(document.analysis) && Object.keys(document).length === 1) return document.analysis;
  return document;
}

export async function whatIfCommand(ctx: Context): Promise<Outcome> {
  const releaseId = positional(ctx, 0, 'the release', WHAT_IF_USAGE);
  noMorePositionals(ctx, 1, WHAT_IF_USAGE);
  const text = await readInput(ctx, stringOption(ctx.values, 'filename'), WHAT_IF_USAGE);
  let document: unknown;
  try {
    document = parse(text, { schema: 'core', uniqueKeys: true });
  } catch (error) {
    throw usage(`the what-if file is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const analysis = analysisOf(document);
  const answer = await ctx
    .client()
    .postJson<WhatIfAnswer>(`/api/v1/releases/${enc(releaseId)}/what-if`, { analysis });
  const outcome = (o: Outcome_ | undefined, start: number) =>
    o === undefined
      ? 'no outcome'
      : `${o.kind}${o.atMs > 0 && start > 0 ? ` at +${duration(o.atMs - start)}` : ''}${o.afterDivergence ? ' (estimate)' : ''}`;
  const start = Math.min(
    ...answer.clusters.flatMap((c) =>
      [c.recorded.outcome?.atMs, c.changed.outcome?.atMs].filter((n): n is number => !!n),
    ),
    Number.MAX_SAFE_INTEGER,
  );
  const first = answer.clusters
    .map((c) => (c.divergence?.at ? Date.parse(c.divergence.at) : Number.NaN))
    .filter((n) => !Number.isNaN(n));
  const t0 = Math.min(start, ...first);
  const rows = answer.clusters.map((c) => [
    c.cluster === '' ? '(release)' : c.cluster,
    `${outcome(c.recorded.outcome, t0)}; weights ${c.recorded.weights.join(',') || '-'}`,
    `${outcome(c.changed.outcome, t0)}; weights ${c.changed.weights.join(',') || '-'}`,
    c.divergence
      ? `${time(c.divergence.at)}: ${c.divergence.recorded?.type ?? 'nothing'} → ${c.divergence.changed?.type ?? 'nothing'}`
      : 'none',
  ]);
  const diverged = answer.clusters.filter((c) => c.divergence !== undefined).length;
  const lines = [
    `what-if ${releaseId} with ${answer.change}: ${diverged === 0 ? 'no divergence' : `${diverged} of ${answer.clusters.length} decision streams diverge`}`,
    '',
    table(
      ['cluster', 'recorded', 'with the change', 'first divergence (recorded → changed)'],
      rows,
    ).trimEnd(),
    '',
    ...answer.lines,
    ...(answer.skippedInputs > 0
      ? [`${answer.skippedInputs} recorded input(s) did not apply to the changed run (skipped)`]
      : []),
  ];
  return { result: { data: answer, text: lines.join('\n') } };
}
