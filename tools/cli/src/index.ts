/** The `aviary` CLI as a library: `run(argv, io)` resolves with the exit code. */
export { run } from './cli.ts';
export { ApiClient, DEFAULT_SERVER } from './client.ts';
export type { Io } from './context.ts';
export { CliError, ExitCode } from './exit-codes.ts';
