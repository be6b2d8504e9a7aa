/**
 * `aviary`: argument parsing (`node:util` `parseArgs`, strict: an unknown flag is a usage error),
 * the commands, and the mapping of every failure to its exit code and a message on standard
 * error that says what to do next.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ApiClient, DEFAULT_SERVER } from './client.ts';
import {
  ACTION_VERBS,
  type ActionVerb,
  apply,
  fleet,
  gate,
  releaseAction,
  skipCluster,
} from './commands/act.ts';
import { dev, importCommand } from './commands/local.ts';
import { describe, get, history } from './commands/read.ts';
import { replayCommand, whatIfCommand } from './commands/replay.ts';
import { watch } from './commands/watch.ts';
import type { Context, Io, Outcome } from './context.ts';
import { CliError, ExitCode, usage } from './exit-codes.ts';
import { outputFormat, render } from './output.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  server: { type: 'string' },
  token: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
};
const FILE: Options = { filename: { type: 'string', short: 'f' } };
const REASON: Options = { reason: { type: 'string' } };
const SCOPE: Options = {
  application: { type: 'string' },
  'all-applications': { type: 'boolean', short: 'A' },
};

interface Command {
  readonly options: Options;
  readonly summary: string;
  run(ctx: Context): Promise<Outcome>;
}

const COMMANDS: Record<string, Command> = {
  apply: {
    options: FILE,
    summary: 'apply -f FILE|-            apply a Rollout, or a Flagger Canary (+ MetricTemplates)',
    run: apply,
  },
  get: {
    options: {
      ...SCOPE,
      active: { type: 'boolean' },
      release: { type: 'string' },
      limit: { type: 'string' },
    },
    summary:
      'get releases|clusters|canaries|applications [-A | --application NS/NAME] [--active] [--release ID]',
    run: get,
  },
  describe: {
    options: { ticks: { type: 'boolean' } },
    summary: 'describe release RELEASE [--ticks]   timeline with reasons and evidence',
    run: describe,
  },
  watch: {
    options: { application: { type: 'string' } },
    summary: 'watch [RELEASE]            live progress until the release ends',
    run: watch,
  },
  ...Object.fromEntries(
    ACTION_VERBS.map((verb) => [
      verb,
      {
        options: {
          cluster: { type: 'string' },
          ...REASON,
          ...(verb === 'resume' ? { fleet: { type: 'boolean' }, ...SCOPE } : {}),
        },
        summary:
          verb === 'resume'
            ? 'resume RELEASE [--cluster C] | resume --fleet (-A | --application NS/NAME)'
            : `${verb} RELEASE [--cluster C] [--reason TEXT]`,
        run: (ctx: Context) =>
          verb === 'resume' && ctx.values.fleet
            ? fleet(ctx, 'resume')
            : releaseAction(ctx, verb as ActionVerb),
      } satisfies Command,
    ]),
  ),
  'skip-cluster': {
    options: REASON,
    summary: 'skip-cluster RELEASE CLUSTER [--reason TEXT]',
    run: (ctx) => skipCluster(ctx),
  },
  'requeue-cluster': {
    options: REASON,
    summary: 'requeue-cluster RELEASE CLUSTER [--reason TEXT]',
    run: (ctx) => skipCluster(ctx, true),
  },
  halt: {
    options: { ...SCOPE, ...REASON },
    summary: 'halt (-A | --application NS/NAME) [--reason TEXT]   pause every running release',
    run: (ctx) => fleet(ctx, 'halt'),
  },
  gate: { options: REASON, summary: 'gate open|close|get NS/NAME GATE [--reason TEXT]', run: gate },
  replay: {
    options: {},
    summary: 'replay RELEASE             re-derive the recorded decisions',
    run: replayCommand,
  },
  'what-if': {
    options: FILE,
    summary: 'what-if RELEASE -f analysis.yaml   re-run with another analysis block',
    run: whatIfCommand,
  },
  history: {
    options: { limit: { type: 'string' } },
    summary: 'history NS/NAME            past releases of an application',
    run: history,
  },
  import: {
    options: { ...FILE, 'mesh-provider': { type: 'string' }, 'metrics-server': { type: 'string' } },
    summary: 'import flagger -f canary.yaml   print the Rollout a Flagger Canary becomes',
    run: importCommand,
  },
  dev: {
    options: { port: { type: 'string' } },
    summary: 'dev [--port N]             run the embedded system (npm start)',
    run: dev,
  },
};

function helpText(): string {
  return [
    "aviary: operate Aviary releases through the orchestrator's HTTP API.",
    '',
    'Usage: aviary COMMAND [ARGS] [--server URL] [--token TOKEN] [-o table|json|yaml]',
    '',
    'Commands:',
    ...Object.values(COMMANDS).map((c) => `  ${c.summary}`),
    '',
    `Environment: AVIARY_URL (default ${DEFAULT_SERVER}), AVIARY_TOKEN (a bearer token).`,
    'Exit codes: 0 ok, 1 usage, 2 not found, 3 refused, 4 unauthorized, 5 unavailable,',
    '            7 server error, 10 release failed, 11 release aborted, 12 replay diverged.',
    'See docs/cli.md.',
    '',
  ].join('\n');
}

/** Runs one command line; resolves with the exit code. Never throws. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      io.out(helpText());
      return name === undefined ? ExitCode.Usage : ExitCode.Ok;
    }
    const command = COMMANDS[name];
    if (command === undefined) {
      throw usage(`unknown command ${JSON.stringify(name)}: aviary --help lists the commands`);
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: [...rest],
        options: { ...GLOBAL, ...command.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw usage(
        `${(error as Error).message.split('\n')[0]}: aviary ${command.summary.split('  ')[0]}`,
      );
    }
    const values = parsed.values as Context['values'];
    if (values.help) {
      io.out(`Usage: aviary ${command.summary}\n`);
      return ExitCode.Ok;
    }
    const format = outputFormat(values.output as string | undefined);
    let client: ApiClient | undefined;
    const ctx: Context = {
      io,
      values,
      positionals: parsed.positionals,
      format,
      client: () => {
        client ??= new ApiClient({
          server: (values.server as string | undefined) ?? io.env.AVIARY_URL ?? DEFAULT_SERVER,
          token: (values.token as string | undefined) ?? io.env.AVIARY_TOKEN,
        });
        return client;
      },
    };
    const outcome = await command.run(ctx);
    if (outcome.result !== undefined) io.out(render(outcome.result, format));
    return outcome.exit ?? ExitCode.Ok;
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`error: ${error.message}\n`);
      return error.code;
    }
    io.err(
      `error: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return ExitCode.ServerError;
  }
}
