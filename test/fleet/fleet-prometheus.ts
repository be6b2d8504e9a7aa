/**
 * The fleet's Prometheus: a real Prometheus (`/usr/bin/prometheus`, or
 * AVIARY_TEST_PROMETHEUS_BIN) on a free port with a temporary data directory, scraping every
 * simulated cluster's `/metrics` with a `cluster` label per target, as a per-cluster Prometheus
 * with an external `cluster` label (or a Thanos/Mimir tenant) would present it to the analyzer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../prometheus.ts';
import { type ExitStatus, exitStatusOf } from './kube-sim-process.ts';

const PROMETHEUS_BIN = process.env.AVIARY_TEST_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/** The label naming the cluster on every series (the analyzer's AVIARY_PROMETHEUS_CLUSTER_LABEL). */
export const CLUSTER_LABEL = 'cluster';

export interface ScrapeTarget {
  readonly cluster: string;
  /** `host:port` serving `/metrics`. */
  readonly hostPort: string;
}

export interface FleetPrometheus {
  /** `http://127.0.0.1:<port>` */
  readonly address: string;
  readonly pid: number | undefined;
  /** Settles when the process has exited (or could not start). */
  readonly exited: Promise<void>;
  /** How it ended; undefined while it runs. */
  exitStatus(): ExitStatus | undefined;
  /** Resolves once every target has been scraped successfully (`up == 1`); default 15 s. */
  waitUntilScraping(timeoutMs?: number): Promise<void>;
  /** PromQL instant query; throws on a failed query. */
  query(promql: string, signal?: AbortSignal): Promise<PromSample[]>;
  /** What Prometheus wrote to stderr, for failure messages. */
  stderr(): string;
  /** Ends it (SIGTERM, SIGKILL after 5 s) and removes its data; idempotent. */
  stop(): Promise<void>;
}

export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

/** The configuration: one job, one static target per cluster labelled with its name. */
export function prometheusConfig(
  targets: readonly ScrapeTarget[],
  scrapeIntervalMs: number,
): string {
  const interval = `${scrapeIntervalMs}ms`;
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: kube-sim',
    // The simulator already labels every series with its cluster; the target label is the same
    // value, so keeping the scraped one changes nothing and never renames it `exported_cluster`.
    '    honor_labels: true',
    '    static_configs:',
    ...targets.flatMap((t) => [
      `      - targets: ['${t.hostPort}']`,
      `        labels: { ${CLUSTER_LABEL}: '${t.cluster}' }`,
    ]),
    '',
  ].join('\n');
}

/**
 * Starts Prometheus (its address is known at once, so services can be configured with it while
 * it starts); `waitUntilScraping` resolves once it has scraped every target.
 */
export async function startFleetPrometheus(options: {
  readonly targets: readonly ScrapeTarget[];
  readonly scrapeIntervalMs: number;
}): Promise<FleetPrometheus> {
  const dataDir = await mkdtemp(join(tmpdir(), 'aviary-fleet-prometheus-'));
  const config = join(dataDir, 'prometheus.yml');
  await writeFile(config, prometheusConfig(options.targets, options.scrapeIntervalMs));
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  let stderr = '';
  let child: ChildProcess | undefined = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const spawned = child;
  const exited = new Promise<void>((resolve) => {
    spawned.once('exit', () => resolve());
    spawned.once('error', () => resolve());
  });
  let exitedEarly: Error | undefined;
  spawned.once('error', (error) => {
    exitedEarly = new Error(`${PROMETHEUS_BIN}: ${error.message}`);
  });
  spawned.once('exit', (code, signal) => {
    exitedEarly ??= new Error(`prometheus exited (${code ?? signal}):\n${stderr.slice(-2000)}`);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  const query = async (promql: string, signal?: AbortSignal): Promise<PromSample[]> => {
    const response = await fetch(`${address}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: promql }),
      ...(signal === undefined ? {} : { signal }),
    });
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: PromSample[] };
    };
    if (body.status !== 'success') throw new Error(`${body.error ?? 'query failed'}: ${promql}`);
    return body.data?.result ?? [];
  };

  return {
    address,
    pid: spawned.pid,
    exited,
    exitStatus: () => exitStatusOf(spawned),
    query,
    stderr: () => stderr,
    async waitUntilScraping(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exitedEarly !== undefined) throw exitedEarly;
        const up = await query('up{job="kube-sim"} == 1').catch(() => []);
        const clusters = new Set(up.map((s) => s.metric[CLUSTER_LABEL]));
        if (options.targets.every((t) => clusters.has(t.cluster))) return;
        if (Date.now() > deadline) {
          throw new Error(
            `prometheus did not scrape every cluster in time:\n${stderr.slice(-2000)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running?.pid !== undefined && running.exitCode === null && running.signalCode === null) {
        await new Promise<void>((resolve) => {
          const kill = setTimeout(() => running.kill('SIGKILL'), 5000);
          running.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          running.kill('SIGTERM');
        });
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
