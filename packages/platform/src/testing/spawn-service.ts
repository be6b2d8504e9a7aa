import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One parsed JSON log line of a child service (non-JSON lines are kept as `{ msg: line }`). */
export type LogLine = Readonly<Record<string, unknown>> & { readonly msg?: unknown };

export interface SpawnedService {
  readonly child: ChildProcess;
  /** Every line of standard output so far, parsed. */
  readonly lines: readonly LogLine[];
  /** Standard error so far, as text. */
  stderr(): string;
  /** Resolves with the first line (seen before or later) that matches, or rejects after `timeoutMs`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null }>;
}

export interface SpawnServiceOptions {
  /** Extra environment, merged over the parent's. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/**
 * Runs a TypeScript entry point with the current Node (which strips types) as a child process
 * whose JSON log lines can be awaited: for tests of `runService` and of services' `main.ts`.
 */
export function spawnService(entry: string, options: SpawnServiceOptions = {}): SpawnedService {
  const child = spawn(process.execPath, [entry], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  if (child.stdout !== null) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      const line = parseLine(text);
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  const describe = (): string =>
    `stdout:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`;

  const waitForLine = (match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> => {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no matching log line within ${timeoutMs} ms\n${describe()}`));
      }, timeoutMs);
      waiters.push(waiter);
      void exited.then(() => {
        // Lines may still be buffered in readline: give them a moment before giving up.
        setTimeout(() => {
          if (!waiters.includes(waiter)) return;
          waiters.splice(waiters.indexOf(waiter), 1);
          clearTimeout(timer);
          reject(new Error(`process exited before a matching log line\n${describe()}`));
        }, 100);
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(`process did not exit within ${timeoutMs} ms of ${signal}\n${describe()}`),
        );
      }, timeoutMs);
    });
    try {
      const { code } = await Promise.race([exited, timeout]);
      return { code };
    } finally {
      clearTimeout(timer);
    }
  };

  return { child, lines, stderr: () => stderr, waitForLine, exited, stop };
}

function parseLine(text: string): LogLine {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') return parsed as LogLine;
  } catch {
    // Not JSON: keep the text.
  }
  return { msg: text };
}
