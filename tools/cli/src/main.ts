#!/usr/bin/env node
/** The `aviary` executable: runs one command line and exits with its code (docs/cli.md). */
import { run } from './cli.ts';

const code = await run(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  isTTY: process.stdout.isTTY === true,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
process.exitCode = code;
