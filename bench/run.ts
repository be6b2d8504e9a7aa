/**
 * `npm run bench -- <name>` runs bench/<name>.ts and prints one JSON line per figure:
 * {"name", "value", "unit", "baseline", "ratio"}, the ratio taken against a baseline measured in
 * the same run, so that a noisy machine still gives a true comparison. Progress goes to stderr.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const available = (await readdir(here))
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
const names = process.argv.slice(2);
if (names.length === 0 || names.some((n) => !available.includes(n))) {
  const unknown = names.filter((n) => !available.includes(n));
  console.error(
    `${unknown.length ? `unknown benchmark ${unknown.join(', ')}. ` : ''}usage: npm run bench -- <name>; available: ${available.join(', ')}`,
  );
  process.exit(2);
}
for (const name of names) {
  const bench = (await import(`./${name}.ts`)) as { run: () => Promise<void> };
  await bench.run();
}
