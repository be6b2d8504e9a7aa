/**
 * A real Prometheus (Debian's 2.42, `/usr/bin/prometheus`, or AVIARY_TEST_PROMETHEUS_BIN) of a
 * test's own: its own free port and data directory, scraping the given targets every second.
 * `stop()` ends it by its pid and removes its data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROMETHEUS_BIN = process.env.AVIARY_TEST_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface TestPrometheus {
  /** `http://127.0.0.1:<port>` */
  readonly address: string;
  /** What Prometheus has written to stderr, for failure messages. */
  stderr(): string;
  stop(): Promise<void>;
}

export async function startTestPrometheus(options: {
  /** `host:port` of each target to scrape. */
  readonly targets: readonly string[];
  readonly job?: string;
}): Promise<TestPrometheus> {
  // A missing binary fails here, at once and by name, not as a timeout waiting for data.
  await access(PROMETHEUS_BIN, constants.X_OK).catch((error: unknown) => {
    throw new Error(
      `no Prometheus binary at ${PROMETHEUS_BIN} (install Debian's prometheus, as .ci/run does, or set AVIARY_TEST_PROMETHEUS_BIN): ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const dataDir = await mkdtemp(join(tmpdir(), 'aviary-test-prometheus-'));
  const config = join(dataDir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      `  - job_name: ${options.job ?? 'test'}`,
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
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
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // A spawn failure is reported with the stderr (and is not an uncaught exception).
  child.on('error', (error) => {
    stderr += `failed to start ${PROMETHEUS_BIN}: ${error.message}\n`;
  });
  return {
    address: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    async stop() {
      const running = child;
      child = undefined;
      if (running?.pid !== undefined && running.exitCode === null) {
        await new Promise<void>((resolve) => {
          const kill = setTimeout(
            () => running.pid !== undefined && process.kill(running.pid, 'SIGKILL'),
            5000,
          );
          running.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          process.kill(running.pid as number, 'SIGTERM');
        });
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` every 250 ms until it returns a value; fails after `timeoutMs`, saying `what` and `context()`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}${context() ? `; ${context()}` : ''}`);
}
