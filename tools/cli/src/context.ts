/**
 * What a command is given: its parsed arguments, the output format, the API client (built on
 * first use, so that local commands need no server or token) and the process's streams.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ApiClient } from './client.ts';
import { usage } from './exit-codes.ts';
import type { OutputFormat, Result } from './output.ts';

export interface Io {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly stdin: AsyncIterable<unknown>;
  /** Whether standard output is a terminal (live redraws in `watch`). */
  readonly isTTY: boolean;
  out(text: string): void;
  err(text: string): void;
}

export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface Context {
  readonly io: Io;
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly format: OutputFormat;
  client(): ApiClient;
}

/** A command's answer: printed in the chosen format, then the process exits with `exit`. */
export interface Outcome {
  readonly result?: Result;
  readonly exit?: number;
}

export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The positional at `index`, or a usage error naming it. */
export function positional(ctx: Context, index: number, what: string, usageLine: string): string {
  const value = ctx.positionals[index];
  if (value === undefined || value === '') throw usage(`missing ${what}: ${usageLine}`);
  return value;
}

export function noMorePositionals(ctx: Context, count: number, usageLine: string): void {
  if (ctx.positionals.length > count) {
    throw usage(`unexpected argument ${JSON.stringify(ctx.positionals[count])}: ${usageLine}`);
  }
}

/** `ns/name`, checked. */
export function applicationArg(value: string): { namespace: string; name: string } {
  const parts = value.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw usage(
      `${JSON.stringify(value)} is not an application: write <namespace>/<name>, e.g. shop/checkout`,
    );
  }
  return { namespace: parts[0], name: parts[1] };
}

/** The text of `-f FILE` (`-` reads standard input). */
export async function readInput(ctx: Context, file: string | undefined, usageLine: string) {
  if (file === undefined) throw usage(`missing -f FILE (or -f - for standard input): ${usageLine}`);
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.io.stdin) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    }
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(resolve(ctx.io.cwd, file), 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw usage(
      `cannot read ${file}${code ? ` (${code})` : ''}: give an existing file, or -f - for standard input`,
    );
  }
}

export const enc = encodeURIComponent;
