/**
 * A nats-server of a test's own (never the shared one on 4222): its own free port, JetStream store
 * in a temporary directory, and the configuration the test wrote, with passwords in its
 * environment. Stopped (and its directory removed) by `stop()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER_BIN = process.env.AVIARY_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface OwnNatsServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** What the server printed so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A random password per variable name. */
export function randomPasswords(variables: readonly string[]): Record<string, string> {
  return Object.fromEntries(variables.map((v) => [v, randomBytes(18).toString('base64url')]));
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts `nats-server -c <config>`; `config` gets the port and store directory chosen here.
 * Resolves once the server accepts connections.
 */
export async function startOwnNatsServer(
  config: (where: { port: number; storeDir: string }) => string,
  env: Record<string, string>,
): Promise<OwnNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'aviary-nats-'));
  const port = await freePort();
  const file = join(dir, 'nats-server.conf');
  await writeFile(file, config({ port, storeDir: join(dir, 'store') }));
  let output = '';
  const child: ChildProcess = spawn(NATS_SERVER_BIN, ['-c', file], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server did not start on ${port}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `nats://127.0.0.1:${port}`, port, dir, output: () => output, stop };
}
