/**
 * Commands that need no server: `import flagger` (the Rollout a Flagger Canary becomes, with the
 * import's notes, computed here by `@aviary/decider` exactly as the orchestrator would on
 * `apply`), and `dev` (the embedded system of this repository, `services/orchestrator/src/dev.ts`).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { importFlaggerCanary } from '@aviary/decider';
import { stringify } from 'yaml';
import {
  type Context,
  noMorePositionals,
  type Outcome,
  positional,
  readInput,
  stringOption,
} from '../context.ts';
import { CliError, ExitCode, usage } from '../exit-codes.ts';

const IMPORT_USAGE =
  'aviary import flagger -f canary.yaml [--mesh-provider P] [--metrics-server URL]';

export async function importCommand(ctx: Context): Promise<Outcome> {
  const kind = positional(ctx, 0, 'what to import (flagger)', IMPORT_USAGE);
  if (kind !== 'flagger') throw usage(`cannot import ${JSON.stringify(kind)}: ${IMPORT_USAGE}`);
  noMorePositionals(ctx, 1, IMPORT_USAGE);
  const text = await readInput(ctx, stringOption(ctx.values, 'filename'), IMPORT_USAGE);
  const meshProvider = stringOption(ctx.values, 'mesh-provider');
  const metricsServer = stringOption(ctx.values, 'metrics-server');
  let imported: ReturnType<typeof importFlaggerCanary>;
  try {
    imported = importFlaggerCanary(text, [], {
      ...(meshProvider ? { meshProvider } : {}),
      ...(metricsServer ? { metricsServer } : {}),
    });
  } catch (error) {
    const issues = (error as { issues?: { path: string; message: string }[] }).issues ?? [];
    throw new CliError(
      ExitCode.Usage,
      `${(error as Error).message}${issues.map((i) => `\n  ${i.path || '(document)'}: ${i.message}`).join('')}`,
    );
  }
  const notes = imported.notes.map((n) => `${n.path}: ${n.message}`);
  const header = [
    '# The Aviary Rollout this Flagger Canary becomes (aviary import flagger).',
    ...(notes.length > 0
      ? ['# Import notes:', ...notes.map((n) => `#   ${n}`)]
      : ['# Import notes: none']),
    ...(imported.metricTemplates.length > 0
      ? [
          `# MetricTemplates read: ${imported.metricTemplates.map((t) => `${t.metadata.namespace}/${t.metadata.name}`).join(', ')}`,
        ]
      : []),
  ];
  const data = { rollout: imported.rollout, metricTemplates: imported.metricTemplates, notes };
  // The default output is the Rollout as YAML, ready for `aviary apply -f -`.
  const text_ = `${header.join('\n')}\n${stringify(imported.rollout, { lineWidth: 0 })}`;
  return { result: { data, text: text_ } };
}

const DEV_USAGE = 'aviary dev [--port N]';

/** Runs the embedded system in the foreground, with this process's environment; its exit code. */
export async function dev(ctx: Context): Promise<Outcome> {
  noMorePositionals(ctx, 0, DEV_USAGE);
  const script = fileURLToPath(
    new URL('../../../../services/orchestrator/src/dev.ts', import.meta.url),
  );
  const port = stringOption(ctx.values, 'port');
  if (port !== undefined && !/^\d{1,5}$/.test(port))
    throw usage(`--port ${port}: must be a port number`);
  const env = { ...ctx.io.env, ...(port === undefined ? {} : { AVIARY_HTTP_PORT: port }) };
  const child = spawn(process.execPath, [script], { stdio: 'inherit', env, cwd: ctx.io.cwd });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (status, signal) => resolve(status ?? (signal ? 128 + 2 : 1)));
  }).finally(() => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  });
  return { exit: code };
}
