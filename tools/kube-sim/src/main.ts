#!/usr/bin/env node
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createKubeSim } from './kube-sim.ts';

/**
 * Starts simulated clusters and writes a kubeconfig per cluster (`<dir>/<name>.yaml`) plus one
 * with every context (`<dir>/config.yaml`), then serves until interrupted.
 *
 *   node tools/kube-sim/src/main.ts --clusters eu-1,us-1 --out .data/kube-sim
 *   kubectl --kubeconfig .data/kube-sim/eu-1.yaml get ns
 *
 * Controllers run unless `--no-controllers`; `--ready-delay-ms` sets how long Pods take to be Ready.
 * `--traffic default/podinfo=100,shop/cart=20` sends that many requests per second to those
 * services in every cluster (metrics at `<url>/metrics`).
 */
const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: 'eu-1,us-1' },
    out: { type: 'string', default: '.data/kube-sim' },
    host: { type: 'string', default: '127.0.0.1' },
    // The host written into the kubeconfigs, when clients reach the simulator by another name
    // than the address it listens on (e.g. `kube-sim` in docker-compose, listening on 0.0.0.0).
    'advertise-host': { type: 'string', default: '' },
    'base-port': { type: 'string', default: '0' },
    'bookmark-interval-ms': { type: 'string', default: '5000' },
    'no-controllers': { type: 'boolean', default: false },
    'ready-delay-ms': { type: 'string', default: '200' },
    traffic: { type: 'string', default: '' },
  },
});

const names = values.clusters
  .split(',')
  .map((n) => n.trim())
  .filter((n) => n !== '');
const services = values.traffic
  .split(',')
  .map((entry) => entry.trim())
  .filter((entry) => entry !== '')
  .map((entry) => {
    const match = /^([a-z0-9-]+)\/([a-z0-9-]+)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (match === null) throw new Error(`--traffic expects namespace/service=rps, got ${entry}`);
    return { namespace: match[1] as string, service: match[2] as string, rps: Number(match[3]) };
  });
const sim = await createKubeSim({
  clusters: names,
  host: values.host,
  basePort: Number(values['base-port']),
  bookmarkIntervalMs: Number(values['bookmark-interval-ms']),
  controllers: values['no-controllers']
    ? false
    : { readyDelayMs: Number(values['ready-delay-ms']) },
  traffic: { services },
});
const out = resolve(values.out);
await mkdir(out, { recursive: true });
const advertised = (kubeconfig: string): string =>
  values['advertise-host'] === ''
    ? kubeconfig
    : kubeconfig.replaceAll(`//${values.host}:`, `//${values['advertise-host']}:`);
for (const cluster of sim.clusters) {
  await writeFile(join(out, `${cluster.name}.yaml`), advertised(cluster.kubeconfig()));
  process.stderr.write(
    `kube-sim: ${cluster.name} at ${cluster.url} (${join(out, `${cluster.name}.yaml`)})\n`,
  );
}
await writeFile(join(out, 'config.yaml'), advertised(sim.kubeconfig()));

const stop = (): void => {
  sim.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
