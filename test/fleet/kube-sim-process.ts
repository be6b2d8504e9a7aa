/**
 * The simulated clusters as their own process (`tools/kube-sim/src/main.ts`), as in production
 * where the API servers are not in the orchestrator's or the test's process: every cluster's API
 * server, controllers and traffic simulator run there, and the test process only talks HTTP to
 * them. The kubeconfig of each cluster is a file the agents load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathOf } from './sim-api.ts';

const MAIN = fileURLToPath(new URL('../../tools/kube-sim/src/main.ts', import.meta.url));

export interface KubeSimProcessOptions {
  readonly clusters: readonly string[];
  /** Where the kubeconfig files go (`<dir>/<cluster>.yaml`). */
  readonly dir: string;
  /** How long a Pod takes to become Ready. */
  readonly readyDelayMs: number;
  /** Port of the first cluster's API server, the next ones count up (`freeConsecutivePorts`). */
  readonly basePort: number;
  /** `namespace/service=rps` entries for the traffic simulator, in every cluster. */
  readonly traffic: readonly string[];
  /** Time allowed for the process to serve every cluster; default 15 s. */
  readonly timeoutMs?: number;
}

export interface SimulatedClusterEndpoint {
  readonly name: string;
  /** `http://127.0.0.1:<port>`: the API server, and the traffic metrics at `/metrics`. */
  readonly url: string;
  /** The kubeconfig file of this cluster alone. */
  readonly kubeconfig: string;
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The exit status of `child`, or undefined while it runs. */
export function exitStatusOf(child: ChildProcess): ExitStatus | undefined {
  return child.exitCode === null && child.signalCode === null
    ? undefined
    : { code: child.exitCode, signal: child.signalCode };
}

export interface KubeSimProcess {
  readonly pid: number | undefined;
  readonly clusters: readonly SimulatedClusterEndpoint[];
  /** Settles when the process has exited. */
  readonly exited: Promise<void>;
  /** How it ended; undefined while it runs. */
  exitStatus(): ExitStatus | undefined;
  stderr(): string;
  /** SIGTERM (the simulator closes its servers and timers), SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

/** Starts the simulator and resolves once every cluster is served and its kubeconfig written. */
export async function startKubeSimProcess(options: KubeSimProcessOptions): Promise<KubeSimProcess> {
  let stderr = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      MAIN,
      '--clusters',
      options.clusters.join(','),
      '--out',
      options.dir,
      '--base-port',
      String(options.basePort),
      '--ready-delay-ms',
      String(options.readyDelayMs),
      '--traffic',
      options.traffic.join(','),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    })();
    return stopped;
  };

  try {
    // main.ts writes each kubeconfig, then says `kube-sim: <name> at <url> (<file>)` on stderr.
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    const served = () => options.clusters.every((name) => stderr.includes(`kube-sim: ${name} at `));
    while (!served()) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`kube-sim exited at start:\n${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`kube-sim did not start in time:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const clusters = await Promise.all(
      options.clusters.map(async (name) => {
        const kubeconfig = join(options.dir, `${name}.yaml`);
        const config: unknown = JSON.parse(await readFile(kubeconfig, 'utf8'));
        const url = pathOf(config, 'clusters', 0, 'cluster', 'server');
        if (typeof url !== 'string') throw new Error(`no server in ${kubeconfig}`);
        return { name, url, kubeconfig };
      }),
    );
    return {
      pid: child.pid,
      clusters,
      exited,
      exitStatus: () => exitStatusOf(child),
      stderr: () => stderr,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive ports free on 127.0.0.1 right now, so that Prometheus can be
 * configured with the clusters' addresses before the simulator has started (Prometheus takes about
 * five seconds to begin scraping a new target, which then overlaps the rest of the start-up).
 */
export async function freeConsecutivePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let free = true;
    for (let i = 0; i < count && free; i += 1) free = await portIsFree(base + i);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found on 127.0.0.1`);
}
