#!/usr/bin/env node
/**
 * `run-scenario <file>`: runs a scenario file (`src/scenario/types.ts`) and prints one JSON line
 * per tick (and per operator action) with its decisions, phases and weights. Failed expectations go
 * to stderr and the exit code is 1; a malformed file exits 2. The only I/O of the package.
 */
import { readFile } from 'node:fs/promises';
import { parseScenario, runScenario } from '../src/index.ts';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: run-scenario <scenario.yaml>\n');
  process.exit(2);
}
try {
  const run = runScenario(parseScenario(await readFile(file, 'utf8')));
  for (const line of run.ticks) process.stdout.write(`${JSON.stringify(line)}\n`);
  for (const failure of run.failures) process.stderr.write(`FAIL ${run.name}: ${failure}\n`);
  process.exitCode = run.failures.length === 0 ? 0 : 1;
} catch (error) {
  process.stderr.write(`${file}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}
