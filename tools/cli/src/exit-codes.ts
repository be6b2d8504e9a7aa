/**
 * The exit codes of `aviary`, which scripts may rely on (docs/cli.md lists them). One code per
 * kind of outcome, not per command: a script tells "not found" from "refused" from "the server
 * is down" the same way whatever it ran.
 */
export const ExitCode = {
  /** Done. */
  Ok: 0,
  /** The command line or an input file is wrong (locally, or the server's 400/413/415). */
  Usage: 1,
  /** No such release, application, cluster or route (404). */
  NotFound: 2,
  /** Well-formed, but the state does not allow it now (409 REFUSED / CONCURRENCY). */
  Refused: 3,
  /** No token, a token the server does not accept (401), or a role too low (403). */
  Unauthorized: 4,
  /** The server cannot be reached, or answers that it cannot serve now (503). */
  Unavailable: 5,
  /** The server failed (500) or answered something the CLI does not understand. */
  ServerError: 7,
  /** `watch`: the release failed. */
  ReleaseFailed: 10,
  /** `watch`: the release was aborted or superseded. */
  ReleaseAborted: 11,
  /** `replay`: the recorded decisions do not follow from the recorded inputs. */
  ReplayDiverged: 12,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the command with `code`; its message says what to do next. */
export class CliError extends Error {
  override name = 'CliError';
  readonly code: ExitCode;

  constructor(code: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const usage = (message: string): CliError => new CliError(ExitCode.Usage, message);
