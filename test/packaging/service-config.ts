/**
 * What each service reads, from its own source: the `AVIARY_*` variables of the configuration
 * schema in its `main.ts` (a service's main module starts it on import, so its schema is read as
 * text: the keys of `const configSchema = z.object({ … })`, and the shared fields it spreads,
 * taken from the packages that export them), those `runService` reads for every service (the
 * metrics listener's, `const settingsSchema = z.object({ … })` in `@aviary/platform`'s
 * `metrics.ts`), and the kube-sim's command-line options. Packaging
 * (docker-compose.yml, the Kubernetes overlays) is checked against these, so that a renamed
 * setting cannot leave a file setting a variable nobody reads.
 */
import { readFileSync } from 'node:fs';
import * as messaging from '@aviary/messaging';
import * as platform from '@aviary/platform';

export const REPO = new URL('../../', import.meta.url);

/** The keys of a shared field set a schema spreads (`...natsConfigFields`), by its export name. */
function spreadKeys(name: string): readonly string[] | undefined {
  const exported =
    (messaging as Record<string, unknown>)[name] ?? (platform as Record<string, unknown>)[name];
  return typeof exported === 'object' && exported !== null ? Object.keys(exported) : undefined;
}

export const SERVICE_MAINS = {
  orchestrator: 'services/orchestrator/src/main.ts',
  analyzer: 'services/analyzer/src/main.ts',
  'cluster-agent': 'services/cluster-agent/src/main.ts',
} as const;
export type ServiceName = keyof typeof SERVICE_MAINS;

/** The `AVIARY_*` variables the configuration schema of the module at `path` reads. */
export function configVariablesOf(path: string, schema = 'configSchema'): Set<string> {
  const source = readFileSync(new URL(path, REPO), 'utf8');
  const start = source.indexOf(`const ${schema} = z.object({`);
  if (start === -1) throw new Error(`${path}: no \`const ${schema} = z.object({\``);
  const lines = source.slice(start).split('\n').slice(1);
  const end = lines.indexOf('});');
  if (end === -1) throw new Error(`${path}: the configuration schema does not end with \`});\``);
  const keys: string[] = [];
  for (const line of lines.slice(0, end)) {
    const spread = /^ {2}\.\.\.(\w+),$/.exec(line);
    if (spread !== null) {
      const fields = spreadKeys(spread[1] as string);
      if (fields === undefined) throw new Error(`${path}: unknown spread ${spread[1]}`);
      keys.push(...fields);
      continue;
    }
    const key = /^ {2}(\w+):/.exec(line);
    if (key !== null) keys.push(key[1] as string);
  }
  if (keys.length === 0) throw new Error(`${path}: no configuration keys found`);
  return new Set(keys.map((key) => platform.envVarName(key, 'AVIARY')));
}

/** Where `runService` reads the metrics listener's settings, for every service. */
export const METRICS_MODULE = 'packages/platform/src/metrics.ts';

/** `AVIARY_METRICS_PORT`, `AVIARY_METRICS_HOST`: read by `runService` in every service. */
export function runtimeVariables(): Set<string> {
  return configVariablesOf(METRICS_MODULE, 'settingsSchema');
}

/** True when the service's main module runs through `runService` (which reads the above). */
export function runsThroughRunService(service: ServiceName): boolean {
  return readFileSync(new URL(SERVICE_MAINS[service], REPO), 'utf8').includes('await runService({');
}

export function serviceVariables(service: ServiceName): Set<string> {
  const own = configVariablesOf(SERVICE_MAINS[service]);
  return runsThroughRunService(service) ? new Set([...own, ...runtimeVariables()]) : own;
}

/** The long options `tools/kube-sim/src/main.ts` accepts (`--clusters`, `--base-port`, …). */
export function kubeSimOptions(): Set<string> {
  const source = readFileSync(new URL('tools/kube-sim/src/main.ts', REPO), 'utf8');
  const start = source.indexOf('parseArgs({');
  const block = source.slice(start, source.indexOf('\n});', start));
  const options = [...block.matchAll(/^ {4}'?([a-z][a-z-]*)'?: \{ type:/gm)].map((m) => m[1]);
  if (options.length === 0) throw new Error('kube-sim: no options found');
  return new Set(options as string[]);
}
